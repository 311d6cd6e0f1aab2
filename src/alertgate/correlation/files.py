"""The catalogue's files, ``config/cmdb/*.yaml`` and ``*.csv``, read into entries that name file
and line; every problem of every file is reported, none stops at the first.

YAML: a list of CIs, or a mapping with ``cis:`` holding the list. CSV (an export from a CMDB or
NetBox): a header row, columns matched case-insensitively to the CI's fields, list columns
(``aliases``, ``parents``, ``contacts``) separated by ``;``; other columns are ignored."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import msgspec
import yaml

from alertgate.correlation.catalogue import CI, Entry
from alertgate.text_files import Unreadable, compose_and_load, read_text
from alertgate.yaml_lines import error_path, line_index, line_of

LISTS = ("aliases", "parents", "contacts")
COLUMNS = frozenset(CI.__struct_fields__)
PATTERNS = ("*.yaml", "*.yml", "*.csv")


def catalogue_files(directory: Path) -> list[Path]:
    return sorted(path for pattern in PATTERNS for path in directory.glob(pattern))


def load_directory(directory: Path) -> tuple[list[Entry], list[str]]:
    """Every CI of every file (in file order), and every problem found."""
    entries: list[Entry] = []
    problems: list[str] = []
    for path in catalogue_files(directory):
        found, wrong = load_csv(path) if path.suffix == ".csv" else load_yaml(path)
        entries += found
        problems += wrong
    return entries, problems


def load_yaml(path: Path) -> tuple[list[Entry], list[str]]:
    try:
        node, data = compose_and_load(read_text(path))
    except Unreadable as exc:
        return [], [f"{path}:{exc}"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [f"{path}:{(mark.line + 1) if mark else 1}: not valid YAML: {getattr(exc, 'problem', exc)}"]
    if node is None:
        return [], []
    index = line_index(node)
    prefix: tuple = ()
    if isinstance(data, dict) and set(data) == {"cis"}:
        data, prefix = data["cis"], ("cis",)
    if not isinstance(data, list):
        return [], [f"{path}:1: a catalogue file is a list of CIs (or `cis:` with the list)"]
    entries, problems = [], []
    for position, raw in enumerate(data):
        at = prefix + (position,)
        try:
            ci = msgspec.convert(raw, CI)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `$")
            problems.append(f"{path}:{line_of(index, at + error_path(where.rstrip('`')))}: {message}")
            continue
        entries.append(Entry(ci, f"{path}:{line_of(index, at)}"))
    return entries, problems


def load_csv(path: Path) -> tuple[list[Entry], list[str]]:
    try:   # (decoded whole, so that a byte that is not UTF-8 is named by its line)
        rows = list(_rows(csv.DictReader(io.StringIO(read_text(path, "utf-8-sig"), newline=""))))
    except Unreadable as exc:
        return [], [f"{path}:{exc}"]
    except csv.Error as exc:
        return [], [f"{path}:1: cannot read: {exc}"]
    if not rows:
        return [], []
    if "name" not in rows[0][1]:
        return [], [f"{path}:1: the header has no `name` column"]
    entries, problems = [], []
    for line, row in rows:
        try:
            ci = msgspec.convert(row, CI, strict=False)
        except msgspec.ValidationError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        entries.append(Entry(ci, f"{path}:{line}"))
    return entries, problems


def _rows(reader: csv.DictReader):
    """(line, the row's CI fields): empty cells left out, list cells split on ``;``."""
    for row in reader:
        fields: dict[str, object] = {}
        for column, value in row.items():
            name = (column or "").strip().lower()
            if name not in COLUMNS or value is None or not value.strip():
                continue
            value = value.strip()
            fields[name] = [part.strip() for part in value.split(";") if part.strip()] if name in LISTS else value
        yield reader.line_num, fields
