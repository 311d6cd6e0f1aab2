"""Every intake source, by name (``base.Source``: path, payload, ``parse(body, ctx) -> [Alert]``,
defaults). A new source is its module and one line here."""

from __future__ import annotations

from alertgate.intake.sources import alertmanager, findings, zabbix
from alertgate.intake.sources.base import Parser, Source

# In the order the CLI tries to recognise a body (findings, the most general, last).
REGISTRY: dict[str, Source] = {source.name: source for source in (alertmanager.SOURCE, zabbix.SOURCE, findings.SOURCE)}
SOURCES: dict[str, Parser] = {name: source.parse for name, source in REGISTRY.items()}
NAMES = tuple(REGISTRY)
