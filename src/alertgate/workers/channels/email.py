"""The e-mail channel: SMTP, with STARTTLS and login when configured. The Message-ID derives
from the notice's dedup key, so a retried send is recognisable downstream.

- The message is written here (``message_bytes``), not by ``EmailMessage``: its default policy
  parses every header it is given through its header registry and folds each on the way out,
  which took most of a dispatch's CPU (``bench/README.md``). A subject or body in any language is
  encoded as a mail client reads it (RFC 2047 headers, quoted-printable UTF-8).
- Within ``session()`` (the delivery of a batch, ``workers/delivery.py``) one SMTP connection
  per sending thread carries its messages, one transaction each, instead of a connection
  (connect, greeting, EHLO, STARTTLS, login, QUIT) per message. A connection the server
  dropped while it sat between two messages is opened again once, for the message that found
  it closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from email import charset, quoprimime
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from alertgate.workers.channels.base import ChannelError

_UTF8 = charset.Charset("utf-8")
_UTF8.header_encoding = charset.QP


class _Session:
    """The open connections of one ``session()``: one per thread that sends in it (the batch's
    notices go out a few at a time, each from a thread of its own: ``workers/delivery.py``)."""

    def __init__(self) -> None:
        self._mine = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> smtplib.SMTP | None:
        return getattr(self._mine, "client", None)

    @client.setter
    def client(self, client: smtplib.SMTP) -> None:
        self._mine.client = client
        with self._lock:
            self._open.add(client)

    def close(self) -> None:
        """This thread's connection (after a failure, or when the server closed it)."""
        client, self._mine.client = self.client, None
        if client is not None:
            with self._lock:
                self._open.discard(client)
            _quit(client)

    def close_all(self) -> None:
        with self._lock:
            clients, self._open = self._open, set()
        for client in clients:
            _quit(client)


def _quit(client: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.quit()
    client.close()


_SESSION: ContextVar[_Session | None] = ContextVar("alertgate_smtp_session", default=None)


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Messages sent inside share one SMTP connection per thread (all closed at the end); a thread
    sends inside if it runs in a copy of this context (``contextvars.copy_context``)."""
    opened = _Session()
    token = _SESSION.set(opened)
    try:
        yield
    finally:
        _SESSION.reset(token)
        opened.close_all()


def envelope_address(address: str) -> tuple[str, bool]:
    """The address as SMTP carries it, and whether that needs the server's SMTPUTF8 (RFC 6531): a
    domain outside ASCII in its IDNA form, which every server takes (``ops@例子.中国`` →
    ``ops@xn--fsqu00a.xn--fiqs8s``); a local part outside ASCII (``张三@example.com``) only as
    UTF-8. (smtplib writes commands in ASCII: such an address raised UnicodeEncodeError, which
    no channel caught, and failed every notice of its batch.)"""
    local, at, domain = address.rpartition("@")
    if at and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ChannelError(f"not a deliverable address: {address}", retryable=False) from None
        address = f"{local}@{domain}"
    return address, not address.isascii()


def message_bytes(notice, address: str, sender: str) -> bytes:
    """The message as SMTP carries it. Its headers are written here, the subject (which may hold
    any language and up to a title's 4 KiB) encoded and folded by ``Header``; the body is UTF-8,
    quoted-printable. An address outside ASCII (``envelope_address``: sent with SMTPUTF8) stands
    in its header as UTF-8 (RFC 6532), not encoded."""
    digest = hashlib.sha256(f"{notice.dedup_key}:{address}".encode()).hexdigest()[:32]
    headers = (
        ("From", _sender_header(sender)), ("To", address if not address.isascii() else _header(address)),
        ("Subject", _header(notice.subject)),
        ("Date", formatdate(usegmt=True)), ("Message-ID", f"<{digest}@alertgate>"),
        ("X-Alertgate-Dedup-Key", _header(notice.dedup_key)), ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'), ("Content-Transfer-Encoding", "quoted-printable"),
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n" + _body(notice.body)).encode("utf-8")   # (ASCII but for such an address)


def _body(text: str) -> str:
    """UTF-8, quoted-printable, lines of at most 76 characters ending in CRLF. (``Charset.body_encode``
    ends them in a bare LF, which smtplib sends as it is for a message given as bytes: SMTP wants
    CRLF, and servers guarding against SMTP smuggling refuse a bare LF. A hypothesis test found
    it with a body over 998 bytes, one "line" to SMTP.)"""
    return quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), maxlinelen=76, eol="\r\n")


def _sender_header(sender: str) -> str:
    """``告警 <alertgate@example.com>``: the display name encoded (RFC 2047) apart from the address."""
    name, address = parseaddr(sender)
    return formataddr((name, address), charset="utf-8") if name and address else _header(sender)


def _header(value: str) -> str:
    """ASCII that fits a line as it is; anything else RFC 2047-encoded and folded."""
    if value.isascii() and len(value) <= 900 and "\n" not in value and "\r" not in value:
        return value
    return Header(value, _UTF8, maxlinelen=76).encode(linesep="\r\n")


def send(notice, address: str, settings) -> None:
    smtp = settings.notify.email
    if smtp is None:
        raise ChannelError("e-mail is not configured (notify.email)", retryable=False)
    address, utf8 = envelope_address(address)
    content = message_bytes(notice, address, smtp.sender)
    options = ("SMTPUTF8",) if utf8 else ()
    shared = _SESSION.get()
    try:
        if shared is None:
            with _connect(smtp) as client:
                client.sendmail(smtp.sender, [address], content, options)
            return
        if shared.client is not None:
            try:
                shared.client.sendmail(smtp.sender, [address], content, options)
                return
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPSenderRefused) as exc:
                if not _closed_while_idle(exc):
                    raise
                shared.close()   # (once more, on a new connection)
        shared.client = _connect(smtp)
        shared.client.sendmail(smtp.sender, [address], content, options)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ChannelError(f"recipient refused: {exc}", retryable=False) from None
    except smtplib.SMTPNotSupportedError:   # (the connection is still good for the next message)
        raise ChannelError(f"{smtp.host}:{smtp.port} does not take addresses outside ASCII (SMTPUTF8): "
                           f"{address}", retryable=False) from None
    except smtplib.SMTPAuthenticationError as exc:
        _drop(shared)
        raise ChannelError(f"SMTP login refused: {exc.smtp_code}", retryable=False) from None
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        _drop(shared)
        raise ChannelError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=True,
                           unreachable=isinstance(exc, _UNREACHABLE)) from None


# The server did not answer: no connection (refused, reset, TLS failed: all OSErrors), silence
# until the timeout (socket.timeout is one too), or a greeting that turns the connection away.
# (An answer to a message, a refused recipient or sender, is the server's word on that message.)
_UNREACHABLE = (OSError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected)


def _connect(smtp) -> smtplib.SMTP:
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=float(smtp.timeout))
    try:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _closed_while_idle(exc: Exception) -> bool:
    """The server closed the shared connection between two messages: gone, or 421 to the next MAIL."""
    return isinstance(exc, smtplib.SMTPServerDisconnected) or getattr(exc, "smtp_code", None) == 421


def _drop(shared: _Session | None) -> None:
    """After a failure the connection's state is unknown: the next message opens a new one."""
    if shared is not None:
        shared.close()
