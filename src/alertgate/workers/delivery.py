"""Sending notices on their channels, once per (notice, channel, address).

A sent notice is marked in Redis (``ag:sent:<dedup key>:<channel>:<address>``) after the channel
accepted it, so a retried job skips what already went out and sends only what failed. Delivery is
at least once: a crash between the send and the mark resends the notices in flight (one per
sending thread, ``SENDING_AT_ONCE``), carrying the same dedup key (header, Message-ID) for the
receiver to recognise.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, NamedTuple

import structlog
from redis.asyncio import Redis
from rq import get_current_job

from alertgate.keys import sent_key
from alertgate.observability.throttle import LogThrottle
from alertgate.runtime.pipelining import Pipelined
from alertgate.workers.channels import CHANNELS, ChannelError, session
from alertgate.workers.context import WorkerContext
from alertgate.workers.notices import Notice

log = structlog.get_logger("alertgate.delivery")
SENT_TTL = 35 * 86400
LOCAL = frozenset({"log"})   # channels that write here and cannot hang: their sent marks go together


class DeliveryFailed(Exception):
    """Some notice could not be sent yet; the job is retried with backoff."""


EMAIL_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
PHONE_NUMBER = re.compile(r"\+?[0-9][0-9 ()-]{4,30}")


def addresses(ctx: WorkerContext, notice: Notice, channel: str) -> list[str]:
    """A group's or role's people from ``notify.contacts``; a recipient not listed there that is
    an e-mail address or a phone number (a reporting user's ``contact``) is its own address."""
    contact = ctx.settings.notify.contacts.get(notice.recipient)
    if channel == "email":
        return list(contact.email) if contact else _own(EMAIL_ADDRESS, notice.recipient)
    if channel == "phone":
        return list(contact.phone) if contact else _own(PHONE_NUMBER, notice.recipient)
    return [notice.recipient]


def _own(pattern: re.Pattern, recipient: str) -> list[str]:
    return [recipient] if pattern.fullmatch(recipient) else []


# Set by the intents consumer while it works: what fails there is handed to RQ, which tries again.
RETRIED_ELSEWHERE: ContextVar[bool] = ContextVar("retried_elsewhere", default=False)


def _last_attempt() -> bool:
    if RETRIED_ELSEWHERE.get():
        return False
    job = get_current_job()
    return job is None or not job.retries_left


async def deliver(ctx: WorkerContext, redis: Redis, notices: list[Notice], channels: list[str]) -> int:
    """Send every notice on every channel; returns how many went out now (``deliver_many`` for one)."""
    [result] = await deliver_many(ctx, redis, [(notices, channels)])
    if isinstance(result, DeliveryFailed):
        raise result
    return result


async def deliver_many(ctx: WorkerContext, redis: Redis, batches: list[tuple[list[Notice], list[str]]]) -> list[int | DeliveryFailed]:
    """Many (notices, channels) delivered at once (the dispatcher's batch; ``deliver`` is one). Per
    batch, how many went out now, or its failure (what was sent is marked all the same).

    - The sent marks are read in one round trip. The log channel's notices go first, their marks
      written together; then the others, each mark right after its send (a send that hangs, and
      the process killed in it, must not take the marks of what went out before it).
    - Those others are network calls that block (smtplib, httpx): they run in threads,
      ``SENDING_AT_ONCE`` batches at a time, each batch's in order (each thread with its SMTP
      connection), so that a receiver's latency is not paid once per notice of the batch.
    - A channel whose server did not answer (``ChannelError.unreachable``: no connection, or
      silence until its timeout) is not tried again in the same call, unless this is the last
      attempt: its other notices fail at once as retryable. A mail server or webhook receiver
      gone dark costs a batch one timeout, not one per notice, and the dispatcher goes on; their
      tickets are retried by RQ with backoff, and each notice is still sent once (its mark is
      written only after its send)."""
    planned = [list(_sends(ctx, notices, channels)) for notices, channels in batches]
    pipe = Pipelined(redis)
    for send in (send for sends in planned for send in sends):
        pipe.command("EXISTS", send.key)
    sent_before = iter(await pipe.execute())
    seen: set[str] = set()
    todo: list[list[_Send]] = []
    for sends in planned:
        fresh = []
        for send in sends:
            if next(sent_before) or send.key in seen:   # (an address listed twice is sent to once)
                continue
            seen.add(send.key)
            fresh.append(send)
        todo.append(fresh)
    delivery = _Delivery(ctx, redis, last=_last_attempt())
    local = Pipelined(redis)
    for n, sends in enumerate(todo):
        for send in sends:
            if send.channel in LOCAL:
                delivery.outcome(n, send, _send(ctx, send, delivery.last), local)
    if len(local):
        await local.execute()
    network = [(n, remote) for n, sends in enumerate(todo) if (remote := [s for s in sends if s.channel not in LOCAL])]
    if network:
        with session():   # (each sending thread's e-mails over one SMTP connection)
            slots = asyncio.Semaphore(SENDING_AT_ONCE)
            await asyncio.gather(*(delivery.over_network(n, remote, slots) for n, remote in network))
    if delivery.dark:
        log.warning("channels_unreachable", channels=sorted(delivery.dark), notices_not_tried=delivery.not_tried)
    return [DeliveryFailed(f"{len(retry)} notice(s) to retry: {retry[0]}") if retry else sent
            for sent, retry in (delivery.tally(n) for n in range(len(todo)))]


class _Delivery:
    """One ``deliver_many`` call's progress: per batch, what went out and what is to retry; the
    channels found dark."""

    def __init__(self, ctx: WorkerContext, redis: Redis, last: bool) -> None:
        self.ctx, self.redis, self.last = ctx, redis, last   # (last: no retry comes after this attempt)
        self.sent: dict[int, int] = {}
        self.retry: dict[int, list[ChannelError]] = {}
        self.dark: dict[str, ChannelError] = {}
        self.not_tried = 0

    def tally(self, n: int) -> tuple[int, list[ChannelError]]:
        return self.sent.get(n, 0), self.retry.get(n, [])

    def outcome(self, n: int, send: "_Send", error: ChannelError | None, marks: Pipelined) -> None:
        if error is None:
            marks.command("SET", send.key, "1", "EX", SENT_TTL)
            self.sent[n] = self.sent.get(n, 0) + 1
            return
        if error.retryable:
            self.retry.setdefault(n, []).append(error)
        if error.unreachable:
            self.dark.setdefault(send.channel, error)

    async def over_network(self, n: int, sends: list["_Send"], slots: asyncio.Semaphore) -> None:
        """Batch ``n``'s notices on network channels, in order, each from a sending thread."""
        loop = asyncio.get_running_loop()
        async with slots:
            for send in sends:
                if send.channel in self.dark and not self.last:   # (a last attempt tries each)
                    self.retry.setdefault(n, []).append(_not_tried(self.ctx, send, self.dark[send.channel]))
                    self.not_tried += 1
                    continue
                # (in a copy of this context: the SMTP session of ``session()``, and the flags)
                error = await loop.run_in_executor(_senders(), contextvars.copy_context().run,
                                                   _send, self.ctx, send, self.last)
                marks = Pipelined(self.redis)
                self.outcome(n, send, error, marks)
                if len(marks):
                    await marks.execute()


SENDING_AT_ONCE = 4   # batches whose network notices are in flight at once, a thread each (bench/README.md)
_pool: tuple[int, ThreadPoolExecutor] | None = None   # (the process that made it, the threads)


def _senders() -> ThreadPoolExecutor:
    """The sending threads of this process (a forked work horse makes its own: threads do not
    survive a fork)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(SENDING_AT_ONCE, thread_name_prefix="alertgate-send"))
    return _pool[1]


# Until notify.contacts names them, every notice logged no_contact: 650,000 new masters wrote as
# many lines in 5 minutes, and their escalations 1,600 a second for hours after.
NO_CONTACT_LOG_INTERVAL = 300.0
_no_contact_lines = LogThrottle(NO_CONTACT_LOG_INTERVAL)


class _Send(NamedTuple):
    notice: Notice
    channel: str
    address: str
    key: str
    send: Callable[..., Any]


def _sends(ctx: WorkerContext, notices: list[Notice], channels: list[str]) -> Iterator[_Send]:
    for notice in notices:
        for channel in channels:
            send = CHANNELS.get(channel)
            if send is None:
                log.warning("unknown_channel", channel=channel, ticket_id=notice.ticket_id)
                continue
            targets = addresses(ctx, notice, channel)
            if not targets:
                ctx.metrics.notifications.labels(channel, "no_contact").inc()
                held = _no_contact_lines.held((channel, notice.recipient))
                if held is not None:
                    log.warning("no_contact", channel=channel, recipient=notice.recipient, ticket_id=notice.ticket_id,
                                **({"held_back": held} if held else {}))
            for address in targets:
                yield _Send(notice, channel, address, sent_key(notice.dedup_key, channel, address), send)


def _not_tried(ctx: WorkerContext, send: _Send, dark: ChannelError) -> ChannelError:
    """A notice left for the retry: its channel's server did not answer earlier in the call."""
    ctx.metrics.notifications.labels(send.channel, "retry").inc()
    return ChannelError(f"not tried: {dark}", retryable=True, unreachable=True)


def _unexpected(send: _Send, error: Exception) -> ChannelError:
    """A channel's own fault (a bug, or input it did not expect): this notice fails, retryable,
    with the traceback logged; the batch's other notices still go."""
    log.exception("notice_error", channel=send.channel, ticket_id=send.notice.ticket_id, kind=send.notice.kind)
    return ChannelError(f"{send.channel}: {type(error).__name__}: {error}"[:300], retryable=True)


def _send(ctx: WorkerContext, send: _Send, last_attempt: bool) -> ChannelError | None:
    """One notice to one address; the channel's error, if it failed (counted and logged)."""
    try:
        send.send(send.notice, send.address, ctx.settings)
    except Exception as unexpected:
        exc = unexpected if isinstance(unexpected, ChannelError) else _unexpected(send, unexpected)
        last = not exc.retryable or last_attempt
        ctx.metrics.notifications.labels(send.channel, "failed" if last else "retry").inc()
        log.warning("notice_failed", channel=send.channel, ticket_id=send.notice.ticket_id, kind=send.notice.kind,
                    error=str(exc), final=last)
        return exc
    ctx.metrics.notifications.labels(send.channel, "sent").inc()
    return None
