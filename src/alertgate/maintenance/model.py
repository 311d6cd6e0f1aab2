"""A maintenance window as the API takes it, changes it and shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(max_length=4096)]
ZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]   # an IANA zone: Asia/Shanghai


class Matcher(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``field``: ci, service, source, symptom or label.<name>; ``op``: eq, re (a full match,
    RE2) or in (``value`` a list)."""

    field: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    op: Literal["eq", "re", "in"]
    value: Annotated[str, msgspec.Meta(max_length=4096)] | Annotated[list[Text], msgspec.Meta(max_length=1000)]


class NewWindow(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    starts_at: datetime
    ends_at: datetime
    matchers: Annotated[list[Matcher], msgspec.Meta(max_length=100)] = []
    all: bool = False
    recurrence: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    timezone: ZoneName | None = None   # the zone a recurrence's days and hours are in (default UTC)
    change_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    comment: Text | None = None


class WindowChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH: the fields given replace the window's; ``recurrence: ""`` removes it."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    matchers: Annotated[list[Matcher], msgspec.Meta(max_length=100)] | None = None
    all: bool | None = None
    recurrence: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    timezone: ZoneName | None = None
    change_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    comment: Text | None = None


class AuditEntry(msgspec.Struct, kw_only=True):
    at: datetime
    actor: str
    action: str          # created, changed, ended
    note: str = ""


class Push(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The window as one source holds it: an Alertmanager silence or a Zabbix maintenance."""

    status: str                          # pushed, removed, failed, not_expressible
    remote_id: str | None = None         # the silence's id, the maintenance's id
    starts_at: datetime | None = None    # the occurrence pushed
    ends_at: datetime | None = None
    error: str | None = None
    attempts: int = 0                    # failed attempts in a row (retried every sweep)
    at: datetime | None = None


class Window(msgspec.Struct, kw_only=True):
    id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    matchers: list[Matcher] = []
    all: bool = False
    recurrence: str | None = None
    timezone: str | None = None          # the zone the recurrence's days and hours are in (None: UTC)
    change_id: str | None = None
    comment: str | None = None
    created_by: str
    created_at: datetime
    ended_at: datetime | None = None     # ended early (DELETE): the record stays
    audit: list[AuditEntry] = []
    pushes: dict[str, Push] = {}         # "alertmanager:<name>" / "zabbix:<name>" → its state there


class WindowView(msgspec.Struct, kw_only=True):
    window: Window
    active: bool
    current: tuple[datetime, datetime] | None   # the occurrence in force now
    next: tuple[datetime, datetime] | None      # the next one to come
    unusable: str | None = None   # why a stored record cannot be worked (written by hand): it holds nothing
