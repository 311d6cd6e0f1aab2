"""Asking Alertmanager which alerts it still has: ``GET /api/v2/alerts`` with active, silenced,
inhibited and unprocessed alerts (a silenced or inhibited alert sends no "resolved": issue
prometheus/alertmanager#2754). The answer goes through the same parser and the same CI rules as a
webhook, so its alerts become the same (CI, symptom) keys as the masters they opened."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import msgspec

from alertgate.intake.pipeline import classify
from alertgate.intake.sources import alertmanager
from alertgate.intake.sources.common import PayloadError, SourceContext
from alertgate.rules.service import RulesService
from alertgate.settings import AlertmanagerApi

QUERY = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}


class SourceUnavailable(Exception):
    """An instance did not answer, answered an error, or too late: nothing may be resolved."""


class _ApiAlert(msgspec.Struct):
    labels: dict[str, str]
    startsAt: str
    annotations: dict[str, str] = {}


_decode = msgspec.json.Decoder(list[_ApiAlert]).decode


async def present_keys(api: AlertmanagerApi, client: httpx.AsyncClient, ctx: SourceContext,
                       rules: RulesService, now: datetime) -> set[tuple[str, str]]:
    """The (CI, symptom) keys of every alert any URL of this Alertmanager still has."""
    headers = {}
    if api.bearer_token_file:
        headers["Authorization"] = "Bearer " + Path(api.bearer_token_file).read_text().strip()
    found: list[dict] = []
    for url in api.urls:
        try:
            response = await client.get(url.rstrip("/") + "/api/v2/alerts", params=QUERY, headers=headers)
            response.raise_for_status()
            alerts = _decode(response.content)
        except (httpx.HTTPError, msgspec.DecodeError, ValueError) as exc:
            raise SourceUnavailable(f"{api.name} ({url}): {type(exc).__name__}: {str(exc)[:200]}") from None
        found += [{"labels": a.labels, "annotations": a.annotations, "startsAt": a.startsAt, "status": "firing"}
                  for a in alerts]
    if not found:
        return set()
    try:
        parsed = alertmanager.parse(msgspec.json.encode({"alerts": found}), ctx)
    except PayloadError as exc:  # (an alert this gateway would refuse: it opened no master either)
        raise SourceUnavailable(f"{api.name}: an alert could not be read: {exc.error}") from None
    parsed, _ = classify(parsed, rules, now)
    return {(alert.ci, alert.symptom) for alert in parsed}
