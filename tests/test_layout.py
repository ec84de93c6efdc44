"""The package's shape: small modules, the plugin system below the engine, daemon and CLI,
and tests that mirror the package.

Static checks on the source tree (no import runs), so a regression names the file at fault.
"""

from __future__ import annotations

import ast
from pathlib import Path

import midimon

PACKAGE = Path(midimon.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent
MAX_LINES = 500
#: A module with more lines of code than this (docstrings, comments, blank lines not counted)
#: has logic worth a test module of its own.
MIN_CODE_LINES_FOR_A_TEST = 40

#: Modules allowed past MAX_LINES while a split is in flight (none now: issue 13 split them).
OVERSIZED_FOR_NOW: set[str] = set()

#: Modules with logic but no test module of their own yet, each with where it is tested now.
#: Shrink only: a new module comes with its tests/<package path>/test_<module>.py.
WITHOUT_OWN_TEST_MODULE: dict[str, str] = {
    # Data only: one frozen dataclass per trigger type; trigger_schema.py builds and checks
    # them (tests/engine/test_trigger_schema.py), triggers.py runs them (test_triggers.py).
    "engine/trigger_specs.py": "tests/engine/test_trigger_schema.py",
    # Exception classes only; issue 13 regroups them under one root, with their own tests.
    "plugins/errors.py": "every test that expects a LoadError or a ManifestError",
    # Exception classes and their exit statuses only: tests/test_errors.py checks every errors
    # module (root, old import paths, exit statuses) in one place.
    "daemon/errors.py": "tests/test_errors.py",
}

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


def code_lines(path: Path) -> int:
    """Lines of code in ``path``: not blank, not a comment, not part of a docstring."""
    text = path.read_text(encoding="utf-8")
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#") and number not in docstrings
    )


def test_module_for(module: Path) -> Path:
    """Where the tests of ``module`` live: ``midimon/a/b.py`` -> ``tests/a/test_b.py``
    (``_b.py`` -> ``test_b.py``; a package's ``__init__.py`` -> ``tests/a/test_a.py``)."""
    rel = module.relative_to(PACKAGE)
    if rel.name == "__init__.py":
        return TESTS / rel.parent / f"test_{rel.parent.name or 'midimon'}.py"
    return TESTS / rel.parent / f"test_{rel.stem.lstrip('_')}.py"


test_module_for.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def test_every_module_with_logic_has_its_test_module() -> None:
    """tests/ mirrors midimon/: each module past MIN_CODE_LINES_FOR_A_TEST lines of code has
    tests/<package path>/test_<module>.py (or a reason in WITHOUT_OWN_TEST_MODULE)."""
    missing = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        lines = code_lines(path)
        if lines > MIN_CODE_LINES_FOR_A_TEST and rel not in WITHOUT_OWN_TEST_MODULE:
            expected = test_module_for(path)
            if not expected.is_file():
                missing[rel] = f"{expected.relative_to(TESTS.parent)} ({lines} lines of code)"
    assert not missing, "modules without their test module:\n" + "\n".join(
        f"  {rel}: add {where}" for rel, where in sorted(missing.items())
    )
    stale = {
        rel for rel in WITHOUT_OWN_TEST_MODULE
        if not (PACKAGE / rel).is_file() or test_module_for(PACKAGE / rel).is_file()
    }  # fmt: skip
    assert not stale, f"remove from WITHOUT_OWN_TEST_MODULE (gone, or tested now): {stale}"


def test_the_mirror_rule() -> None:
    """The checker itself: where each kind of module's tests go, and what counts as code."""
    assert test_module_for(PACKAGE / "plugins" / "sandbox" / "wire.py") == (
        TESTS / "plugins" / "sandbox" / "test_wire.py"
    )
    assert test_module_for(PACKAGE / "_toml.py") == TESTS / "test_toml.py"
    assert test_module_for(PACKAGE / "cli" / "__init__.py") == TESTS / "cli" / "test_cli.py"
    assert test_module_for(PACKAGE / "__init__.py") == TESTS / "test_midimon.py"


def test_code_lines_leave_out_docstrings_and_comments(tmp_path: Path) -> None:
    """Docstrings (module, class, function), comments and blank lines are not code."""
    module = tmp_path / "m.py"
    module.write_text(
        '"""Module\n\ndocstring."""\n\n# a comment\nimport os\n\n\n'
        'class A:\n    """Doc."""\n\n    def f(self):\n        """Doc\n        more."""\n'
        "        return os.sep  # trailing comment counts: the line is code\n",
        encoding="utf-8",
    )
    assert code_lines(module) == 4  # import, class, def, return


def test_tests_share_helpers_by_import_not_through_conftest() -> None:
    """No test imports conftest: fixtures come from conftest.py by name, shared functions and
    types from plain helper modules (tests/helpers.py ...), which pytest's pythonpath finds."""
    offending = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(name.split(".")[-1] == "conftest" for name in names):
                offending.append(f"{path.relative_to(TESTS.parent)}:{node.lineno}")
    assert not offending, "imports of conftest (use a fixture or tests/helpers.py): " + str(
        offending
    )
