"""The CI catalogue, pure: each CI with its aliases, and the lookup every alert goes through at
intake. A raw CI resolves by exact name or alias, then case-insensitively; the index holds both
spellings, so a lookup is one or two dict reads. A catalogue is built whole and checked whole:
no name or alias may name two CIs, and parents must exist and never loop."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Annotated

import msgspec

from alertgate.tickets.alert import Alert

CIName = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=r"\S")]   # (not blank)
Text = Annotated[str, msgspec.Meta(max_length=1024)]
Criticality = Annotated[int, msgspec.Meta(ge=1, le=4)]
MANY = 1000   # aliases, parents or contacts of one CI at most
MAX_DEPTH = 16   # parents followed at most this far (a check of the catalogue, not correlation's depth)


class CI(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """One configuration item. ``criticality`` 1 (highest) – 4 is the impact of its faults where no
    rule sets one; ``parents``: the CIs it depends on (a switch, a cluster, a host).

    Tuples of strings and ``gc=False``: a catalogue of tens of thousands of CIs adds nothing for
    Python's garbage collector to walk (it cannot hold a cycle); tracked, it slowed every request."""

    name: CIName
    aliases: Annotated[tuple[CIName, ...], msgspec.Meta(max_length=MANY)] = ()
    service: Text | None = None
    owner_group: Text | None = None
    criticality: Criticality | None = None
    location: Text | None = None
    parents: Annotated[tuple[CIName, ...], msgspec.Meta(max_length=MANY)] = ()
    contacts: Annotated[tuple[Text, ...], msgspec.Meta(max_length=MANY)] = ()


class Entry(msgspec.Struct, frozen=True, gc=False):
    """A CI and where it was defined (``config/cmdb/x.yaml:12``, or ``api``)."""

    ci: CI
    origin: str


_ORIGINS = {None: lambda origin: True, "api": lambda origin: origin == "api",
            "files": lambda origin: origin != "api"}


class CatalogueInvalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Catalogue:
    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        """Raises CatalogueInvalid with every problem found, each naming where."""
        self.entries: dict[str, Entry] = {}
        owner: dict[str, Entry] = {}   # folded name or alias → the entry that claims it
        problems: list[str] = []
        for entry in entries:
            ci = entry.ci
            if ci.name in self.entries:
                problems.append(f"{entry.origin}: CI {ci.name!r} is defined twice (also {self.entries[ci.name].origin})")
                continue
            self.entries[ci.name] = entry
            for spelling in (ci.name, *ci.aliases):
                first = owner.setdefault(spelling.casefold(), entry)
                if first.ci.name != ci.name:
                    problems.append(f"{entry.origin}: {spelling!r} of CI {ci.name!r} already names CI "
                                    f"{first.ci.name!r} ({first.origin})")
        problems += self._check_parents()
        if problems:
            raise CatalogueInvalid(problems)
        self.parents = frozenset(p for entry in self.entries.values() for p in entry.ci.parents)
        self._sorted: list[str] | None = None
        self._api_count: int | None = None
        self._ancestors: dict[tuple[str, int], tuple[str, ...]] = {}
        # every spelling as written and folded → its CI (read directly by the intake's loop)
        self.index: dict[str, CI] = {folded: entry.ci for folded, entry in owner.items()}
        for entry in self.entries.values():
            for spelling in (entry.ci.name, *entry.ci.aliases):
                self.index[spelling] = entry.ci

    def _check_parents(self) -> list[str]:
        problems = []
        for name, entry in self.entries.items():
            for parent in entry.ci.parents:
                if parent not in self.entries:
                    problems.append(f"{entry.origin}: CI {name!r} names parent {parent!r}, which is not in the catalogue")
            if name in self._reachable(name, MAX_DEPTH):
                problems.append(f"{entry.origin}: CI {name!r} depends on itself through its parents")
        return problems

    def _reachable(self, name: str, depth: int) -> set[str]:
        seen: set[str] = set()
        level = {name}
        for _ in range(depth):
            level = {p for current in level if current in self.entries for p in self.entries[current].ci.parents} - seen
            if not level:
                break
            seen |= level
        return seen

    def __len__(self) -> int:
        return len(self.entries)

    def page(self, after: str | None, limit: int, origin: str | None = None) -> tuple[list[Entry], str | None, int]:
        """At most ``limit`` entries by name after ``after`` (any string: the names that sort after
        it), the cursor of the next page (None at the end), and how many entries the filter holds.
        ``origin``: "api" for the API's own CIs, "files" for the files', None for all."""
        names = self._sorted
        if names is None:
            names = self._sorted = sorted(self.entries)
        wanted = _ORIGINS[origin]
        start = 0 if after is None else bisect.bisect_right(names, after)
        shown: list[Entry] = []
        for index in range(start, len(names)):
            entry = self.entries[names[index]]
            if wanted(entry.origin):
                if len(shown) == limit:
                    return shown, shown[-1].ci.name, self.count(origin)
                shown.append(entry)
        return shown, None, self.count(origin)

    def count(self, origin: str | None = None) -> int:
        if origin is None:
            return len(self.entries)
        if self._api_count is None:   # (once per catalogue: a catalogue is never changed, only replaced)
            self._api_count = sum(1 for entry in self.entries.values() if entry.origin == "api")
        return self._api_count if origin == "api" else len(self.entries) - self._api_count

    def resolve(self, raw: str) -> CI | None:
        """The CI a sender's name means: exact name or alias, then case-insensitively; None if unknown."""
        found = self.index.get(raw)
        if found is None:
            found = self.index.get(raw.casefold())
        return found

    def canonical(self, alert: Alert) -> tuple[Alert, CI | None]:
        """The alert with its canonical CI (the sender's name kept as ``ci_raw`` when it differs),
        and the CI it resolved to; None for a CI the catalogue does not name."""
        raw = alert.ci
        get = self.index.get   # (``resolve`` inlined: this runs for every alert of a storm)
        ci = get(raw) or get(raw.casefold())
        if ci is None or ci.name == raw:
            return alert, ci
        return msgspec.structs.replace(alert, ci=ci.name, ci_raw=raw), ci

    def ancestors_of(self, name: str, depth: int) -> tuple[str, ...]:
        """``ancestors``, worked out once per CI and depth."""
        key = (name, depth)
        found = self._ancestors.get(key)
        if found is None:
            found = self._ancestors[key] = tuple(self.ancestors(name, depth))
        return found

    def ancestors(self, name: str, depth: int) -> list[str]:
        """The CIs ``name`` depends on, nearest first, at most ``depth`` levels up, each once."""
        found: list[str] = []
        level = [name]
        for _ in range(depth):
            level = [p for current in level if current in self.entries for p in self.entries[current].ci.parents
                     if p != name and p not in found]
            level = list(dict.fromkeys(level))
            if not level:
                break
            found += level
        return found


class CIBody(CI, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A CI as ``PUT /api/v1/cis/{name}`` takes it: the name comes from the path (a ``name`` in
    the body must be the same)."""

    name: CIName | None = None

    def named(self, name: str) -> CI:
        """The CI under the path's name, checked as a body is (raises msgspec.ValidationError)."""
        return msgspec.convert(msgspec.structs.asdict(self) | {"name": name}, CI)
