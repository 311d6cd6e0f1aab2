"""The house's rule (docs/architecture.md): a package imports only packages in layers below it,
and no two modules import each other, directly or around a loop. Checked on the source's imports,
function-local ones included."""

from __future__ import annotations

import ast
import pathlib

import alertgate

ROOT = pathlib.Path(alertgate.__file__).parent

# Top to bottom. A unit is a package or a top-level module of alertgate.
LAYERS = (
    ("__main__",),
    ("cli",),
    ("gateway", "workers"),
    ("console",),
    ("reconcile",),
    ("intake",),
    ("dedup",),
    ("kpi",),
    ("heartbeats", "maintenance"),
    ("problems", "rules"),
    ("correlation",),
    ("tickets",),
    ("runtime",),
    ("observability", "work_queue", "keys", "config_files", "credentials", "yaml_lines"),
    ("settings", "moments"),
    ("durations", "text_files"),
)
LAYER_OF = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["alertgate", *parts])


def _imports(path: pathlib.Path) -> set[str]:
    """Every alertgate module a file imports (``from alertgate.x import y`` counts y when y is a
    module of its own)."""
    found = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("alertgate")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("alertgate"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _exists(candidate) else base)
    return found


def _exists(module: str) -> bool:
    relative = pathlib.Path(*module.split(".")[1:])
    return (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) - {_module_name(path)} for path in ROOT.rglob("*.py")}


def _unit(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_every_unit_has_a_layer():
    units = {_unit(module) for module in _graph() if module != "alertgate"}
    assert units - LAYER_OF.keys() == set(), "place the new package in LAYERS"


def test_imports_run_down_the_house():
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items() if module != "alertgate"
        for target in targets
        if _unit(target) != _unit(module) and LAYER_OF[_unit(target)] <= LAYER_OF[_unit(module)]
    )
    assert upward == []


def test_no_import_cycle_between_modules():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            # A package's __init__ importing its own modules is how a package exposes them.
            if module == target.rpartition(".")[0] and module in graph:
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target in graph and not state.get(target):
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module, [module])
    assert cycles == []
