"""With sync on (settings.sync), an accept, resolve, close or reopen also queues the job that tells
the ticket's source (SPEC §10); with it off, or after other actions, nothing more is queued."""

from __future__ import annotations

import asyncio

import fakeredis

from alertgate.intake.handoff import JobHandoff
from alertgate.tickets.lifecycle import Action
from alertgate.work_queue import NOTIFY, queue


def queued(sync: bool, action: Action) -> list[str]:
    redis = fakeredis.FakeRedis()
    asyncio.run(JobHandoff(redis, 3, sync=sync).after_action("INC-AAAA-1", action))
    return sorted(job_id.rsplit("-", 1)[0] for job_id in queue(NOTIFY, redis).get_job_ids())


def test_sync_jobs_follow_the_actions_that_change_what_the_source_should_know():
    assert queued(True, Action.ACCEPT) == ["replan-INC-AAAA-1", "sync_source-INC-AAAA-1"]
    assert queued(True, Action.RESOLVE) == ["restoration-INC-AAAA-1", "sync_source-INC-AAAA-1"]
    assert queued(True, Action.REASSIGN) == ["replan-INC-AAAA-1"]
    assert queued(False, Action.ACCEPT) == ["replan-INC-AAAA-1"]
