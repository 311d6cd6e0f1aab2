"""Sending notices on their channels, once per (notice, channel, address).

A sent notice is marked in Redis (``ag:sent:<dedup key>:<channel>:<address>``) after the channel
accepted it, so a retried job skips what already went out and sends only what failed. Delivery is
at least once: a crash between the send and the mark resends that one notice, carrying the same
dedup key (header, Message-ID) for the receiver to recognise.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

import structlog
from redis.asyncio import Redis
from rq import get_current_job

from alertgate.keys import sent_key
from alertgate.workers.channels import CHANNELS, ChannelError
from alertgate.workers.context import WorkerContext
from alertgate.workers.notices import Notice

log = structlog.get_logger("alertgate.delivery")
SENT_TTL = 35 * 86400


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
    """Send every notice on every channel; returns how many went out now."""
    sent, retry = 0, []
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
                key = sent_key(notice.dedup_key, channel, address)
                if await redis.exists(key):
                    continue
                try:
                    send(notice, address, ctx.settings)
                except ChannelError as exc:
                    last = not exc.retryable or _last_attempt()
                    ctx.metrics.notifications.labels(channel, "failed" if last else "retry").inc()
                    log.warning("notice_failed", channel=channel, ticket_id=notice.ticket_id, kind=notice.kind,
                                error=str(exc), final=last)
                    if exc.retryable:
                        retry.append(exc)
                    continue
                await redis.set(key, "1", ex=SENT_TTL)
                ctx.metrics.notifications.labels(channel, "sent").inc()
                sent += 1
    if retry:
        raise DeliveryFailed(f"{len(retry)} notice(s) to retry: {retry[0]}")
    return sent
