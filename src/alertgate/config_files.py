"""Configuration files for the operator: the shipped defaults written into a folder (``alertgate
init``), a new credential into ``alertgate.yaml`` (``alertgate token --write``), and the stamp that
tells a process its files changed (the rules, the CI catalogue)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from alertgate.settings import PACKAGED_CONFIG, SettingsError, TokenConfig, load_settings


def fingerprint(paths: list[Path]) -> tuple:
    """What changes when an operator edits, adds or removes one of ``paths`` (gone ones are left out)."""
    stamp = []
    for path in paths:
        try:
            stat = path.stat()
            stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            continue
    return tuple(stamp)


def write_defaults(target: Path) -> tuple[list[Path], list[Path]]:
    """Copy every shipped file into ``target``; a file already there is kept, never overwritten.
    Returns (written, kept)."""
    written, kept = [], []
    source = PACKAGED_CONFIG.resolve()
    for path in sorted(source.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        destination = target / path.relative_to(source)
        if destination.exists():
            kept.append(destination)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        written.append(destination)
    return written, kept


def token_entry(token: TokenConfig) -> str:
    return f"  - name: {token.name}\n    role: {token.role.value}\n    secret_sha256: {token.secret_sha256}\n"


def add_token(config_dir: Path, token: TokenConfig) -> Path:
    """Append the entry to ``tokens:`` in ``alertgate.yaml`` (``tokens: []`` becomes a list), check
    that the file still loads, and put it back as it was if not. Raises ValueError with the reason."""
    config_file = config_dir / "alertgate.yaml"
    if config_dir.resolve() == PACKAGED_CONFIG.resolve():
        raise ValueError("the settings in use are the package's own defaults: write a folder to edit with "
                         "`alertgate init ./config` first (or set ALERTGATE_CONFIG_DIR)")
    original = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    if re.search(rf"^\s*-?\s*name:\s*['\"]?{re.escape(token.name)}['\"]?\s*$", original, re.M):
        raise ValueError(f"a token named {token.name!r} is already in {config_file}")
    config_file.write_text(_with_token(original, token_entry(token)), encoding="utf-8")
    try:
        names = [t.name for t in load_settings({"ALERTGATE_CONFIG_DIR": str(config_dir)}).tokens]
    except SettingsError as exc:
        config_file.write_text(original, encoding="utf-8")
        raise ValueError(f"{config_file} would not load with the new entry ({exc}); it is unchanged") from None
    if token.name not in names:
        config_file.write_text(original, encoding="utf-8")
        raise ValueError(f"could not place the entry under tokens: in {config_file}; it is unchanged")
    return config_file


def _with_token(text: str, entry: str) -> str:
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if re.match(r"^tokens:\s*(\[\s*\])?\s*(#.*)?$", line):
            if "[" in line:
                lines[index] = "tokens:\n"
            end = index + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t", "-")) or not lines[end].strip()):
                end += 1
            while end > index + 1 and not lines[end - 1].strip():
                end -= 1
            lines.insert(end, entry)
            return "".join(lines)
    separator = "" if not text or text.endswith("\n") else "\n"
    return text + separator + "tokens:\n" + entry
