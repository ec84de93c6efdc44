"""docs/capabilities.md's Filesystem section stays true: each claim names a test that exists
(and runs in this suite), and the table of refused paths is exactly what the code refuses."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from helpers import REPO, MakePlugin

DOC = REPO / "docs" / "capabilities.md"


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Filesystem: exactly what is enforced")
    return text[start : text.index("\n## ", start + 1)]


def defined_test_names() -> set[str]:
    names = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    return names


def test_every_claim_names_tests_that_exist() -> None:
    """Each bullet of the section ends with the tests that check it, and each exists."""
    claims = re.findall(r"^- (.*?)(?=^- |^\n)", section(), re.MULTILINE | re.DOTALL)
    assert len(claims) >= 8
    known = defined_test_names()
    for claim in claims:
        named = re.findall(r"`(test_\w+)`", claim)
        assert named, f"claim without a test: {claim[:80]}"
        for name in named:
            assert name in known, f"{name} (named in {DOC.name}) is not a test"


def table_rows() -> list[tuple[str, str]]:
    return re.findall(r"^\| `([^`]+)` \| (.+?) \|$", section(), re.MULTILINE)


def test_the_refused_table_is_what_the_code_refuses(
    make_plugin: MakePlugin, midimon_env: dict[str, str], isolated_dirs, monkeypatch, tmp_path
) -> None:
    """Every row of the table is refused by the real check, and every folder the code
    protects has a row."""
    from midimon.plugins.sandbox.grant_paths import (
        UnsafeGrantPath,
        check_grant_path,
        protected_paths,
    )

    monkeypatch.setenv("HOME", midimon_env["HOME"])
    plugin = make_plugin("doc_probe")
    symbolic = {"<each plugins dir>": plugin.parent, "<the plugin's folder>": plugin}
    protected = protected_paths([plugin.parent], plugin)
    rows = table_rows()
    assert len(rows) == 11, rows
    covered = set()
    for template, _holds in rows:
        path = symbolic.get(template) or Path(os.path.expandvars(template)).expanduser()
        assert "$" not in str(path), template
        with pytest.raises(UnsafeGrantPath):
            check_grant_path(path, protected, must_exist=False)
        covered.add(path.resolve())
    missing = [p.path for p in protected if p.path not in covered]
    assert not missing, f"protected but not in {DOC.name}'s table: {missing}"
