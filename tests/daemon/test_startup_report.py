"""midimon.daemon.startup_report: what the daemon says at start-up: which copy of a plugin name
runs when several folders hold it, which saved grants it does not apply."""

from __future__ import annotations

import json
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


UNSAFE_GRANT_CONFIG = """
[device]
virtual_port = false

[[modes]]
name = "Default"
"""


def test_daemon_start_reports_saved_grants_it_does_not_apply(
    start_daemon, midimon_env: dict[str, str]
) -> None:
    """A grant of / saved before the rule: the daemon says at start that it is not applied, and
    how to re-grant safely."""
    state = Path(midimon_env["XDG_STATE_HOME"]) / "midimon" / "plugin_state.json"
    state.parent.mkdir(parents=True)
    grant = {"filesystem": {"paths": ["/"], "granted_at": 1.0}}
    state.write_text(json.dumps({"file_log": {"sha256": "0" * 64, "grants": grant}}))
    proc, _ = start_daemon(UNSAFE_GRANT_CONFIG)
    proc.terminate()
    _, stderr = proc.communicate(timeout=15)
    assert "file_log: filesystem grant / is not applied: it is /" in stderr
    assert "midimon plugins grant file_log filesystem --write ~/midimon-files" in stderr
