"""Prometheus metrics (SPEC §6), correct across processes.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (``alertgate serve`` and ``run`` set it before any
worker process starts), prometheus-client writes every process's values to files there and a
scrape of any process sums them. Otherwise each app has a registry of its own (tests).
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Tally:
    """Counter increments and histogram observations gathered until the end of the event-loop
    turn: in an alert storm one write per series per turn instead of one per alert (each is a
    locked write to a shared mmap file in multiprocess mode). Outside an event loop it counts at once.
    """

    def __init__(self) -> None:
        self._pending: dict[Any, float] = {}

    def inc(self, counter: Any, amount: float = 1) -> None:
        """``counter``: a labelled Counter child."""
        if not self._pending:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: nothing would flush it
                counter.inc(amount)
                return
        self._pending[counter] = self._pending.get(counter, 0) + amount

    def observe(self, histogram: Any, amount: float) -> None:
        """``histogram``: a labelled Histogram child. Its sum and the bucket the amount falls in
        are counted as ``Histogram.observe`` counts them (``_sum``, ``_buckets``, ``_upper_bounds``:
        prometheus-client's own fields, the same exposition checked by a test); a histogram
        without them is observed at once."""
        bounds = getattr(histogram, "_upper_bounds", None)
        buckets = getattr(histogram, "_buckets", None)
        total = getattr(histogram, "_sum", None)
        if bounds is None or buckets is None or total is None:
            histogram.observe(amount)
            return
        self.inc(total, amount)
        if amount == amount:   # (NaN falls in no bucket, as in ``observe``)
            self.inc(buckets[bisect_left(bounds, amount)])   # (the first bound >= amount: ``amount <= bound``)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for counter, amount in pending.items():
            counter.inc(amount)


def created_counter(registry: CollectorRegistry | None) -> Counter:
    """Tickets created, wherever: the gateway counts those of alerts it is sent, user reports and
    follow-ups; the worker those of heartbeat expiries, released maintenance and major incidents."""
    return Counter("alertgate_tickets_created_total", "Tickets created, by kind and priority.", ["kind", "priority"],
                   registry=registry)


def rejected_counter(registry: CollectorRegistry | None) -> Counter:
    return Counter("alertgate_requests_rejected_total", "Requests refused (4xx), by endpoint, status and reason.",
                   ["endpoint", "status", "reason"], registry=registry)


class GatewayMetrics:
    """The gateway's own series."""

    def __init__(self) -> None:
        self.tally = Tally()
        # In multiprocess mode the values live in files; registering would double them.
        self.registry = CollectorRegistry(auto_describe=True)
        register = None if multiprocess_dir() else self.registry
        self.alerts_received = Counter(
            "alertgate_alerts_received_total", "Alerts received, by source.", ["source"], registry=register
        )
        self.alerts_truncated = Counter(
            "alertgate_alerts_truncated_total", "Alerts a sender said it left out of its deliveries "
            "(Alertmanager's truncatedAlerts under max_alerts): they never arrive, by source.", ["source"],
            registry=register,
        )
        self.alerts_processed = Counter(
            "alertgate_alerts_processed_total", "Alerts processed, by source and outcome.",
            ["source", "outcome"], registry=register,
        )
        self.ingest_duration = Histogram(
            "alertgate_ingest_duration_seconds", "Time to ingest one request, by source.",
            ["source"], buckets=_LATENCY_BUCKETS, registry=register,
        )

        self.tickets_created = created_counter(register)
        self.rule_matches = Counter(
            "alertgate_rule_matches_total", "Rule matches, by stage and rule.", ["stage", "rule"], registry=register
        )
        self.requests_rejected = rejected_counter(register)
        self.rules_reloads = Counter(
            "alertgate_rules_reloads_total", "Rule reloads, by outcome.", ["outcome"], registry=register
        )
        self.unknown_cis = Counter(
            "alertgate_ci_unknown_total", "Alerts whose CI the catalogue does not name (counted only while "
            "the catalogue holds any CI), by source.", ["source"], registry=register,
        )
        # (the worker's sweep counts the timed-out expiries under the same name: one series to watch)
        self.heartbeat_failed = Counter(
            "alertgate_heartbeat_expired_total", "Heartbeat expiries, by heartbeat (here: failure reports, "
            "/fail or a resolved Watchdog).", ["name"], registry=register,
        )

    def ticket_created(self, kind: str, priority: int) -> None:
        self.tally.inc(self.tickets_created.labels(kind, str(priority)))

    def unknown_ci(self, source: str, count: int) -> None:
        self.tally.inc(self.unknown_cis.labels(source), count)

    def render(self) -> bytes:
        """The text exposition: this process, or all processes in multiprocess mode."""
        self.tally.flush()
        if multiprocess_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class WorkerMetrics:
    """Series the RQ jobs count; in multiprocess mode every forked job writes its own file."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        register = None if multiprocess_dir() else self.registry
        self.notifications = Counter(
            "alertgate_notifications_total", "Notices, by channel and outcome (sent, retry, failed; no_contact: nobody to tell on it).",
            ["channel", "outcome"], registry=register,
        )
        self.sla_breaches = Counter(
            "alertgate_sla_breaches_total", "SLA targets missed, by priority and target.", ["priority", "target"],
            registry=register,
        )
        self.escalations = Counter(
            "alertgate_escalations_total", "Escalations, by priority and level.", ["priority", "level"],
            registry=register,
        )
        self.tickets_created = created_counter(register)   # (ticket_created)
        self.jobs_failed = Counter(
            "alertgate_jobs_failed_total", "Jobs that failed their last attempt (kept in RQ's failed "
            "registry for 7 days), by function.", ["function"], registry=register,
        )
        # Set by the sweep that holds the lock (one worker per interval): the most recent value wins.
        self.heartbeats = Gauge("alertgate_heartbeats", "Heartbeats, by status (ok, expired, paused).", ["status"],
                                registry=register, multiprocess_mode="mostrecent")
        self.heartbeat_age = Gauge("alertgate_heartbeat_age_seconds", "Seconds since each heartbeat was last seen "
                                   "(since it was registered, if never).", ["name"], registry=register,
                                   multiprocess_mode="mostrecent")
        self.heartbeat_expired = Counter("alertgate_heartbeat_expired_total", "Heartbeat expiries, by heartbeat.",
                                         ["name"], registry=register)
        self.closure_reminders = Counter("alertgate_closure_reminders_total", "Reminders that a resolved ticket "
                                         "waits for its closure.", registry=register)
        self.reconciled = Counter("alertgate_reconciled_total", "Unresolved masters checked against their source, "
                                  "by source and result (resolved, present, error).", ["source", "result"],
                                  registry=register)
        # Each part of the sweep (workers/sweeper.py) when it last ran to its end, in any worker: a
        # part that stops succeeding (a bug, a hang) is seen against the interval it should keep.
        self.sweep_succeeded = Gauge("alertgate_sweep_last_success_timestamp_seconds", "When each part of the "
                                     "workers' sweep last ran to its end (Unix time), by part.", ["part"],
                                     registry=register, multiprocess_mode="max")
        self.sweep_interval = Gauge("alertgate_sweep_interval_seconds", "The workers' sweep_interval.",
                                    registry=register, multiprocess_mode="max")
        self.work_abandoned = Counter(
            "alertgate_work_abandoned_total", "Follow-up work (dispatch, restoration, replan, problem_on_close) "
            "the sweep stopped queueing after it failed every time, by kind.", ["kind"], registry=register,
        )

    def ticket_created(self, kind: str, priority: int) -> None:
        self.tickets_created.labels(kind, str(priority)).inc()
