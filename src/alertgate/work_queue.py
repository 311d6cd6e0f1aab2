"""The queue between the gateway and the workers: job ids derived from the ticket, the JSON
serializer, retries with backoff, and which work a queued job stands for (the sweep's census)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable

from redis import Redis
from rq import Queue, Retry, Worker
from rq.job import Job
from rq.queue import EnqueueData
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
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


def dispatch_job(ticket_id: str, reason: str, max_attempts: int = 5) -> tuple[str, EnqueueData]:
    """A new, recurring or reopened master goes to dispatch; the job id is the ticket's."""
    stamp = "" if reason == "new" else f"-{int(datetime.now(timezone.utc).timestamp())}"
    return DISPATCH, Queue.prepare_data(
        "alertgate.workers.jobs.dispatch", (ticket_id, reason), job_id=_id(f"dispatch-{ticket_id}-{reason}{stamp}"),
        retry=retry(max_attempts), result_ttl=3600, failure_ttl=7 * 86400)


def action_job(function: str, ticket_id: str, note: str = "", max_attempts: int = 5) -> tuple[str, EnqueueData]:
    """Replan timers after an action, or send the restoration notice after a resolution."""
    stamp = int(datetime.now(timezone.utc).timestamp() * 1000)
    return NOTIFY, Queue.prepare_data(
        f"alertgate.workers.jobs.{function}", (ticket_id, note), job_id=_id(f"{function}-{ticket_id}-{stamp}"),
        retry=retry(max_attempts), result_ttl=3600, failure_ttl=7 * 86400)


def held_restoration_job(connection: Redis, ticket_id: str, due: datetime, resolved_at: datetime,
                         max_attempts: int = 5) -> None:
    """The restoration notice of a recovery, scheduled for when it has held (workers/flapping.py):
    one job id per ticket and recovery, so the jobs of a flapping master's recoveries end as one."""
    queue(NOTIFY, connection).enqueue_at(
        due, "alertgate.workers.jobs.restoration", ticket_id, "held",
        job_id=_id(f"restoration-{ticket_id}-{int(resolved_at.timestamp() * 1000)}-held"),
        retry=retry(max_attempts), result_ttl=3600, failure_ttl=7 * 86400)


def timer_job(ticket_id: str, since: float, max_attempts: int = 5) -> tuple[str, EnqueueData]:
    """A ticket's timer entry the intents consumer could not fire (``workers/intents.py``), handed
    to RQ: one job id per ticket and due time (``workers/timers.py``)."""
    return TIMERS, Queue.prepare_data(
        "alertgate.workers.jobs.fire_due", (ticket_id, since),
        job_id=f"{ticket_id}-timers-{int(since * 1000)}", retry=retry(max_attempts), result_ttl=3600,
        failure_ttl=7 * 86400)


def closure_reminder_job(ticket_id: str, number: int, max_attempts: int = 5) -> tuple[str, EnqueueData]:
    """The n-th reminder that a resolved ticket waits for its closure; one job id per reminder."""
    return NOTIFY, Queue.prepare_data(
        "alertgate.workers.jobs.closure_reminder", (ticket_id, number), job_id=_id(f"closure_reminder-{ticket_id}-{number}"),
        retry=retry(max_attempts), result_ttl=3600, failure_ttl=7 * 86400)


def enqueue_all(connection: Redis, jobs: Iterable[tuple[str, EnqueueData]]) -> list[str]:
    """Jobs for any of the queues, in one Redis transaction; a job id given twice is enqueued once
    (the same ticket reopened twice within a second)."""
    by_queue: dict[str, dict[str, EnqueueData]] = {}
    for name, data in jobs:
        by_queue.setdefault(name, {}).setdefault(data.job_id, data)
    pipe = connection.pipeline()
    for name, datas in by_queue.items():
        queue(name, connection).enqueue_many(list(datas.values()), pipeline=pipe)
    pipe.execute()
    return [job_id for datas in by_queue.values() for job_id in datas]


# Which ticket and work a job id stands for (ids are made above and in jobs.schedule).
_JOB_WORK = (
    (re.compile(r"^dispatch-(INC-[A-Z0-9]+-\d+)-"), "dispatch"),
    (re.compile(r"^(restoration|replan|problem_on_close)-(INC-[A-Z0-9]+-\d+)-\d+(?:-held)?$"), None),
    (re.compile(r"^(INC-[A-Z0-9]+-\d+)-timers?-"), "timers"),
)


def pending_work(connection: Redis) -> set[tuple[str, str]]:
    """(kind, ticket id) of every job waiting, scheduled (a retry, a timer) or running now: work
    the sweep must not queue again (workers/recovery.py). A job counts as running only while the
    worker that started it is alive: a queue Redis back from its AOF still lists the executions
    of workers that died with it (seen in the fault test), and RQ expires them only minutes later."""
    ids: list[str] = []
    live = {worker.name for worker in Worker.all(connection=connection)}
    for name in QUEUES:
        q = queue(name, connection)
        ids += q.get_job_ids()
        ids += ScheduledJobRegistry(queue=q).get_job_ids()
        started = StartedJobRegistry(queue=q).get_job_ids()
        jobs = Job.fetch_many(started, connection=connection, serializer=JSONSerializer) if started else []
        ids += [job.id for job in jobs if job is not None and job.worker_name in live]
    found = set()
    for job_id in ids:
        for pattern, kind in _JOB_WORK:
            match = pattern.match(job_id)
            if match:
                found.add((kind, match.group(1)) if kind else (match.group(1), match.group(2)))
                break
    return found
