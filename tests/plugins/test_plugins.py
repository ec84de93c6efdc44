"""The ``midimon.plugins`` facade: every public name resolves to the object in its stage's
module, importing the facade imports no stage, and type checkers see the same names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import midimon.plugins as facade


def test_every_public_name_resolves() -> None:
    """Each name in __all__ is the object its submodule defines, and dir() lists it."""
    assert facade.__all__ == sorted(facade.__all__, key=str)
    assert len(set(facade.__all__)) == len(facade.__all__)
    for name in facade.__all__:
        value = getattr(facade, name)
        assert getattr(value, "__module__", "").startswith("midimon.plugins."), name
        assert name in dir(facade)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the facade does not export fails like any missing attribute, naming it."""
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        facade.NoSuchThing  # noqa: B018


def test_importing_the_facade_imports_no_stage() -> None:
    """`import midimon.plugins` loads no submodule; one name loads its own module only
    (so `midimon verify` does not pay for the manager or the sandbox)."""
    code = (
        "import sys, midimon.plugins as p\n"
        "before = sorted(m for m in sys.modules if m.startswith('midimon.plugins.'))\n"
        "p.TriggerContext\n"
        "after = sorted(m for m in sys.modules if m.startswith('midimon.plugins.'))\n"
        "print(before, after)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = "['midimon.plugins.loading', 'midimon.plugins.loading.context']"
    assert done.stdout.strip() == f"[] {loaded}"


def test_type_checkers_see_the_same_names() -> None:
    """The names imported under TYPE_CHECKING (what mypy and editors see) are __all__."""
    tree = ast.parse(Path(facade.__file__).read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    seen = {alias.asname or alias.name for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}  # fmt: skip
    assert seen == set(facade.__all__)
