"""Reading the operator's text files (settings, tables, rules, the CI catalogue): what to say when
one cannot be read, and a YAML key given twice, which ``safe_load`` takes silently."""

from __future__ import annotations

from pathlib import Path

import yaml


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


def refuse_duplicate_keys(root: yaml.Node) -> None:
    """A key given twice in one mapping of a YAML document raises ``yaml.YAMLError`` naming its
    line: ``safe_load`` keeps the last silently, so a rule's second ``set:`` dropped its first."""
    pending = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key.value!r} given twice in one mapping (also at line "
                            f"{seen[key.value].start_mark.line + 1}): only the last would count", key.start_mark)
                    seen[key.value] = key
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
