"""Inspection findings (routine checks, patrol rounds) → Alerts.

The body is one finding or a JSON array of them. Identity is ``finding_id`` when given, else a
hash of ci + title + observed_at; one of ``finding_id`` or ``observed_at`` is therefore required,
so that a retried delivery is recognised instead of opening a second ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from alertgate.intake.sources.common import (
    ErrorDetail,
    PayloadError,
    SourceContext,
    decode_json,
    present,
    sane_time,
    stable_hash,
)
from alertgate.intake.sources.base import Source
from alertgate.intake.sources.limits import Labels, NonEmptyValue, Text, Value
from alertgate.tickets.alert import Alert, AlertStatus

NAME = "finding"


class Finding(msgspec.Struct):
    ci: NonEmptyValue
    title: NonEmptyValue
    finding_id: Value | int | None = None   # (an inspection system's numeric id: the same as its text)
    check: Value | None = None
    observed_at: datetime | None = None
    status: Literal["firing", "resolved"] = "firing"
    severity: Value | None = None
    description: Text = ""
    inspector: Value | None = None
    location: Value | None = None
    labels: Labels = {}
    links: Labels = {}


def parse(body: bytes, ctx: SourceContext) -> list[Alert]:
    decoded = decode_json(body, Finding | list[Finding])
    findings = decoded if isinstance(decoded, list) else [decoded]
    prefix = "$" if not isinstance(decoded, list) else None
    return [_normalize(f, prefix or f"$[{i}]", ctx) for i, f in enumerate(findings)]


def _normalize(finding: Finding, path: str, ctx: SourceContext) -> Alert:
    observed = None
    if finding.observed_at is not None:
        observed = sane_time(finding.observed_at, f"{path}.observed_at")   # in UTC (a naive time is UTC)
    ci, title = finding.ci.strip(), finding.title.strip()
    if not ci or not title:
        field = "ci" if not ci else "title"
        raise PayloadError("invalid payload", [ErrorDetail(f"{path}.{field}", "must not be blank")])
    if present(finding.finding_id):
        occurrence_id = f"finding:{finding.finding_id}"
    elif finding.observed_at is not None:
        occurrence_id = "finding:" + stable_hash(ci, title, finding.observed_at.isoformat())
    else:
        raise PayloadError("invalid payload", [ErrorDetail(
            path, "give finding_id or observed_at, so that a retried delivery is not a second finding"
        )])
    labels = dict(finding.labels)
    for key in ("inspector", "location"):
        value = getattr(finding, key)
        if value:
            labels.setdefault(key, value)
    status = AlertStatus(finding.status)
    return Alert(
        source=NAME,
        occurrence_id=occurrence_id,
        ci=ci,
        symptom=present(finding.check) or title,
        status=status,
        severity=present(finding.severity),
        title=title,
        description=finding.description,
        labels=labels,
        observed_at=observed or ctx.received_at,
        received_at=ctx.received_at,
        links=finding.links,
        delivery_id=f"{occurrence_id}:{status.value}",
    )


SOURCE = Source(
    name=NAME, path="/api/v1/findings", summary="Inspection findings, one or a list", payload=Finding | list[Finding],
    parse=parse, auto_resolve=False, ticket_source="inspection",
    recognises=lambda decoded: isinstance(decoded, (dict, list)),
)
