"""The daemon says at start-up which copy of a plugin name runs when several folders hold it."""

from __future__ import annotations

from pathlib import Path

from helpers import MakePlugin

CONFIG = """
[device]
virtual_port = false

[plugins]
dirs = ["{extra}"]

[[modes]]
name = "Default"
"""


def test_startup_log_names_the_copy_that_runs(
    start_daemon, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """An unsigned file_log in a configured plugins dir (searched before the bundled one) is
    not used: the bundled copy runs, and the daemon's log says so with the reason."""
    extra = tmp_path / "extra"
    make_plugin("file_log", root=extra, folder_name="my_file_log")
    proc, _ = start_daemon(CONFIG.format(extra=extra))
    proc.terminate()
    _, stderr = proc.communicate(timeout=15)
    line = next(
        (ln for ln in stderr.splitlines() if "duplicate plugin name 'file_log'" in ln), None
    )
    assert line is not None, stderr
    assert f"{extra / 'my_file_log'} (unsigned) is not used" in line
    assert "bundled_plugins/file_log (bundled with midimon) runs because file_log is pinned" in line
