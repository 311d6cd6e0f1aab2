"""The rules' dry run: one payload through every stage, with the rule that matched in each and
the ticket fields that would result; nothing is stored (``POST /api/v1/rules/test`` and
``alertgate rules test``)."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec

from alertgate.correlation.catalogue import Catalogue
from alertgate.heartbeats import clock
from alertgate.intake.sources import SOURCES
from alertgate.intake.sources.common import SourceContext
from alertgate.rules.engine import RuleEngine, StageMatch
from alertgate.rules.policy import Policy
from alertgate.settings import Settings


class AlertVerdict(msgspec.Struct):
    occurrence_id: str
    ci: str
    symptom: str
    status: str
    stages: list[StageMatch]
    ticket: Policy
    heartbeat: str | None = None   # the heartbeat a firing alert would ping (its outcome: heartbeat)


def explain(body: bytes, source: str, engine: RuleEngine, settings: Settings,
            catalogue: Catalogue | None = None) -> list[AlertVerdict]:
    """Run one payload through every stage (each CI resolved by ``catalogue`` first, as at
    intake); nothing is stored."""
    now = datetime.now(timezone.utc)
    alerts = SOURCES[source](body, SourceContext(now, tuple(settings.ci_labels), tuple(settings.symptom_labels)))
    verdicts = []
    for alert in alerts:
        alert, ci = catalogue.canonical(alert) if catalogue is not None else (alert, None)
        evaluation = engine.evaluate(alert, now, ci)
        ping = evaluation.policy.heartbeat
        verdicts.append(AlertVerdict(alert.occurrence_id, evaluation.policy.ci or alert.ci,
                                     evaluation.policy.symptom or alert.symptom,
                                     alert.status.value, evaluation.matches, evaluation.policy,
                                     clock.name_from(ping.name, ping.label, alert) if ping else None))
    return verdicts
