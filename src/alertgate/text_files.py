"""Reading the operator's text files (settings, tables, rules, the CI catalogue): one YAML parse
that refuses a key given twice (``safe_load`` keeps the last silently), and what to say when a
file cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class Unreadable(Exception):
    """A configuration file that could not be read: the line to name, and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"{line}: {reason}")
        self.line, self.reason = line, reason


NOT_UTF8 = ("not UTF-8 text (saved as GBK or another code page?): save it as UTF-8 "
            "(Excel: \"CSV UTF-8\"; or iconv -f gbk -t utf-8)")


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The file's text; raises ``Unreadable``. A file not in UTF-8 (a CSV Excel saved in GBK, say)
    is named at the line of its first bad byte, with the way to fix it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(1, f"cannot read: {exc}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Unreadable(data.count(b"\n", 0, exc.start) + 1, NOT_UTF8) from None


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


# libyaml's parser where PyYAML has it (its wheels do): a rule file of 4,000 rules parsed in 18 s
# with PyYAML's own, twice (once for the lines, once for the data), and in 1.4 s so.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for ``line_index``) and its data as ``safe_load`` gives it, from
    one parse. Raises ``yaml.YAMLError`` as ``safe_load`` does, and for a key given twice in one
    mapping (``refuse_duplicate_keys``)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            refuse_duplicate_keys(node)
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()


def load_unique(text: str) -> Any:
    """``safe_load``, with a key given twice refused (settings, tables: no lines wanted)."""
    return compose_and_load(text)[1]
