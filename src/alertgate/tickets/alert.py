"""The normalized alert: what every source becomes before rules and dedup see it (SPEC §1)."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class AlertStatus(str, enum.Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One occurrence of a fault, as any source reports it.

    ``gc=False``: its fields are strings, times and dicts of strings, so it can never be part of a
    reference cycle, and a storm's alerts and their renamed copies need not be tracked by the
    garbage collector (each tracked allocation brings the next collection closer).

    ``update`` marks a Zabbix acknowledgement/comment on an existing event: it is recorded on the
    ticket's timeline and never opens a ticket. ``delivery_id`` tells one delivery of the same
    occurrence from another (firing, recovery, each update), so a retried delivery is a repeat.
    """

    source: str
    occurrence_id: str
    ci: str
    symptom: str
    status: AlertStatus
    severity: str | None = None
    title: str
    description: str = ""
    labels: dict[str, str] = {}
    observed_at: datetime
    received_at: datetime
    links: dict[str, str] = {}
    update: bool = False
    update_actor: str | None = None
    update_note: str | None = None
    delivery_id: str = ""
    receiver: str | None = None   # the Alertmanager receiver that sent it (names a rule-fed heartbeat)
    ci_raw: str | None = None     # the sender's name of the CI, when the catalogue knows it by another
