"""Asking Alertmanager which alerts it still has: ``GET /api/v2/alerts`` with active, silenced,
inhibited and unprocessed alerts (a silenced or inhibited alert sends no "resolved": issue
prometheus/alertmanager#2754). The answer goes through the same parser and the same CI rules as a
webhook (and the same CI catalogue), so its alerts become the same (CI, symptom) keys as the masters
they opened."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import httpx
import msgspec

from alertgate.correlation.service import CatalogueService
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


class _Status(msgspec.Struct):
    uptime: datetime | None = None   # when it started (``GET /api/v2/status``)


async def _started_recently(client: httpx.AsyncClient, url: str, headers: dict, now: datetime,
                            grace: float) -> float | None:
    """Seconds since this Alertmanager started, if fewer than ``grace`` (None: long enough, or an
    Alertmanager without the status API, which then answers the alerts as before)."""
    if grace <= 0:
        return None
    response = await client.get(url.rstrip("/") + "/api/v2/status", headers=headers)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    started = msgspec.json.decode(response.content, type=_Status).uptime
    if started is None:
        return None
    if started.tzinfo is None:   # (Alertmanager writes UTC with a Z; a proxy might drop it)
        started = started.replace(tzinfo=timezone.utc)
    age = (now - started).total_seconds()
    return age if age < grace else None


async def present_keys(api: AlertmanagerApi, client: httpx.AsyncClient, ctx: SourceContext,
                       rules: RulesService, catalogue: CatalogueService | None, now: datetime,
                       restart_grace: float = 0.0) -> set[tuple[str, str]]:
    """The (CI, symptom) keys of every alert any URL of this Alertmanager still has (its CI as the
    catalogue names it, if one is in use, as intake named the master's). An instance started less
    than ``restart_grace`` ago cannot be trusted: it holds only the alerts sent since."""
    headers = {}
    if api.bearer_token_file:
        headers["Authorization"] = "Bearer " + Path(api.bearer_token_file).read_text().strip()
    found: list[dict] = []
    for url in api.urls:
        try:
            age = await _started_recently(client, url, headers, now, restart_grace)
            if age is not None:
                raise SourceUnavailable(f"{api.name} ({url}) started {age:.0f} s ago (reconcile.restart_grace "
                                        f"{restart_grace:g} s): its alerts may not all be back yet")
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
    canonical = catalogue.catalogue.canonical if catalogue is not None and catalogue.active else None
    parsed, _, _ = classify(parsed, rules, now, canonical)
    return {(alert.ci, alert.symptom) for alert in parsed}


async def _first_answer(api: AlertmanagerApi, call) -> object:
    """An HA pair gossips its silences: one member that answers is enough."""
    errors = []
    for url in api.urls:
        try:
            return await call(url.rstrip("/"))
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {str(exc)[:150]}")
    raise SourceUnavailable(f"{api.name}: " + "; ".join(errors))


def _headers(api: AlertmanagerApi) -> dict[str, str]:
    if api.bearer_token_file:
        return {"Authorization": "Bearer " + Path(api.bearer_token_file).read_text().strip()}
    return {}


async def create_silence(api: AlertmanagerApi, client: httpx.AsyncClient, matchers: list[dict],
                         starts_at: datetime, ends_at: datetime, comment: str) -> str:
    """A silence for one occurrence of a window; its id."""
    body = {"matchers": matchers, "startsAt": starts_at.isoformat(), "endsAt": ends_at.isoformat(),
            "createdBy": "alertgate", "comment": comment}

    async def call(base: str) -> str:
        response = await client.post(base + "/api/v2/silences", json=body, headers=_headers(api))
        response.raise_for_status()
        return str(response.json()["silenceID"])
    return await _first_answer(api, call)


async def expire_silence(api: AlertmanagerApi, client: httpx.AsyncClient, silence_id: str) -> None:
    async def call(base: str) -> None:
        response = await client.delete(f"{base}/api/v2/silence/{silence_id}", headers=_headers(api))
        if response.status_code not in (200, 404):  # (404: expired and collected already)
            response.raise_for_status()
    await _first_answer(api, call)
