"""The package's shape: small modules, and the plugin system below the engine, daemon and CLI.

Static checks on the source tree (no import runs), so a regression names the file at fault.
"""

from __future__ import annotations

import ast
from pathlib import Path

import midimon

PACKAGE = Path(midimon.__file__).resolve().parent
MAX_LINES = 600

#: Modules allowed past MAX_LINES while a split is in flight (none now: issue 13 split them).
OVERSIZED_FOR_NOW: set[str] = set()

#: Layers the plugin system must never import: it sits below them.
ABOVE_PLUGINS = ("midimon.engine", "midimon.daemon", "midimon.cli")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` / ``from ... import`` in ``path`` names, lazy ones included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "midimon":
                found.extend((node.lineno, f"midimon.{alias.name}") for alias in node.names)
    return found


def test_the_package_has_modules_to_check() -> None:
    assert len(_modules()) > 50, f"found only {len(_modules())} modules under {PACKAGE}"


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and rel not in OVERSIZED_FOR_NOW:
            too_long[rel] = lines
    assert not too_long, (
        f"modules over {MAX_LINES} lines: {too_long}; split them by job (one job per module)"
    )


def test_the_plugin_system_imports_nothing_from_the_layers_above_it() -> None:
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {name}"
        for path in sorted((PACKAGE / "plugins").rglob("*.py"))
        for line, name in _imported_names(path)
        if any(name == layer or name.startswith(layer + ".") for layer in ABOVE_PLUGINS)
    ]
    assert not offending, "midimon.plugins must not import engine/daemon/cli:\n" + "\n".join(
        offending
    )


def test_the_import_check_sees_lazy_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function body is found too."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from midimon.daemon import server\n    from midimon import cli\n",
        encoding="utf-8",
    )
    assert {(2, "midimon.daemon"), (3, "midimon.cli")} <= set(_imported_names(module))
