"""The code's shape, held by tests: the data flows one way through layers, no module
imports its way back up or round in a loop, and nothing grows past what one person reads.

Every import counts, at the top, under TYPE_CHECKING or inside a function: a loop made
of lazy imports is still a loop in the design.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "watcher"
# Lowest first. A module may import from its own layer or any below, never above.
LAYERS = [
    # plain data and the helpers every stage uses
    ["watcher", "watcher.model", "watcher.units", "watcher.text", "watcher.failpoints"],
    ["watcher.log", "watcher.sdnotify"],
    # the pure stages: read, compare, match, bound, render (and the sources' fetching)
    ["watcher.htmldepth", "watcher.htmltext", "watcher.diff", "watcher.rules", "watcher.sanitize"],
    ["watcher.sources", "watcher.sources.*"],
    ["watcher.notify.escape"],
    ["watcher.notify.render", "watcher.notify.policy", "watcher.notify.console"],
    ["watcher.notify.channels"],
    # the store
    ["watcher.store", "watcher.store.*"],
    # the config: every stage's settings in one model
    ["watcher.configfile", "watcher.config"],
    ["watcher.advice"],
    # the shells: poll, send, schedule, look back
    ["watcher.pipeline", "watcher.notify.outbox", "watcher.metrics", "watcher.lookback"],
    ["watcher.web.access", "watcher.web.live", "watcher.web.present"],
    ["watcher.web.site"],
    ["watcher.web.pages", "watcher.web.actions", "watcher.web.feeds"],
    ["watcher.web"],
    ["watcher.schedule"],
    ["watcher.check", "watcher.daemon", "watcher.rulestest", "watcher.preview"],
    ["watcher.replay"],
    # the command line
    ["watcher.cli", "watcher.__main__"],
]
# Packages whose inside is their own business: others import only their face.
FACES = ["watcher.store"]
MAX_MODULE_LINES = 350  # more needs a reason at the module's top: a "Size: …" line
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of a watcher module in `path`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target in known and target != name:
                yield target, node.lineno


def layer(name: str) -> int:
    for n, patterns in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return n
    raise AssertionError(f"{name} is in no layer of tests/test_architecture.py")


def graph() -> dict[str, list[tuple[str, int]]]:
    known = modules()
    return {name: list(imports(name, path, known)) for name, path in known.items()}


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = [
        f"{name}:{line} imports {target}"
        for name, targets in graph().items()
        for target, line in targets
        if layer(target) > layer(name)
    ]
    assert upward == []


def test_no_import_loops() -> None:
    edges = {name: {t for t, _ in targets} for name, targets in graph().items()}
    loops = []
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                loops.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                walk(target, [*path, target])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            walk(name, [name])
    assert loops == []


def test_packages_are_imported_through_their_face() -> None:
    past = [
        f"{name}:{line} imports {target}"
        for name, targets in graph().items()
        for target, line in targets
        for face in FACES
        if target.startswith(f"{face}.") and not name.startswith(f"{face}.") and name != face
    ]
    assert past == []


def test_modules_and_functions_stay_readable() -> None:
    too_long = []
    for name, path in modules().items():
        source = path.read_text()
        lines = source.count("\n")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if lines > MAX_MODULE_LINES and "\nSize: " not in f"\n{docstring}":
            too_long.append(f"{name}: {lines} lines, and no reason given")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


def test_every_source_kind_is_in_the_readme() -> None:
    from watcher.sources.base import KINDS

    readme = (ROOT / "README.md").read_text()
    assert KINDS and all(f"| `{key}` |" in readme for key in KINDS)
