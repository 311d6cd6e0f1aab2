"""What work a master is still owed, from its own record (pure): the sweep's decision.

RQ can lose a job (its work horse killed just after the fork leaves it in no queue and no
registry), and a queue Redis can restart empty. So every kind of follow-up leaves a mark on the
ticket, written in the same atomic step as the change that calls for it, and the job clears the
mark when it is done:

| work | owed while | written by |
|---|---|---|
| dispatch | unresolved and not dispatched for its current reopening (`dispatched_for`) | creation, reopening (`owed_dispatch`) |
| restoration | `owed_restoration` is set | a recovery that resolves it, the `resolve` action |
| replan | `owed_replan` is set | an action |
| problem_on_close | `owed_problem_on_close` is set | the `close` action |
| timers (a replan) | unresolved and its next timer (`next_timer_at`) is overdue | dispatch, replan and each timer |

Work owed for longer than the sweep's interval, with no job for it waiting, scheduled or running,
is queued again, at most ``SWEEP_ATTEMPTS`` times per kind (``swept_<kind>``); then it is
abandoned, logged and counted.

A closed master owes nothing more once its flagged marks are cleared or abandoned (``settled``):
closed is final (SPEC §3: no action leads out of it but comment, edit and verify), so the sweep
takes it out of the masters index that it, the work queue and the reconciliation walk. The index
then holds the masters in work, not every master ever opened: read as it was, closed masters made
each walk slower (a queue read of 3.4 s over 100,000 masters, 95,000 of them closed; 0.4 s once
they had left it; measured 2026-12-07).
"""

from __future__ import annotations

import math

from dataclasses import dataclass

KINDS = ("dispatch", "restoration", "replan", "problem_on_close", "timers")
FLAGGED = ("restoration", "replan", "problem_on_close")  # the kinds with an owed_<kind> mark
SWEEP_ATTEMPTS = 3
UNRESOLVED = frozenset({b"open", b"assigned", b"in_progress", b"pending_change", b"suspended"})
FIELDS = ("status", "priority", "created_at", "reopen_count", "dispatched_at", "dispatched_for", "next_timer_at",
          "resolved_at", "closure_reminders", "closure_reminded_at",
          "owed_dispatch", *(f"owed_{kind}" for kind in FLAGGED), *(f"swept_{kind}" for kind in KINDS))


@dataclass(frozen=True)
class Owed:
    kind: str
    since: float      # when it became owed (or was last queued again)
    sweeps: int       # how often the sweep queued it already


def owed_work(fields: dict[str, bytes | None], before: float) -> list[Owed]:
    """The work owed since before ``before`` (epoch seconds); a value that cannot be read counts
    as absent."""
    status = fields.get("status")
    owed = []
    since = {kind: _number(fields.get(f"owed_{kind}")) for kind in FLAGGED}
    since["dispatch"] = None
    if status in UNRESOLVED and not _dispatched(fields):
        since["dispatch"] = _number(fields.get("owed_dispatch")) or _number(fields.get("created_at")) or 0.0
    since["timers"] = _number(fields.get("next_timer_at")) if status in UNRESOLVED else None
    for kind in KINDS:
        moment = since[kind]
        if moment is not None and moment < before:
            owed.append(Owed(kind, moment, int(_number(fields.get(f"swept_{kind}")) or 0)))
    return owed


def settled(fields: dict[str, bytes | None]) -> bool:
    """A closed master with no flagged work still owed (each mark cleared, or given up after
    ``SWEEP_ATTEMPTS`` sweeps): nothing will ever be owed it again."""
    if fields.get("status") != b"closed":
        return False
    return all(fields.get(f"owed_{kind}") is None or abandoned(fields, kind) for kind in FLAGGED)


def abandoned(fields: dict[str, bytes | None], kind: str) -> bool:
    return (_number(fields.get(f"swept_{kind}")) or 0) > SWEEP_ATTEMPTS


def open_priority(fields: dict[str, bytes | None]) -> int | None:
    """The priority of an unresolved master (3 when unreadable); None once it is resolved."""
    if fields.get("status") not in UNRESOLVED:
        return None
    return int(_number(fields.get("priority")) or 3)


def closure_reminder_due(fields: dict[str, bytes | None], now: float, every: float) -> int | None:
    """The number of the closure reminder a resolved master is due (SPEC §9: after ``every``
    resolved, then each ``every`` after the last reminder), or None.

    The number is one past the reminders sent, and the time counts from the later of the
    resolution and the last reminder: sweeps that run before the job has (several workers, a
    backlog) all ask for the same number, so the job id makes it one reminder. (Numbering by
    periods since the resolution sent two back to back when two sweeps fell either side of a
    period's end before the first job ran: seen in CI.)"""
    if fields.get("status") != b"resolved":
        return None
    resolved = _number(fields.get("resolved_at"))
    if resolved is None or every <= 0:
        return None
    last = max(resolved, _number(fields.get("closure_reminded_at")) or 0.0)
    return int(_number(fields.get("closure_reminders")) or 0) + 1 if now - last >= every else None


def _dispatched(fields: dict[str, bytes | None]) -> bool:
    done = fields.get("dispatched_for")
    if done is None:  # marked by a version before dispatched_for: dispatched once, never reopened since
        return fields.get("dispatched_at") is not None and not _number(fields.get("reopen_count"))
    return _number(done) == (_number(fields.get("reopen_count")) or 0)


def _number(raw: bytes | None) -> float | None:
    """A stored number; None when absent or unreadable ("inf" and "nan" too: ``int`` of them raises)."""
    try:
        value = float(raw) if raw else None
    except (ValueError, OverflowError):
        return None
    return value if value is not None and math.isfinite(value) else None
