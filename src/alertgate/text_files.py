"""Reading the operator's text files (settings, tables, rules, the CI catalogue): what to say when
one cannot be read."""

from __future__ import annotations

from pathlib import Path


def unreadable(path: Path, exc: Exception) -> tuple[int, str]:
    """The line and the reason a configuration file could not be read. A file not in UTF-8 (a CSV
    Excel saved in GBK, say) is named at its first bad byte, with the way to fix it."""
    if isinstance(exc, UnicodeDecodeError):
        try:
            line = path.read_bytes().count(b"\n", 0, exc.start) + 1
        except OSError:
            line = 1
        return line, ("not UTF-8 text (saved as GBK or another code page?): save it as UTF-8 "
                      "(Excel: \"CSV UTF-8\"; or iconv -f gbk -t utf-8)")
    return 1, f"cannot read: {exc}"
