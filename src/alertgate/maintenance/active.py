"""Each process's view of the windows in force: the windows are reloaded when their version in
Redis moves (a gateway checks every second), and the ones in force are worked out once until the
next start or end of an occurrence, not per alert. Matching an alert is then O(windows in force),
and nothing at all while none is."""

from __future__ import annotations

from datetime import datetime

from alertgate.maintenance import schedule
from alertgate.maintenance.match import Test, compile_matchers, matches
from alertgate.maintenance.model import Window
from alertgate.maintenance.store import WindowStore
from alertgate.rules.policy import Policy
from alertgate.tickets.alert import Alert, AlertStatus



class ActiveWindows:
    def __init__(self) -> None:
        self._windows: list[tuple[Window, list[Test]]] = []
        self._version: object = object()   # (never equal to what Redis holds)
        self._in_force: list[tuple[str, list[Test]]] = []
        self._valid: tuple[datetime, datetime] | None = None   # [from, until) the in-force list holds
        self.changes = 0   # counts the times the in-force list was worked out anew

    async def refresh(self, store: WindowStore) -> None:
        version = await store.version()
        if version != self._version:
            self.load(await store.all())
            self._version = version

    def load(self, windows: list[Window]) -> None:
        loaded = []
        for window in windows:
            try:
                loaded.append((window, compile_matchers(window.matchers)))
            except ValueError:  # (checked when saved: a record from elsewhere is skipped)
                continue
        self._windows, self._valid = loaded, None

    def in_force(self, now: datetime) -> list[tuple[str, list[Test]]]:
        valid = self._valid
        if valid is not None and valid[0] <= now < valid[1]:
            return self._in_force
        in_force, until = [], None
        for window, tests in self._windows:
            current = schedule.occurrence_at(window, now)
            if current is not None:
                in_force.append((window.id, tests))
                edge = current[1]
            else:
                upcoming = schedule.next_occurrence(window, now)
                edge = upcoming[0] if upcoming else None
            if edge is not None and (until is None or edge < until):
                until = edge
        self._in_force = in_force
        self.changes += 1
        self._valid = (now, until) if until is not None else (now, datetime.max.replace(tzinfo=now.tzinfo))
        return in_force

    def holding(self, alerts: list[Alert], policies: list[Policy], now: datetime) -> list[str | None] | None:
        """Per alert, the window that holds it (a firing alert it matches), or None for all when
        no window is in force."""
        in_force = self.in_force(now) if self._windows else []
        if not in_force:
            return None
        first_id, first_tests = in_force[0]
        if not first_tests:  # (a window of all alerts holds every firing one: no test per alert)
            return [first_id if alert.status is AlertStatus.FIRING and not alert.update else None for alert in alerts]
        held: list[str | None] = []
        for alert, policy in zip(alerts, policies):
            found = None
            if alert.status is AlertStatus.FIRING and not alert.update:
                for window_id, tests in in_force:
                    if not tests or matches(tests, alert, policy.affected_service):
                        found = window_id
                        break
            held.append(found)
        return held
