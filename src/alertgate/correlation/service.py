"""The catalogue as each process runs it: the files of ``config/cmdb/`` and the CIs pushed
through the API, built into one Catalogue and swapped whole. A reload that finds any problem
keeps the last good catalogue (as the rules do); the problems name file and line. Alerts are
resolved here at intake, and the raw CIs it does not know are counted (in this process, then
added to Redis by the watch, so that operators see what their catalogue misses)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from alertgate.config_files import fingerprint
from alertgate.correlation.catalogue import CI, Catalogue, CatalogueInvalid, Entry
from alertgate.correlation.files import catalogue_files, load_directory
from alertgate.correlation.store import CatalogueStore
from alertgate.runtime.watching import never, watch_every
from alertgate.tickets.alert import Alert

log = structlog.get_logger("alertgate.catalogue")
API_ORIGIN = "api"
UNKNOWN_NAMES = 10_000   # distinct unknown raw CIs a process counts between two flushes


class CatalogueService:
    def __init__(self, directory: Path, store: CatalogueStore,
                 on_unknown: Callable[[str, int], None] | None = None) -> None:
        self.directory = directory
        self.store = store   # (a worker that opens a Redis client per sweep sets its own)
        self._on_unknown = on_unknown
        self.catalogue = Catalogue()
        self.active = False   # the catalogue holds a CI (without one, intake skips it)
        self.last_problems: list[str] = []
        self._files: list[Entry] = []
        self._api: list[Entry] = []
        self._seen: tuple = ()
        self._version: object = object()   # (never what Redis holds)
        self._unknown: dict[str, int] = {}
        self.reload_files()

    # -- loading ---------------------------------------------------------------------------------

    def fingerprint(self) -> tuple:
        return fingerprint(catalogue_files(self.directory))

    def reload_files(self) -> list[str]:
        """Read every file; on any problem keep the running catalogue and return the problems."""
        self._seen = self.fingerprint()
        entries, problems = load_directory(self.directory)
        if not problems:
            problems = self._swap(entries, self._api)
        self.last_problems = problems
        if problems:
            log.error("catalogue_rejected", problems=problems, kept=len(self.catalogue))
        else:
            log.info("catalogue_loaded", cis=len(self.catalogue), files=len(self._seen))
        return problems

    async def refresh(self) -> None:
        """Reload the files if they changed, and the API's CIs if their version moved."""
        if self.fingerprint() != self._seen:
            self.reload_files()
        version = await self.store.version()
        if version != self._version:
            api = [Entry(ci, API_ORIGIN) for ci in await self.store.all()]
            problems = self._swap(self._files, api)
            if problems:  # (two pushes that conflict, checked each against its own view)
                log.error("catalogue_api_rejected", problems=problems, kept=len(self.catalogue))
            self._version = version

    def _swap(self, files: list[Entry], api: list[Entry]) -> list[str]:
        try:
            self.catalogue = Catalogue([*files, *api])
        except CatalogueInvalid as exc:
            return exc.problems
        self.active = len(self.catalogue) > 0
        self._files, self._api = files, api
        return []

    async def watch(self, away: Callable[[BaseException], bool] = never) -> None:
        """The catalogue reloaded, and the unknown CIs' counts written (they wait while Redis is away)."""
        await watch_every(1.0, self._refresh_and_flush, "CI catalogue", away)

    async def _refresh_and_flush(self) -> None:
        await self.refresh()
        await self.flush_unknown()

    # -- the API's changes -----------------------------------------------------------------------

    def origin(self, name: str) -> str | None:
        entry = self.catalogue.entries.get(name)
        return entry.origin if entry else None

    def check_put(self, ci: CI) -> list[str]:
        """What would be wrong with the catalogue if ``ci`` were pushed (nothing: an empty list)."""
        origin = self.origin(ci.name)
        if origin is not None and origin != API_ORIGIN:
            return [f"CI {ci.name!r} is defined in {origin}: change it there"]
        others = [e for e in self._api if e.ci.name != ci.name]
        try:
            Catalogue([*self._files, *others, Entry(ci, API_ORIGIN)])
        except CatalogueInvalid as exc:
            return exc.problems
        return []

    def check_delete(self, name: str) -> list[str]:
        origin = self.origin(name)
        if origin is not None and origin != API_ORIGIN:
            return [f"CI {name!r} is defined in {origin}: remove it there"]
        children = sorted(n for n, e in self.catalogue.entries.items() if name in e.ci.parents)
        if children:
            return [f"CI {name!r} is a parent of {', '.join(children[:10])}: change those first"]
        return []

    async def put(self, ci: CI) -> None:
        await self.store.put(ci)
        await self.refresh()

    async def delete(self, name: str) -> bool:
        removed = await self.store.delete(name)
        await self.refresh()
        return removed

    # -- intake ----------------------------------------------------------------------------------

    def count_unknown(self, alerts: Sequence[Alert], cis: Sequence[CI | None]) -> None:
        """Count the raw CIs of the alerts the catalogue did not resolve (``cis``: None)."""
        counts = self._unknown
        for alert, ci in zip(alerts, cis):
            if ci is None:
                if alert.ci in counts or len(counts) < UNKNOWN_NAMES:
                    counts[alert.ci] = counts.get(alert.ci, 0) + 1
                if self._on_unknown is not None:
                    self._on_unknown(alert.source, 1)

    async def unknown(self, limit: int) -> list[tuple[str, int]]:
        """The raw CIs no CI names, most alerts first (every process's counts, as last flushed)."""
        return await self.store.unknown(limit)

    async def forget_unknown(self) -> None:
        self._unknown = {}
        await self.store.forget_unknown()

    async def flush_unknown(self) -> None:
        if self._unknown:
            counts, self._unknown = self._unknown, {}
            await self.store.count_unknown(counts)
