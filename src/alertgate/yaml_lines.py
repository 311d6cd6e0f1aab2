"""Where each value of a YAML document starts, so that an error in a configuration file names its
line (rule files, the CI catalogue): the document's node tree → path → line, and msgspec's error
paths (``$.classify[0].set``) → the same path."""

from __future__ import annotations

import re

import yaml


def line_index(node: yaml.Node, path: tuple = (), index: dict | None = None) -> dict[tuple, int]:
    """Every path in the document → the line (1-based) where its value starts."""
    index = {} if index is None else index
    index[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            line_index(value, path + (key.value,), index)
            index[path + (key.value,)] = key.start_mark.line + 1  # point at the key, not its value
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            line_index(item, path + (position,), index)
    return index


def error_path(text: str) -> tuple:
    """msgspec's ``.classify[0].set.impact`` → ``("classify", 0, "set", "impact")``."""
    return tuple(int(index) if index else name for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", text))


def line_of(index: dict[tuple, int], path: tuple) -> int:
    """The line of ``path``, or of its nearest ancestor the document has."""
    while path and path not in index:
        path = path[:-1]
    return index.get(path, 1)
