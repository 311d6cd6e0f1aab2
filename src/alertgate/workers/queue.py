"""Enqueueing jobs: JSON serializer, job ids derived from the ticket, retries with backoff."""

from __future__ import annotations

from datetime import datetime, timezone

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

DISPATCH, NOTIFY, TIMERS = "alertgate-dispatch", "alertgate-notify", "alertgate-timers"
QUEUES = (DISPATCH, NOTIFY, TIMERS)   # highest priority first
RETRY_INTERVALS = [5, 30, 120, 600]


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def _id(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def retry(max_attempts: int, intervals: list[float] | None = None) -> Retry | None:
    """Backoff for ``max_attempts - 1`` retries. RQ picks the interval as
    ``intervals[len(intervals) - retries_left]``, so the list is cut to the number of retries."""
    retries = max_attempts - 1
    if retries < 1:
        return None
    chosen = [int(i) for i in (intervals or RETRY_INTERVALS)][:retries]
    return Retry(max=retries, interval=chosen + [chosen[-1]] * (retries - len(chosen)))


def enqueue_dispatch(connection: Redis, ticket_id: str, reason: str, max_attempts: int = 5) -> str:
    """A new, recurring or reopened master goes to dispatch; the job id is the ticket's."""
    stamp = "" if reason == "new" else f"-{int(datetime.now(timezone.utc).timestamp())}"
    job = queue(DISPATCH, connection).enqueue(
        "alertgate.workers.jobs.dispatch", ticket_id, reason, job_id=_id(f"dispatch-{ticket_id}-{reason}{stamp}"),
        retry=retry(max_attempts), result_ttl=3600, failure_ttl=7 * 86400)
    return job.id


def enqueue_followup(connection: Redis, function: str, ticket_id: str, note: str = "", max_attempts: int = 5) -> str:
    """Replan timers after an action, or send the restoration notice after a resolution."""
    stamp = int(datetime.now(timezone.utc).timestamp() * 1000)
    job = queue(NOTIFY, connection).enqueue(
        f"alertgate.workers.jobs.{function}", ticket_id, note, job_id=_id(f"{function}-{ticket_id}-{stamp}"),
        retry=retry(max_attempts), result_ttl=3600, failure_ttl=7 * 86400)
    return job.id
