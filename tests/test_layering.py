"""The import graph matches the parts: read statically from the source, every import, also inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"backends": "netwatch.backends", "tui": "netwatch.tui"}


def _modules() -> dict[str, Path]:
    """Every module of netwatch by dotted name."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import statement of ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the house style is absolute imports)"
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(name if name in MODULES else node.module, id(node) in top_level) for name in names]
    return found


def _violations(importer: str, forbidden: tuple[str, ...], *, lazy_allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for module, path in MODULES.items():
        if module != importer and not module.startswith(importer + "."):
            continue
        for imported, top_level in _imports(path):
            if any(imported == prefix or imported.startswith(prefix + ".") for prefix in forbidden):
                if not top_level and any(imported.startswith(prefix) for prefix in lazy_allowed):
                    continue
                bad.append(f"{module} imports {imported}")
    return bad


RULES = [
    # (importer, what it must never import)
    ("netwatch.backends", ("netwatch.tui", "textual", "rich")),
    ("netwatch.backends.model", ("netwatch.backends.sources", "netwatch.backends.owners", "netwatch.backends.collector",
                                 "netwatch.backends.filter", "netwatch.backends.history", "psutil", "pyroute2")),
    ("netwatch.backends.sources", ("netwatch.backends.owners", "netwatch.backends.collector",
                                   "netwatch.backends.filter", "netwatch.backends.history")),
    ("netwatch.backends.owners", ("netwatch.backends.sources", "netwatch.backends.collector",
                                  "netwatch.backends.filter", "netwatch.backends.history")),
    ("netwatch.backends.filter", ("netwatch.backends.sources", "netwatch.backends.owners",
                                  "netwatch.backends.collector", "netwatch.backends.history")),
    ("netwatch.backends.history", ("netwatch.backends.sources", "netwatch.backends.owners",
                                   "netwatch.backends.collector", "netwatch.backends.filter")),
    ("netwatch.tui", ("netwatch.backends.sources", "netwatch.backends.owners", "pyroute2")),
    ("netwatch.tui.view", ("textual", "netwatch.tui.app", "netwatch.tui.cli")),
]


@pytest.mark.parametrize(("importer", "forbidden"), RULES, ids=[rule[0] for rule in RULES])
def test_layer_never_imports(importer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(importer, forbidden) == []


def test_command_line_imports_textual_only_to_start_the_app() -> None:
    """The script outputs never import Textual; the command line imports the app lazily, to run it."""
    assert _violations("netwatch.tui.cli", ("textual", "netwatch.tui.app"), lazy_allowed=("netwatch.tui.app",)) == []


def test_the_data_layer_has_one_entry_point_for_sources() -> None:
    """Only the collector picks and runs sources and joins owners: nothing else outside them imports either."""
    users = {
        module
        for module, path in MODULES.items()
        for imported, _ in _imports(path)
        if imported.startswith(("netwatch.backends.sources", "netwatch.backends.owners"))
        and not module.startswith(("netwatch.backends.sources", "netwatch.backends.owners"))
    }
    assert users == {"netwatch.backends.collector"}


def test_every_folder_is_a_part() -> None:
    """Each sub-package named in the README's picture exists: the architecture shows in ``ls``."""
    parts = {name for name in MODULES if name.count(".") == 2 and (MODULES[name].name == "__init__.py")}
    assert parts >= {
        "netwatch.backends.model", "netwatch.backends.sources", "netwatch.backends.owners",
        "netwatch.backends.filter", "netwatch.backends.history", "netwatch.tui.cli", "netwatch.tui.view",
        "netwatch.tui.app",
    }  # fmt: skip
