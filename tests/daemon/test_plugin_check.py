"""The daemon judges every plugin its config calls at start-up and on reload, once each, and
says in one summary which will not run and the command that fixes each (no plugin code runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import MakePlugin, RunMidimon, open_jack_output, wait_for

CONFIG = """
[device]
virtual_port = "midimon-check"

[plugins]
dirs = ["{extra}"]

[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "unsigned_probe" }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 38 }}
action = {{ type = "Plugin", plugin = "ghost" }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "~/pads/hits.log" }} }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 41 }}
action = {{ type = "Sequence", actions = [
  {{ type = "Plugin", plugin = "file_log", params = {{ path = "~/pads/other.log" }} }},
] }}
"""
HEAD = "plugin check: 3 of the 3 plugin(s) this config calls will not run until fixed:"
FILE_LOG_FIX = "mkdir -p ~/pads && midimon plugins grant file_log filesystem --write ~/pads"


def shell_env(midimon_env: dict[str, str]) -> dict[str, str]:
    """The test environment with this venv's `midimon` first on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {**midimon_env, "PATH": bindir + os.pathsep + midimon_env.get("PATH", "")}


def status(run_midimon: RunMidimon) -> dict:
    done = run_midimon("status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def press(controller, run_midimon: RunMidimon, notes: list[int], failed_before: int) -> int:
    """Press each note and wait until each press's action has failed; the new failure count."""
    for note in notes:
        controller.send_message([0x90, note, 100])
        controller.send_message([0x80, note, 0])
    expected = failed_before + len(notes)
    assert wait_for(lambda: status(run_midimon)["actions_failed"] >= expected, 30)
    return expected


@pytest.fixture
def checked_daemon(jack_server, start_daemon, make_plugin: MakePlugin, tmp_path: Path,
                   midimon_env: dict[str, str]):  # fmt: skip
    """`midimon run` on CONFIG: an unsigned plugin, a missing one, file_log without a grant."""
    extra = tmp_path / "extra"
    make_plugin("unsigned_probe", root=extra)
    env = {**midimon_env, **jack_server.env}
    proc, _ = start_daemon(CONFIG.format(extra=extra), env)
    controller = open_jack_output("midimon-check")
    try:
        yield proc, controller
    finally:
        controller.delete()


def test_startup_summary_reload_and_list(
    checked_daemon, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """One start-up summary names each problem with its fix; pressing the pads (twice) adds no
    second one; `reload` returns the same problems as warnings; `plugins list` shows the
    unsigned plugin as one that will not run, with the reason."""
    proc, controller = checked_daemon
    failed = press(controller, run_midimon, [36, 38, 40], 0)
    press(controller, run_midimon, [36, 38, 40], failed)

    reload = run_midimon("reload", "--json")
    assert reload.returncode == 0, reload.stderr
    warnings = json.loads(reload.stdout)["warnings"]
    assert len(warnings) == 3, warnings
    unsigned, ghost, file_log = warnings
    assert unsigned.startswith("plugin unsigned_probe: unsigned: no signature: ")
    assert "fix: sign it (midimon sign PLUGIN_DIR -s KEY), or allow it unsigned" in unsigned
    assert ghost.startswith("plugin ghost: no plugin named 'ghost' found; searched: ")
    assert "fix: install it (midimon plugins install FOLDER)" in ghost
    assert file_log == f"plugin file_log: needs filesystem, not granted; fix: {FILE_LOG_FIX}"

    listed = run_midimon("plugins", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(ln for ln in listed.stdout.splitlines() if ln.startswith("unsigned_probe "))
    assert "unsigned: will not run" in row
    assert f"will not run: {unsigned.removeprefix('plugin ')}" in listed.stdout
    rows = json.loads(run_midimon("plugins", "list", "--json").stdout)["plugins"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["unsigned_probe"]["status"] == "unsigned: will not run"
    assert by_name["midi_transpose"]["status"] == "ok"
    local = run_midimon("plugins", "list", "--local", "--plugins-dir", tmp_path / "extra")
    local_row = next(ln for ln in local.stdout.splitlines() if ln.startswith("unsigned_probe "))
    assert "unsigned: will not run" in local_row, local.stdout

    proc.terminate()
    _, stderr = proc.communicate(timeout=15)
    # start-up and the reload: one summary each, however often the pads were pressed
    assert stderr.count(HEAD) == 2, stderr
    summary = stderr.split(HEAD, 1)[1].split("\n")[1:4]
    assert [line.strip() for line in summary] == [w.removeprefix("plugin ") for w in warnings]


def test_a_fixed_problem_leaves_the_summary_on_reload(
    checked_daemon, run_midimon: RunMidimon, midimon_env: dict[str, str], tmp_path: Path
) -> None:
    """The printed fix, run as printed, makes file_log's pad work, and the next reload no
    longer lists it."""
    _, controller = checked_daemon
    done = subprocess.run(["sh", "-c", FILE_LOG_FIX], env=shell_env(midimon_env), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    controller.send_message([0x90, 40, 100])
    log = Path(midimon_env["HOME"]) / "pads" / "hits.log"
    assert wait_for(lambda: log.exists() and log.read_text().count("\n") == 1, 30)
    warnings = json.loads(run_midimon("reload", "--json").stdout)["warnings"]
    assert [w.split(":", 1)[0] for w in warnings] == ["plugin unsigned_probe", "plugin ghost"]


def test_bundled_config_first_run_prints_the_grant_once(
    jack_server, start_daemon, run_midimon: RunMidimon, midimon_env: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """The bundled config's first run says once, at start-up, the exact command that lets its
    file_log pad write; run through sh, it makes pad 2 log the hit (no restart needed)."""
    from midimon.engine.config import default_config_path

    env = {**midimon_env, **jack_server.env}
    config = default_config_path().read_text().replace('"midimon"', '"midimon-bundled"', 1)
    proc, _ = start_daemon(config, env)
    command = "mkdir -p ~/midimon-logs && midimon plugins grant file_log filesystem " + (
        "--write ~/midimon-logs"
    )
    warnings = json.loads(run_midimon("reload", "--json").stdout)["warnings"]
    assert f"plugin file_log: needs filesystem, not granted; fix: {command}" in warnings

    controller = open_jack_output("midimon-bundled")
    try:
        controller.send_message([0x90, 38, 80])  # refused: not granted yet
        assert wait_for(lambda: status(run_midimon)["actions_failed"] >= 1, 30)
        done = subprocess.run(["sh", "-c", command], env=shell_env(midimon_env), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        time.sleep(0.4)  # past DoubleTap's window, so the next press is a fresh one
        controller.send_message([0x90, 38, 80])
        log = Path(midimon_env["HOME"]) / "midimon-logs" / "pads.log"
        assert wait_for(lambda: log.exists() and log.read_text().count("\n") == 1, 30)
    finally:
        controller.delete()
    proc.terminate()
    _, stderr = proc.communicate(timeout=15)
    # once at start-up, once for the test's reload: not once per press
    assert stderr.count(f"file_log: needs filesystem, not granted; fix: {command}") == 2, stderr
