"""The core (domain, services, adapters) imports without the TUI.

A script, a cron job or the API server must not pay for (or depend on) textual.
Checked twice: by importing every core module in a fresh interpreter, and by
the import-linter contracts of pyproject.toml (which also keep the domain free
of I/O libraries).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CORE = ("tui_helpdesk.domain", "tui_helpdesk.services", "tui_helpdesk.adapters")
# Alembic's environment script runs migrations when imported; only Alembic loads it.
NOT_MODULES = ("tui_helpdesk.adapters.store.migrations.env",)

PROBE = r"""
import importlib, json, pkgutil, sys

core, skip = json.loads(sys.argv[1])
imported, failed = [], []

def note_failure(name):
    failed.append([name, repr(sys.exc_info()[1])])

for root in core:
    package = importlib.import_module(root)
    imported.append(root)
    for info in pkgutil.walk_packages(package.__path__, root + ".", onerror=note_failure):
        if info.name in skip or info.name.startswith(("tui_helpdesk.ui", "tui_helpdesk.cli")):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:
            note_failure(info.name)
        else:
            imported.append(info.name)

loaded = sorted(sys.modules)
print(json.dumps({
    "imported": imported,
    "failed": failed,
    "textual": [m for m in loaded if m.startswith("textual")],
    "ui": [m for m in loaded if m.startswith(("tui_helpdesk.ui", "tui_helpdesk.cli", "tui_helpdesk.api"))],
}))
"""


def test_core_imports_no_textual():
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps([CORE, NOT_MODULES])],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["failed"] == [], report["failed"]
    imported = set(report["imported"])
    # The walk really covered the core (a silently empty walk would pass anything).
    for module in ("tui_helpdesk.domain.model", "tui_helpdesk.domain.querylang", "tui_helpdesk.services.tickets",
                   "tui_helpdesk.services.views", "tui_helpdesk.adapters.store.repository",
                   "tui_helpdesk.adapters.store.viewsql", "tui_helpdesk.adapters.store.seed"):
        assert module in imported
    assert report["textual"] == [], f"the core loaded textual: {report['textual']}"
    assert report["ui"] == [], f"the core loaded the UI or CLI: {report['ui']}"


def test_import_contracts():
    script = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    argv = [script] if script else [sys.executable, "-c",
                                    "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]
    proc = subprocess.run([*argv, "--no-cache"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout and "broken." in proc.stdout


# Imports inside tui_helpdesk.ui that close a cycle and are allowed: none.
UI_CYCLE_EDGES_ALLOWED: set[tuple[str, str]] = set()


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph *edges* (module -> modules it imports), or None."""
    state: dict[str, str] = {}  # "path": on the path being walked; "done": no cycle through it
    for root in sorted(edges):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(edges[root]))]
        state[root] = "path"
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(following) == "path":
                return path[path.index(following):] + [following]
            elif following not in state:
                state[following] = "path"
                path.append(following)
                stack.append(iter(sorted(edges.get(following, ()))))
    return None


def test_no_import_cycle_among_ui_modules():
    """Every import inside the UI, lazy ones included, points one way: keymap never imports a screen."""
    import grimp

    graph = grimp.build_graph("tui_helpdesk", cache_dir=None)
    ui = {m for m in graph.modules if m == "tui_helpdesk.ui" or m.startswith("tui_helpdesk.ui.")}
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in ui} for m in ui}
    for importer, imported in UI_CYCLE_EDGES_ALLOWED:
        assert imported in edges[importer], f"{importer} no longer imports {imported}: drop it from the allowed edges"
        edges[importer].discard(imported)
    cycle = _cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
