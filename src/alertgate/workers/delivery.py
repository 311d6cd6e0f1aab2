"""Sending notices on their channels, once per (notice, channel, address).

A sent notice is marked in Redis (``ag:sent:<dedup key>:<channel>:<address>``) after the channel
accepted it, so a retried job skips what already went out and sends only what failed. Delivery is
at least once: a crash between the send and the mark resends that one notice, carrying the same
dedup key (header, Message-ID) for the receiver to recognise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, NamedTuple

import structlog
from redis.asyncio import Redis
from rq import get_current_job

from alertgate.keys import sent_key
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
    """Many (notices, channels) delivered at once (the dispatcher's batch; ``deliver`` is one): the
    sent marks read in one round trip; those of the log channel written together, and the others
    each right after its send (a send that hangs, and the process killed in it, must not take the
    marks of what went out before it). Per batch, how many went out now, or its failure
    (what was sent is marked all the same).

    A channel whose server did not answer (``ChannelError.unreachable``: no connection, or
    silence until its timeout) is not tried again in the same call, unless this is the last
    attempt: its other notices fail at once as retryable. A mail server or webhook receiver gone
    dark costs a batch one timeout, not one per notice, and the dispatcher goes on; their
    tickets are retried by RQ with backoff, and each notice is still sent once (its mark is
    written only after its send)."""
    planned = [list(_sends(ctx, notices, channels)) for notices, channels in batches]
    pipe = Pipelined(redis)
    for send in (send for sends in planned for send in sends):
        pipe.command("EXISTS", send.key)
    already = iter(await pipe.execute())
    results: list[int | DeliveryFailed] = []
    marks, seen = Pipelined(redis), set()
    dark: dict[str, ChannelError] = {}   # channels whose server did not answer in this call
    not_tried = 0
    with session():   # (the batch's e-mails over one SMTP connection)
        for sends in planned:
            sent, retry = 0, []
            for send in [send for send in sends if not next(already)]:
                if send.key in seen:   # (an address listed twice is sent to once, as deliver does)
                    continue
                seen.add(send.key)
                if send.channel in dark and not _last_attempt():   # (a last attempt tries each)
                    retry.append(_not_tried(ctx, send, dark[send.channel]))
                    not_tried += 1
                    continue
                if send.channel not in LOCAL and len(marks):
                    await marks.execute()
                if (error := _send(ctx, send)) is not None:
                    retry += [error] if error.retryable else []
                    if error.unreachable:
                        dark[send.channel] = error
                    continue
                marks.command("SET", send.key, "1", "EX", SENT_TTL)
                if send.channel not in LOCAL:
                    await marks.execute()
                sent += 1
            results.append(DeliveryFailed(f"{len(retry)} notice(s) to retry: {retry[0]}") if retry else sent)
    if len(marks):
        await marks.execute()
    if dark:
        log.warning("channels_unreachable", channels=sorted(dark), notices_not_tried=not_tried)
    return results


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
                log.warning("no_contact", channel=channel, recipient=notice.recipient, ticket_id=notice.ticket_id)
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


def _send(ctx: WorkerContext, send: _Send) -> ChannelError | None:
    """One notice to one address; the channel's error, if it failed (counted and logged)."""
    try:
        send.send(send.notice, send.address, ctx.settings)
    except Exception as unexpected:
        exc = unexpected if isinstance(unexpected, ChannelError) else _unexpected(send, unexpected)
        last = not exc.retryable or _last_attempt()
        ctx.metrics.notifications.labels(send.channel, "failed" if last else "retry").inc()
        log.warning("notice_failed", channel=send.channel, ticket_id=send.notice.ticket_id, kind=send.notice.kind,
                    error=str(exc), final=last)
        return exc
    ctx.metrics.notifications.labels(send.channel, "sent").inc()
    return None
