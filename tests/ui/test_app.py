"""The panel's application table (ui/app.py): exactly the built files are served, each by its
type; anything else is no route at all. Served over real HTTP: tests/ui/test_security.py."""

from __future__ import annotations

from pathlib import Path

from midimon.ui.app import _asset_table, static_dir


def test_only_the_builds_own_files_are_in_the_table(tmp_path: Path) -> None:
    """index.html at /, and assets/ files of the served types; no source map, no folder, no
    other file of the root."""
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "BUILD.json").write_text("{}")
    assets = tmp_path / "assets"
    (assets / "nested").mkdir(parents=True)
    for name in ("app.js", "style.css", "logo.svg", "app.js.map", "notes.txt"):
        (assets / name).write_text("x")
    table = _asset_table(tmp_path)
    assert table == {
        "/": tmp_path / "index.html",
        "/assets/app.js": assets / "app.js",
        "/assets/logo.svg": assets / "logo.svg",
        "/assets/style.css": assets / "style.css",
    }


def test_the_installed_build_is_served() -> None:
    """The package's static folder holds the built app the table lists."""
    table = _asset_table(static_dir())
    assert table["/"].is_file()
    assert {"/assets/app.js", "/assets/style.css"} <= set(table)
