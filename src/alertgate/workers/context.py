"""What jobs need, built once when the worker starts (RQ forks each job from that process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from alertgate.moments import zone_named
from alertgate.observability.metrics import WorkerMetrics
from alertgate.rules.tables import Tables, load_tables
from alertgate.settings import Settings, load_settings
from alertgate.workers.notices import Letterhead


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    tables: Tables
    metrics: WorkerMetrics

    @property
    def letterhead(self) -> Letterhead:
        """How every notice names the service desk, and the zone it writes times in."""
        return Letterhead(self.settings.notify.service_desk, zone_named(self.settings.display_timezone) or timezone.utc)


_current: WorkerContext | None = None


def set_context(settings: Settings) -> WorkerContext:
    global _current
    _current = WorkerContext(settings, load_tables(Path(settings.config_dir)), WorkerMetrics())
    return _current


def context() -> WorkerContext:
    """The worker's context; a job run outside ``alertgate worker`` builds it from the environment."""
    return _current or set_context(load_settings())
