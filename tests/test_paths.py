"""Where midimon keeps things: the XDG folders, the runtime dir and the control socket."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import platformdirs
import pytest

from midimon import paths
from midimon.daemon import socket_path


def test_default_socket_path(isolated_dirs: dict[str, str]) -> None:
    """The default socket is runtime_dir()/midimon.sock, under XDG_RUNTIME_DIR."""
    assert socket_path() == Path(isolated_dirs["XDG_RUNTIME_DIR"]) / "midimon" / "midimon.sock"


def test_every_folder_follows_its_xdg_variable(isolated_dirs: dict[str, str]) -> None:
    """Config, data, state and runtime folders are <XDG_*>/midimon; installed plugins live in
    the data folder."""
    assert paths.config_dir() == Path(isolated_dirs["XDG_CONFIG_HOME"]) / "midimon"
    assert paths.data_dir() == Path(isolated_dirs["XDG_DATA_HOME"]) / "midimon"
    assert paths.state_dir() == Path(isolated_dirs["XDG_STATE_HOME"]) / "midimon"
    assert paths.runtime_dir() == Path(isolated_dirs["XDG_RUNTIME_DIR"]) / "midimon"
    assert paths.user_plugins_dir() == paths.data_dir() / "plugins"


def test_plugin_search_order_and_duplicates(
    isolated_dirs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--plugins-dir folders first (~ expanded), then the user's, each system dir, then the
    bundled plugins; a folder named twice (even through a symlink) is searched once."""
    system = [tmp_path / "sys1", tmp_path / "sys2"]
    monkeypatch.setenv("XDG_DATA_DIRS", os.pathsep.join(map(str, system)))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    extra = tmp_path / "extra"
    extra.mkdir()
    (tmp_path / "alias").symlink_to(extra)
    found = paths.plugin_search_path([extra, tmp_path / "alias", "~/mine"])
    assert found == [
        extra,
        tmp_path / "home" / "mine",
        paths.user_plugins_dir(),
        system[0] / "midimon" / "plugins",
        system[1] / "midimon" / "plugins",
        paths.bundled_plugins_dir(),
    ]
    assert paths.plugin_search_path()[0] == paths.user_plugins_dir()


def test_a_missing_runtime_dir_is_said_once(
    isolated_dirs: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without XDG_RUNTIME_DIR the socket goes elsewhere, and one log line says where and how
    to choose (not a warning per call)."""
    if not hasattr(platformdirs, "RuntimeDirWarning"):
        pytest.skip("platformdirs < 4.4 falls back without a warning")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(paths, "_runtime_dir_noted", set())  # once per process: start afresh
    with caplog.at_level(logging.WARNING, logger="midimon.paths"):
        first = paths.runtime_dir()
        assert paths.runtime_dir() == first
    lines = [r.getMessage() for r in caplog.records if r.name == "midimon.paths"]
    assert len(lines) == 1
    assert f"control socket goes in {first}" in lines[0] and "XDG_RUNTIME_DIR" in lines[0]


def test_the_abi_headers_are_found() -> None:
    """Both headers plugin authors include are shipped (installed copy, or abi/ of a checkout)."""
    for name in ("midimon_plugin.h", "midimon_params.h"):
        header = paths.abi_header_path(name)
        assert header.is_file(), header
        assert "#ifndef" in header.read_text(encoding="utf-8")
