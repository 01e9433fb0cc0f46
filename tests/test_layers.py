"""The package's shape holds: a Qt-free core, no import cycle, and layers that point one way.

The modules are found by walking ``app/`` (not a hand-picked list), and the imports are read with
``ast`` from the source (every ``import`` and ``from`` statement, those inside functions
included), so a lazy import that closes a circle is found as surely as one at the top.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

APP = ROOT / "app"

# What each part may import besides itself. A key names a package (and everything in it) or a
# module; the longest key that names a module is its rule. An entry ending in ".*" is a package
# and everything in it; any other entry is that one module (for a package: its __init__ only).
CORE = {"app", "app.config", "app.db", "app.resources", "app.net", "app.runtime", "app.display"}
LOWER = {"app.records.*", "app.filters.*", "app.capture.*"}
LAYERS: dict[str, set[str]] = {
    "app": set(),
    "app.config": {"app"},
    "app.db": set(),
    "app.resources": set(),
    "app.net": set(),
    "app.display": set(),
    "app.runtime": {"app", "app.config", "app.net"},
    # The field catalogue is below both the capture and the filter language.
    "app.records": CORE,
    "app.filters": CORE | {"app.records.*"},
    "app.capture": CORE | {"app.records.*", "app.filters.*"},
    # The capture's format and its only writer do not know the filter language; only the
    # readers that take a filter (summary, follow) do.
    "app.capture.answers": CORE | {"app.records.*"},
    "app.capture.schema": CORE | {"app.records.*", "app.capture.answers"},
    "app.capture.writer": CORE | {"app.records.*", "app.capture.schema", "app.capture.answers",
                                  "app.capture.ledger", "app.capture.inbox"},
    # The writer's inbox (acknowledged, not folded yet): a file format, nothing more.
    "app.capture.inbox": CORE,
    # The redelivery ledger: filled by the writer, read by summary and the window.
    "app.capture.ledger": CORE | {"app.records.*", "app.capture.schema"},
    # The answer rules' grammar: the window validates a rule with it, the receiver decides.
    "app.capture.rules": CORE,
    "app.server": CORE | LOWER - {"app.filters.*"},
    # The public URL's tunnels know nothing of the capture: they forward to the receiver.
    "app.server.public": CORE,
    "app.export": CORE | LOWER,
    # The curl script's commands come from the one curl builder, Copy as cURL's.
    "app.export.curlscript": CORE | LOWER | {"app.export.common", "app.replay.curl"},
    "app.replay": CORE | LOWER,
    # The command line drives everything but the window ...
    "app.cli": CORE | LOWER | {"app.server.*", "app.export.*", "app.replay.*"},
    # ... which only its entry point starts (lazily); the options never import the window.
    "app.cli.main": CORE | LOWER | {"app.server.*", "app.export.*", "app.replay.*", "app.cli.*",
                                    "app.ui.*"},
    "app.__main__": {"app.cli.main"},
    # The window: everything below, the command line's options (and how its children are
    # cancelled) only, never the server.
    "app.ui": CORE | LOWER | {"app.export.*", "app.replay.*", "app.cli", "app.cli.options",
                              "app.cli.cancel"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}
PACKAGES = {module_name(p) for p in APP.rglob("__init__.py")}


def imports_of(name: str) -> set[str]:
    """The app modules ``name`` imports anywhere in its source (relative imports resolved)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]))
    package = name if name in PACKAGES else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES else module)
    return {m for m in found if m in MODULES}


GRAPH = {name: imports_of(name) for name in MODULES}


def parents(name: str) -> set[str]:
    """The packages Python runs (their ``__init__``) before it runs ``name``."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_the_walk_finds_the_packages():
    assert {"app.records.shape", "app.capture.writer", "app.server.receiver",
            "app.filters.parser", "app.export.registry", "app.replay.sender", "app.cli.main",
            "app.ui.window"} <= set(MODULES)
    assert all(GRAPH[name] for name in ("app.server.serve", "app.ui.window", "app.cli.main"))


def test_every_non_ui_module_imports_without_qt():
    names = sorted(n for n in MODULES if n != "app.ui" and not n.startswith("app.ui.")
                   and n != "app.__main__")  # __main__ runs the command line
    assert len(names) > 25
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "    if any(m == 'PySide6' or m.startswith('PySide6.') for m in sys.modules):\n"
            "        sys.exit(f'importing {name} loaded PySide6')\n"
            "print(len(sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_cycle():
    graph = {name: targets | parents(name) for name, targets in GRAPH.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1][::-1]  # graphlib lists each module before the ones importing it
        raise AssertionError("import cycle: " + " imports ".join(cycle)) from None


def rule_of(name: str) -> str:
    """The key of ``LAYERS`` that rules ``name``: the longest that names it."""
    return max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len)


def allowed(target: str, rule: set[str]) -> bool:
    return target in rule or any(
        entry.endswith(".*") and (target == entry[:-2] or target.startswith(entry[:-1]))
        for entry in rule)


def own_part(name: str) -> str:
    """The package a module belongs to (itself for a top-level module)."""
    parts = name.split(".")
    return ".".join(parts[:2])


def test_layers_point_one_way():
    wrong = []
    for name, targets in GRAPH.items():
        key = rule_of(name)
        for target in sorted(targets):
            if key in PACKAGES and own_part(target) == key:
                continue  # within its own package (a module's own rule says it all)
            if not allowed(target, LAYERS[key]):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_rule_names_every_module():
    """A new top-level module or package gets a rule (it is not silently allowed everything)."""
    tops = {own_part(name) for name in MODULES}
    assert tops <= set(LAYERS), tops - set(LAYERS)
