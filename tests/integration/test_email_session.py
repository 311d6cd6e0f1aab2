"""The e-mail channel against a real SMTP server (aiosmtpd): a batch's notices share one
connection (``channels.session``), and a connection the server dropped between two messages is
opened again for the next one, which arrives once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller

from alertgate.settings import Smtp
from alertgate.workers.channels import ChannelError, email, session
from tests.integration.receivers import Mailbox

pytestmark = pytest.mark.integration


class CountingMailbox(Mailbox):
    """Counts the connections (each greets once with EHLO)."""

    def __init__(self) -> None:
        super().__init__()
        self.greetings = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 (aiosmtpd's hook)
        self.greetings += 1
        session.host_name = hostname
        return responses


def settings_for(port: int):
    return SimpleNamespace(notify=SimpleNamespace(email=Smtp(host="127.0.0.1", port=port, sender="ag@example.com")))


def notice(n: int):
    return SimpleNamespace(subject=f"[P3] Incident INC-AB-{n}: disk full", body=f"notice {n}",
                           dedup_key=f"INC-AB-{n}:incident:server:dispatch0")


def test_a_batch_s_mails_share_one_connection_and_one_alone_gets_its_own():
    with CountingMailbox() as box:
        settings = settings_for(box.port)
        with session():
            for n in range(5):
                email.send(notice(n), f"ops{n}@example.com", settings)
        assert box.greetings == 1
        email.send(notice(9), "ops9@example.com", settings)   # (outside a session: a connection of its own)
        assert box.greetings == 2
        assert sorted(m["Subject"] for _, m in box.messages) == sorted(notice(n).subject for n in (0, 1, 2, 3, 4, 9))


def test_a_connection_dropped_between_two_mails_is_opened_again_and_each_arrives_once():
    with CountingMailbox() as box:
        settings = settings_for(box.port)
        with session():
            email.send(notice(1), "ops@example.com", settings)
            box._controller.stop()     # the server goes, and with it the connection
            box._controller = Controller(box, hostname="127.0.0.1", port=box.port)
            box._controller.start()    # and comes back on the same port
            email.send(notice(2), "ops@example.com", settings)
        assert [m["Subject"] for _, m in box.messages] == [notice(1).subject, notice(2).subject]
        assert box.greetings == 2


def test_a_refused_recipient_fails_alone_and_the_connection_goes_on():
    class Refusing(CountingMailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            if address.startswith("gone"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    with Refusing() as box:
        settings = settings_for(box.port)
        with session():
            with pytest.raises(ChannelError) as refused:
                email.send(notice(1), "gone@example.com", settings)
            assert not refused.value.retryable
            email.send(notice(2), "ops@example.com", settings)
        assert [m["Subject"] for _, m in box.messages] == [notice(2).subject] and box.greetings == 1


def test_a_server_that_is_down_is_a_retryable_failure_in_a_session_too():
    from alertgate.runtime.embedded_redis import free_port

    with session():
        with pytest.raises(ChannelError) as down:
            email.send(notice(1), "ops@example.com", settings_for(free_port()))
    assert down.value.retryable


class AsciiMailbox(CountingMailbox):
    """A server that does not take SMTPUTF8 (RFC 6531; aiosmtpd's Controller takes it by default,
    as Postfix and Exchange do when it is enabled)."""

    def __init__(self) -> None:
        super().__init__()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=False)


def test_an_address_outside_ascii_goes_with_its_domain_in_idna_and_its_local_part_by_smtputf8():
    with CountingMailbox() as box:
        settings = settings_for(box.port)
        with session():
            email.send(notice(1), "张三@例子.中国", settings)
            email.send(notice(2), "ops@例子.中国", settings)
        assert [rcpts for rcpts, _ in box.messages] == [["张三@xn--fsqu00a.xn--fiqs8s"], ["ops@xn--fsqu00a.xn--fiqs8s"]]
        assert box.greetings == 1


def test_a_server_without_smtputf8_refuses_such_a_local_part_alone_and_the_rest_goes_on():
    """Before, smtplib's ASCII command raised UnicodeEncodeError, which no channel caught: the
    whole batch's notices failed with it, on every retry."""
    with AsciiMailbox() as box:
        settings = settings_for(box.port)
        with session():
            with pytest.raises(ChannelError) as refused:
                email.send(notice(1), "张三@example.com", settings)
            assert not refused.value.retryable and "SMTPUTF8" in str(refused.value)
            email.send(notice(2), "ops@例子.中国", settings)
            email.send(notice(3), "ops@example.com", settings)
        assert [rcpts for rcpts, _ in box.messages] == [["ops@xn--fsqu00a.xn--fiqs8s"], ["ops@example.com"]]
        assert box.greetings == 1
