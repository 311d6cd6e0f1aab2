"""Rules as the gateway runs them: load from ``config/rules`` and ``config/tables.yaml``, keep the
last good set when a reload fails, reload on request and when the files change."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import structlog

from alertgate.config_files import fingerprint
from alertgate.rules.compile import check_sizes
from alertgate.rules.engine import RuleEngine
from alertgate.rules.schema import RuleError, RulesInvalid, check_against_tables, load_rules
from alertgate.rules.tables import TablesInvalid, load_tables

log = structlog.get_logger("alertgate.rules")


class RulesService:
    def __init__(self, config_dir: Path, default_window: float,
                 on_match: Callable[[str, str], None] | None = None,
                 on_reload: Callable[[str], None] | None = None) -> None:
        self.config_dir = config_dir
        self.rules_dir = config_dir / "rules"
        self._default_window = float(default_window)  # settings hold a float subclass
        self._on_reload = on_reload
        self.engine = RuleEngine(load_tables(config_dir), self._default_window, on_match)
        self.last_errors: list[RuleError] = []
        self._seen = self.fingerprint()

    def fingerprint(self) -> tuple:
        """What changes when an operator edits a rule or table file."""
        return fingerprint(sorted(self.rules_dir.glob("*.y*ml")) + [self.config_dir / "tables.yaml"])

    def reload(self) -> list[RuleError]:
        """Load every file; on any error keep the running rules and return the errors."""
        self._seen = self.fingerprint()
        try:
            tables = load_tables(self.config_dir)
            rules = load_rules(self.rules_dir)
            check_against_tables(rules, tables)
            check_sizes(rules)
        except TablesInvalid as exc:
            return self._failed([RuleError(str(self.config_dir / "tables.yaml"), 0, str(exc))])
        except RulesInvalid as exc:
            return self._failed(exc.errors)
        self.engine.load(rules, tables, self._default_window)
        self.last_errors = []
        if self._on_reload:
            self._on_reload("success")
        log.info("rules_loaded", rules=len(rules), generation=self.engine.generation)
        return []

    def _failed(self, errors: list[RuleError]) -> list[RuleError]:
        self.last_errors = errors
        if self._on_reload:
            self._on_reload("error")
        log.error("rules_rejected", errors=[str(e) for e in errors], kept_generation=self.engine.generation)
        return errors

    def reload_if_changed(self) -> list[RuleError]:
        return self.reload() if self.fingerprint() != self._seen else []

    async def watch(self, interval: float = 2.0) -> None:
        """Reload when the files change (each server process watches for itself). A reload runs
        beside the event loop, which goes on answering: a file of 4,000 rules takes about a second
        to read and compile. The engine swaps the new set in at once when it is ready."""
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.reload_if_changed)
