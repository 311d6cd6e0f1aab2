"""The e-mail channel: SMTP, with STARTTLS and login when configured. The Message-ID derives
from the notice's dedup key, so a retried send is recognisable downstream."""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from alertgate.workers.channels.base import ChannelError


def send(notice, address: str, settings) -> None:
    smtp = settings.notify.email
    if smtp is None:
        raise ChannelError("e-mail is not configured (notify.email)", retryable=False)
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = address
    message["Subject"] = notice.subject
    message["Date"] = formatdate(usegmt=True)
    digest = hashlib.sha256(f"{notice.dedup_key}:{address}".encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@alertgate>"
    message["X-Alertgate-Dedup-Key"] = notice.dedup_key
    message.set_content(notice.body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=float(smtp.timeout)) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ChannelError(f"recipient refused: {exc}", retryable=False) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise ChannelError(f"SMTP login refused: {exc.smtp_code}", retryable=False) from None
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        raise ChannelError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=True) from None
