"""Every intake source, by name: ``parse(body, ctx) -> list[Alert]`` (pure, raises PayloadError)."""

from __future__ import annotations

from typing import Callable

from alertgate.intake.sources import alertmanager, findings, zabbix
from alertgate.intake.sources.common import SourceContext
from alertgate.tickets.alert import Alert

Parser = Callable[[bytes, SourceContext], list[Alert]]

SOURCES: dict[str, Parser] = {
    alertmanager.NAME: alertmanager.parse,
    zabbix.NAME: zabbix.parse,
    findings.NAME: findings.parse,
}
