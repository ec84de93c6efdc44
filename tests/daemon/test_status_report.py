"""STATUS (midimon/daemon/status_report.py): what a daemon reports about its config, counters,
dispatch path and the C dispatcher loop, from a real daemon calling a real plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MakePlugin
from native_guarded import NOTE_ON, guarded_plugins, native_daemon, write_config

from midimon import __version__


@pytest.fixture
def plugins(isolated_dirs: dict[str, str], make_plugin: MakePlugin) -> Path:
    return guarded_plugins(make_plugin)


@pytest.mark.parametrize("path", ["native", "compiled"])
def test_status_counts_and_names_the_dispatch_path(
    path: str, plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "config.toml", plugins)
    daemon = native_daemon(path, config, monkeypatch)
    try:
        for _ in range(3):
            daemon.feed(NOTE_ON)
        daemon.feed(bytes([0x90, 99, 1]))  # nothing listens
        status = daemon.status()
        assert status["version"] == __version__ and status["config"] == str(config)
        assert status["mode"] == "Default" and status["modes"] == ["Default"]
        assert (status["midi_in"], status["triggers"], status["actions_ok"]) == (4, 3, 3)
        assert status["dispatch"] == path
        # the three calls were made in C on the native path; no JACK input, so no C loop
        assert status["calls_in_c"] == (3 if path == "native" else None)
        assert status["dispatcher"] is None
        assert status["plugins_loaded"] == ["guarded"]
    finally:
        daemon.stop()


def test_status_while_the_c_loop_is_made_but_not_yet_running(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JACK input makes the NativeServer before its dispatcher thread starts the loop: STATUS
    answers then too, with no dispatcher yet."""
    daemon = native_daemon("native", write_config(tmp_path / "config.toml", plugins), monkeypatch)
    try:
        server = daemon.feed.native_server  # what the JACK input asks for first
        assert server.realtime is None
        assert daemon.status()["dispatcher"] is None
    finally:
        daemon.stop()
