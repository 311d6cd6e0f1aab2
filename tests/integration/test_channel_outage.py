"""A notification channel whose server went dark (issue #27: a worker that keeps up with a storm).

A storm and a mail or webhook outage often come together. A server that accepts connections and
then says nothing made every notice of a batch wait its channel's whole timeout, one after the
other, with the dispatcher's loop blocked meanwhile. Now the first silence marks the channel dark
for the rest of the call (``delivery.deliver_many``): its other notices fail at once as retryable
(RQ retries their tickets), and nothing is marked sent that was not. Against real sockets: a
listener that never answers, and an HTTP server answering 503 (an answer, so each notice is tried).
"""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

import pytest
import redis
import redis.asyncio as aredis
import yaml

from alertgate.observability.metrics import WorkerMetrics
from alertgate.runtime.embedded_redis import free_port
from alertgate.settings import Endpoint, Notify, Smtp
from alertgate.workers.context import WorkerContext
from alertgate.workers.delivery import RETRIED_ELSEWHERE, DeliveryFailed, deliver_many
from alertgate.workers.notices import Notice
from alertgate.workers.worker import work_burst
from tests.integration.receivers import WebhookSink
from tests.integration.test_workers import config, mailbox, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
TIMEOUT = 0.4
TICKETS = 6


@pytest.fixture
def silent_port():
    """A listener that completes connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def context_for(notify: Notify) -> WorkerContext:
    return WorkerContext(SimpleNamespace(notify=notify), None, WorkerMetrics())  # type: ignore[arg-type]


def notices(n: int) -> list[Notice]:
    return [Notice(dedup_key=f"INC-AB-{n}:incident:ops:dispatch{i}", kind="incident", ticket_id=f"INC-AB-{n}",
                   priority=3, recipient=f"ops{i}@example.com", subject=f"[P3] Incident INC-AB-{n}", body="disk full",
                   what_happened="disk full", affected_service="", expected_restoration=None, service_desk="desk")
            for i in range(2)]


def deliver(redis_url: str, ctx: WorkerContext, channel: str, in_dispatcher: bool = True, made=notices):
    """The batch of TICKETS tickets (two notices each) on ``channel``: results, seconds, sent marks."""
    async def run():
        client = aredis.Redis.from_url(redis_url)
        token = RETRIED_ELSEWHERE.set(in_dispatcher)
        try:
            started = time.monotonic()
            results = await deliver_many(ctx, client, [(made(n), [channel]) for n in range(TICKETS)])
            return results, time.monotonic() - started, len(await client.keys("ag:sent:*"))
        finally:
            RETRIED_ELSEWHERE.reset(token)
            await client.aclose()
    return asyncio.run(run())


def counted(ctx: WorkerContext, channel: str, outcome: str) -> float:
    return ctx.metrics.notifications.labels(channel, outcome)._value.get()


@pytest.mark.parametrize("channel", ["email", "webhook"])
def test_a_silent_server_costs_the_batch_one_timeout_and_every_notice_is_left_for_the_retry(
        redis_url, silent_port, channel):
    notify = (Notify(email=Smtp(host="127.0.0.1", port=silent_port, timeout=TIMEOUT)) if channel == "email"
              else Notify(webhook=Endpoint(url=f"http://127.0.0.1:{silent_port}/hook", timeout=TIMEOUT)))
    ctx = context_for(notify)
    results, seconds, marked = deliver(redis_url, ctx, channel)
    # (twelve notices one after the other would take 12 × TIMEOUT = 4.8 s)
    assert seconds < 3 * TIMEOUT
    assert all(isinstance(result, DeliveryFailed) for result in results)
    assert marked == 0
    assert (counted(ctx, channel, "retry"), counted(ctx, channel, "failed"), counted(ctx, channel, "sent")) \
        == (2 * TICKETS, 0, 0)


def test_a_server_that_answers_with_an_error_is_tried_for_every_notice(redis_url):
    with WebhookSink() as failing:
        failing.status = 503
        ctx = context_for(Notify(webhook=Endpoint(url=failing.url, timeout=TIMEOUT)))
        results, _, marked = deliver(redis_url, ctx, "webhook")
        assert len(failing.requests) == 2 * TICKETS
    assert all(isinstance(result, DeliveryFailed) for result in results) and marked == 0


def test_a_receiver_that_drops_each_connection_unanswered_is_tried_for_every_notice(redis_url):
    """Not silence: the receiver is there and hung up (a restart, a proxy's limit); the next
    notice may get through, so each is tried."""
    import threading

    tried: list[int] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)

        def hang_up() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with connection:
                    connection.recv(65536)
                    tried.append(1)
        threading.Thread(target=hang_up, daemon=True).start()
        ctx = context_for(Notify(webhook=Endpoint(url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook",
                                                  timeout=TIMEOUT)))
        results, _, marked = deliver(redis_url, ctx, "webhook")
    assert len(tried) >= 2 * TICKETS and marked == 0
    assert all(isinstance(result, DeliveryFailed) for result in results)


def test_a_last_attempt_tries_each_notice_even_on_a_silent_server(redis_url, silent_port):
    """Outside the dispatcher and with no RQ retry left, nothing is given up untried."""
    ctx = context_for(Notify(webhook=Endpoint(url=f"http://127.0.0.1:{silent_port}/hook", timeout=0.2)))
    deliver(redis_url, ctx, "webhook", in_dispatcher=False)
    assert counted(ctx, "webhook", "failed") == 2 * TICKETS


@pytest.mark.parametrize("channel", ["email", "webhook"])
def test_a_slow_receiver_is_waited_for_by_several_batches_at_once_and_gets_each_notice_once(redis_url, channel):
    """A receiver that takes 0.2 s per notice (a remote relay, a chat robot's webhook): twelve
    notices one after the other took 2.4 s; several batches' notices now wait at once, each
    batch's in order, and each arrives once."""
    import aiosmtpd.controller

    class SlowMailbox:
        def __init__(self) -> None:
            self.arrived: list[str] = []
            self.port = free_port()
            self.controller = aiosmtpd.controller.Controller(self, hostname="127.0.0.1", port=self.port)

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            await asyncio.sleep(0.2)
            self.arrived += envelope.rcpt_tos
            return "250 OK"

    if channel == "email":
        receiver = SlowMailbox()
        receiver.controller.start()
        ctx = context_for(Notify(email=Smtp(host="127.0.0.1", port=receiver.port, timeout=5.0)))
    else:
        receiver = WebhookSink()
        receiver.delay = 0.2
        receiver.__enter__()
        ctx = context_for(Notify(webhook=Endpoint(url=receiver.url, timeout=5.0)))
    try:
        results, seconds, marked = deliver(redis_url, ctx, channel)
        again, _, _ = deliver(redis_url, ctx, channel)
    finally:
        receiver.controller.stop() if channel == "email" else receiver.__exit__()
    arrived = receiver.arrived if channel == "email" else [r[2]["address"] for r in receiver.requests]
    assert results == [2] * TICKETS and again == [0] * TICKETS and marked == 2 * TICKETS
    assert len(arrived) == 2 * TICKETS and len(set(arrived)) == 2   # (ops0@, ops1@: once per ticket each)
    assert seconds < 2 * TICKETS * 0.2 * 2 / 3   # (one after the other: 2.4 s; four at a time: about 0.8)


def test_the_notices_left_for_the_retry_are_sent_once_when_the_server_is_back(redis_url, silent_port):
    ctx = context_for(Notify(webhook=Endpoint(url=f"http://127.0.0.1:{silent_port}/hook", timeout=TIMEOUT)))
    deliver(redis_url, ctx, "webhook")
    with WebhookSink() as receiver:
        back = context_for(Notify(webhook=Endpoint(url=receiver.url, timeout=TIMEOUT)))
        results, _, marked = deliver(redis_url, back, "webhook")
        again, _, _ = deliver(redis_url, back, "webhook")
        assert results == [2] * TICKETS and again == [0] * TICKETS
        assert len(receiver.requests) == 2 * TICKETS and marked == 2 * TICKETS


def test_the_dispatcher_goes_on_through_a_mail_outage_and_rq_sends_the_mails_once_it_is_back(
        redis_url, config, mailbox, sink, silent_port):  # noqa: F811
    """Five P1 masters read in one batch while the mail server is silent: the batch takes about
    one mail timeout (not one per e-mail), the webhooks and phone calls go out, the five tickets
    are handed to RQ; with the mail server back, RQ sends each e-mail once and nothing else again."""
    from alertgate.workers.dispatch import dispatch_many
    from tests.integration.test_intents import fire, run_consumer, settings_for
    from tests.integration.helpers import client_for

    def with_mail_at(port: int, timeout: float) -> None:
        path = config / "alertgate.yaml"
        settings = yaml.safe_load(path.read_text())
        settings["notify"]["email"].update(port=port, timeout=timeout)
        path.write_text(yaml.safe_dump(settings))

    with_mail_at(silent_port, TIMEOUT)
    with client_for(redis_url, ALERTGATE_CONFIG_DIR=str(config)) as client:
        tickets = [fire(client, f"edge-sw-{n}")["ticket_id"] for n in range(5)]
    started = time.monotonic()
    assert run_consumer(settings_for(redis_url, config), "first", dispatch_many=dispatch_many) == 5
    assert time.monotonic() - started < 4 * TIMEOUT
    queued = redis.Redis.from_url(redis_url).lrange("rq:queue:alertgate-dispatch", 0, -1)
    assert sorted(q.decode() for q in queued) == sorted(f"dispatch-{t}-new" for t in tickets)
    calls = len(sink.requests)
    assert calls > 0 and not mailbox.messages

    with_mail_at(mailbox.port, 10.0)
    work_burst(settings_for(redis_url, config), redis.Redis.from_url(redis_url))
    for ticket in tickets:
        mails = [m for m in mailbox.to("net@example.com") if m["Subject"].startswith(f"[P1] Incident {ticket}")]
        assert len(mails) == 1
    assert len(sink.requests) == calls


def test_a_channel_s_own_fault_fails_its_notice_alone_and_the_batch_goes_on(redis_url, monkeypatch):
    """A sender that raises something other than ChannelError (a bug, an input it did not expect)
    took the whole batch's remaining notices with it; now only its notice fails, retryable."""
    from alertgate.workers.channels import CHANNELS

    sent: list[str] = []

    def faulty(notice, address, settings):
        if address == "ops0@example.com" and notice.ticket_id == "INC-AB-0":
            raise RuntimeError("unexpected")
        sent.append(f"{notice.ticket_id} {address}")
    monkeypatch.setitem(CHANNELS, "webhook", faulty)
    ctx = context_for(Notify(webhook=Endpoint(url="http://127.0.0.1:9/hook")))
    results, _, marked = deliver(redis_url, ctx, "webhook")
    assert isinstance(results[0], DeliveryFailed) and results[1:] == [2] * (TICKETS - 1)
    assert len(sent) == 2 * TICKETS - 1 and marked == 2 * TICKETS - 1
    assert counted(ctx, "webhook", "retry") == 1


def test_notices_with_nobody_to_tell_are_each_counted_and_logged_once_a_while(redis_url, monkeypatch):
    """Until notify.contacts names them, every notice logged no_contact: a storm of 650,000 new
    masters wrote as many warnings in 5 minutes, then 1,600 a second for hours of escalations."""
    import msgspec
    import structlog

    from alertgate.observability.throttle import LogThrottle
    from alertgate.workers import delivery

    clock = [0.0]
    monkeypatch.setattr(delivery, "_no_contact_lines", LogThrottle(300.0, clock=lambda: clock[0]))
    def to_groups(n: int) -> list[Notice]:   # (groups notify.contacts does not name)
        return [msgspec.structs.replace(notice, recipient=f"ops{i}") for i, notice in enumerate(notices(n))]
    ctx = context_for(Notify())
    with structlog.testing.capture_logs() as logged:
        results, _, _ = deliver(redis_url, ctx, "email", made=to_groups)
        clock[0] += 301
        deliver(redis_url, ctx, "email", made=to_groups)
    assert results == [0] * TICKETS   # (nothing sent, nothing to retry)
    assert counted(ctx, "email", "no_contact") == 2 * 2 * TICKETS
    lines = [(e["recipient"], e.get("held_back")) for e in logged if e["event"] == "no_contact"]
    assert sorted(lines, key=lambda line: (line[0], line[1] or 0)) == [
        ("ops0", None), ("ops0", TICKETS - 1), ("ops1", None), ("ops1", TICKETS - 1)]
