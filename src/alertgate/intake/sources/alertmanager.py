"""Prometheus Alertmanager webhook (``version: "4"``) → Alerts.

Tolerant as SPEC §1 asks: version, groupKey, truncatedAlerts, per-alert status, fingerprint and
generatorURL may be missing; unknown keys are ignored; firing and resolved may mix in one group.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import msgspec

from alertgate.intake.sources.common import (
    UNKNOWN,
    SourceContext,
    ci_from_labels,
    decode_json,
    present,
    sane_time,
    stable_hash,
)
from alertgate.intake.sources.base import Source
from alertgate.intake.sources.limits import Annotations, Labels, Value
from alertgate.tickets.alert import Alert, AlertStatus

NAME = "alertmanager"
_STILL_FIRING_YEAR = 1  # endsAt 0001-01-01T00:00:00Z means "no end yet"


class AlertmanagerAlert(msgspec.Struct):
    labels: Labels
    startsAt: datetime
    annotations: Annotations = {}
    endsAt: datetime | None = None
    status: Literal["firing", "resolved"] | None = None
    generatorURL: Value | None = None
    fingerprint: Value | None = None


class AlertmanagerPayload(msgspec.Struct):
    alerts: list[AlertmanagerAlert]
    externalURL: Value | None = None
    receiver: Value | None = None
    truncatedAlerts: Any = None   # alerts max_alerts left out (they never arrive); read leniently, as before


def parse(body: bytes, ctx: SourceContext) -> list[Alert]:
    payload = decode_json(body, AlertmanagerPayload)
    left_out = payload.truncatedAlerts
    if ctx.on_truncated is not None and type(left_out) is int and left_out > 0:
        ctx.on_truncated(left_out)
    receiver = payload.receiver if payload.receiver and present(payload.receiver) else None
    return [_normalize(_checked_times(alert, i), payload.externalURL, receiver, ctx)
            for i, alert in enumerate(payload.alerts)]


def _checked_times(alert: AlertmanagerAlert, index: int) -> AlertmanagerAlert:
    """startsAt and endsAt in the accepted range; an endsAt in the year 1 (Alertmanager's
    0001-01-01T00:00:00Z, "no end yet", in whatever zone) is no end. The times keep the sender's
    offset: startsAt is part of the occurrence's identity as sent. A time without a zone is UTC
    (Alertmanager always sends one; a hand-made sender may not)."""
    sane_time(alert.startsAt, f"$.alerts[{index}].startsAt")
    ends = alert.endsAt
    if ends is not None and ends.year <= _STILL_FIRING_YEAR:
        alert.endsAt = None
    elif ends is not None:
        utc_ends = sane_time(ends, f"$.alerts[{index}].endsAt")
        if ends.tzinfo is None:
            alert.endsAt = utc_ends
    return alert


_STATUS = {status.value: status for status in AlertStatus}  # (a dict is faster than the Enum call)
_DELIVERY_SUFFIX = {status: f":{status.value}" for status in AlertStatus}


def _status(alert: AlertmanagerAlert, received_at: datetime) -> AlertStatus:
    if alert.status is not None:
        return _STATUS[alert.status]
    # No per-alert status: an end time in the past means Alertmanager saw it resolve.
    ends = alert.endsAt
    if ends is not None and ends.year > _STILL_FIRING_YEAR and ends <= received_at:
        return AlertStatus.RESOLVED
    return AlertStatus.FIRING


def _symptom(labels: dict[str, str], extra: tuple[str, ...]) -> str:
    name = present(labels.get("alertname")) or UNKNOWN
    qualifiers = [f"{key}={labels[key]}" for key in extra if present(labels.get(key))]
    return f"{name}{{{','.join(qualifiers)}}}" if qualifiers else name


def _normalize(alert: AlertmanagerAlert, external_url: str | None, receiver: str | None, ctx: SourceContext) -> Alert:
    labels, notes = alert.labels, alert.annotations
    status = _status(alert, ctx.received_at)
    # Identity is labels + startsAt: the fingerprint alone is repeated by some senders.
    occurrence_id = "am:" + stable_hash(
        msgspec.json.encode(sorted(labels.items())), alert.startsAt.isoformat()
    )
    ends = alert.endsAt
    observed = ends if status is AlertStatus.RESOLVED and ends and ends.year > 1 else alert.startsAt
    if observed.tzinfo is None:
        observed = observed.replace(tzinfo=timezone.utc)
    links = {}
    for name, url in (("generator", alert.generatorURL), ("runbook", notes.get("runbook_url")),
                      ("dashboard", notes.get("dashboard_url")), ("alertmanager", external_url)):
        if url is not None and present(url):
            links[name] = url
    return Alert(
        source=NAME,
        occurrence_id=occurrence_id,
        ci=ci_from_labels(labels, ctx.ci_labels),
        symptom=_symptom(labels, ctx.symptom_labels),
        status=status,
        severity=present(labels.get("severity")),
        title=present(notes.get("summary")) or present(notes.get("title"))
        or present(labels.get("alertname")) or UNKNOWN,
        description=notes.get("description") or notes.get("message") or "",
        labels=labels,
        observed_at=observed,
        received_at=ctx.received_at,
        links=links,
        delivery_id=occurrence_id + _DELIVERY_SUFFIX[status],
        receiver=receiver,
    )


SOURCE = Source(
    name=NAME, path="/api/v1/alerts/alertmanager", summary="Alertmanager webhook (version 4)",
    payload=AlertmanagerPayload, parse=parse, auto_resolve=True,
    recognises=lambda decoded: isinstance(decoded, dict) and "alerts" in decoded,
)
