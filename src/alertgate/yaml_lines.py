"""Where each value of a YAML document starts, so that an error in a configuration file names its
line (rule files, the CI catalogue): the document's node tree → path → line, and msgspec's error
paths (``$.classify[0].set``) → the same path."""

from __future__ import annotations

import re
from typing import Any

import yaml

from alertgate.text_files import refuse_duplicate_keys

# libyaml's parser where PyYAML has it (its wheels do): a rule file of 4,000 rules parsed in 18 s
# with PyYAML's own, twice (once for the lines, once for the data), and in 1.4 s so.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for ``line_index``) and its data as ``safe_load`` gives it, from
    one parse. Raises ``yaml.YAMLError`` as ``safe_load`` does, and for a key given twice in one
    mapping (``text_files.refuse_duplicate_keys``)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            refuse_duplicate_keys(node)
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()


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
