"""Planning maintenance windows (SPEC §10), for the API and the console alike: a window is
checked before it is stored (times sane and in UTC, matchers valid, the schedule possible and
not longer than ``maintenance.max_duration``), every change is audited, and this process holds
the new set in force at once (the others within a second, ``Intake.watch_windows``)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from alertgate.intake.sources.common import PayloadError, sane_time
from alertgate.maintenance import schedule
from alertgate.maintenance.active import ActiveWindows
from alertgate.maintenance.match import MatcherError, compile_matchers
from alertgate.maintenance.model import AuditEntry, NewWindow, Window, WindowChange, WindowView
from alertgate.maintenance.store import WindowStore
from alertgate.settings import Settings


class InvalidWindow(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def view(window: Window, now: datetime) -> WindowView:
    try:
        current = schedule.occurrence_at(window, now)
        upcoming = schedule.next_occurrence(window, current[1] if current else now)
    except schedule.UNWORKABLE as exc:   # (ActiveWindows skips it too)
        return WindowView(window=window, active=False, current=None, next=None, unusable=str(exc) or type(exc).__name__)
    return WindowView(window=window, active=current is not None, current=current, next=upcoming)


def checked(window: Window, now: datetime, settings: Settings) -> Window:
    """InvalidWindow (naming the field) unless the window can be in force as meant."""
    if window.title.isspace():
        raise InvalidWindow("$.title", "must not be blank")
    times = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = sane_time(getattr(window, name), f"$.{name}")  # in UTC (a naive time is UTC)
        except PayloadError as exc:
            raise InvalidWindow(f"$.{name}", exc.detail[0].message) from None
    window = msgspec.structs.replace(window, **times)
    try:
        compile_matchers(window.matchers)
        schedule.check(window, now, float(settings.maintenance.max_duration))
    except MatcherError as exc:
        raise InvalidWindow(exc.path, exc.message) from None
    except schedule.ScheduleError as exc:
        raise InvalidWindow(f"$.{exc.field}", exc.message) from None
    return window


class WindowPlanner:
    def __init__(self, store: WindowStore, active: ActiveWindows, settings: Settings) -> None:
        self.store, self._active, self._settings = store, active, settings

    async def _changed(self) -> None:
        await self._active.refresh(self.store)

    async def in_force(self, now: datetime) -> list[WindowView]:
        views = [v for v in (view(w, now) for w in await self.store.live(now)) if v.active]
        return sorted(views, key=lambda v: v.window.created_at, reverse=True)

    async def not_over(self, now: datetime) -> list[WindowView]:
        """The windows in force or still to come: in force first, then by start."""
        views = [v for v in (view(w, now) for w in await self.store.live(now)) if v.active or v.next]
        return sorted(views, key=lambda v: (not v.active, (v.current or v.next)[0]))

    async def page(self, now: datetime, limit: int, after: str | None = None,
                   active: bool | None = None) -> tuple[list[WindowView], str | None]:
        """Newest first (a page may be short when ``active`` filters it). Raises WindowNotFound."""
        windows, cursor = await self.store.page(limit, after)
        views = [view(w, now) for w in windows]
        return (views if active is None else [v for v in views if v.active == active]), cursor

    async def create(self, new: NewWindow, actor: str, now: datetime) -> WindowView:
        window = Window(id="", title=new.title, starts_at=new.starts_at, ends_at=new.ends_at, matchers=new.matchers,
                        all=new.all, recurrence=new.recurrence or None, timezone=new.timezone, change_id=new.change_id,
                        comment=new.comment,
                        created_by=actor, created_at=now, audit=[AuditEntry(at=now, actor=actor, action="created")])
        window = checked(window, now, self._settings)
        window = await self.store.create(msgspec.structs.replace(window, id=await self.store.new_id()))
        await self._changed()
        return view(window, now)

    async def change(self, window_id: str, update: WindowChange, actor: str, now: datetime) -> WindowView:
        """Raises WindowNotFound, InvalidWindow."""
        given = {f: getattr(update, f) for f in WindowChange.__struct_fields__ if getattr(update, f) is not None}

        def apply(current: Window) -> Window:
            if current.ended_at is not None:
                raise InvalidWindow("$", "the window was ended; plan a new one")
            fields = dict(given)
            if fields.get("recurrence") == "":
                fields["recurrence"] = None
            entry = AuditEntry(at=now, actor=actor, action="changed", note=", ".join(sorted(given)))
            return checked(msgspec.structs.replace(current, **fields, audit=current.audit + [entry]), now,
                           self._settings)
        window = await self.store.change(window_id, apply)
        await self._changed()
        return view(window, now)

    async def end(self, window_id: str, actor: str, now: datetime) -> WindowView:
        """Ends the window now (the worker releases what it held); the record stays. Raises WindowNotFound."""
        def apply(current: Window) -> Window:
            if current.ended_at is not None:
                return current
            entry = AuditEntry(at=now, actor=actor, action="ended")
            return msgspec.structs.replace(current, ended_at=now, audit=current.audit + [entry])
        window = await self.store.change(window_id, apply)
        await self._changed()
        return view(window, now)
