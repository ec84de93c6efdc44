"""`midimon run` as a real process: status, validate, reload (good, bad, by file edit), stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import RunMidimon

CONFIG = """
[device]
virtual_port = false

[[modes]]
name = "Default"
[[modes.mappings]]
description = "pad"
trigger = { type = "Note", note = 36 }
action = { type = "Shell", argv = ["true"] }

[[modes]]
name = "Second"
"""


@pytest.fixture
def daemon(start_daemon):
    """A running `midimon run --config CONFIG`."""
    return start_daemon(CONFIG)


def status(run_midimon: RunMidimon) -> dict:
    done = run_midimon("status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_status_validate_reload_stop(daemon, run_midimon: RunMidimon) -> None:
    """STATUS answers; a bad config is refused and the old one keeps running; STOP stops."""
    proc, config = daemon
    first = status(run_midimon)
    assert first["mode"] == "Default" and first["modes"] == ["Default", "Second"]
    assert first["config"] == str(config)
    assert run_midimon("validate", config).returncode == 0
    bad = config.with_name("bad.toml")
    bad.write_text(CONFIG.replace("note = 36", "note = 300"))
    done = run_midimon("validate", bad)
    assert done.returncode == 1 and "trigger.note" in done.stderr and "0..127" in done.stderr

    done = run_midimon("reload")
    assert done.returncode == 0 and "reloaded in" in done.stdout
    # `midimon run` keeps its heap out of full collections: frozen at start-up and per reload
    heap = status(run_midimon)["heap"]
    assert heap["enabled"] and heap["freezes"] >= 2 and heap["frozen"] > 0
    config.write_text(CONFIG.replace("note = 36", "note = 300"))
    done = run_midimon("reload")
    assert done.returncode == 1 and "trigger.note" in done.stderr
    after = status(run_midimon)
    assert after["reload_failures"] >= 1 and after["modes"] == ["Default", "Second"]
    # A plugin param that breaks the plugin's [plugin.params] is refused the same way.
    config.write_text(CONFIG.replace('{ type = "Shell", argv = ["true"] }',
                                     '{ type = "Plugin", plugin = "midi_transpose", '
                                     "params = { semitones = 200 } }"))  # fmt: skip
    done = run_midimon("reload")
    assert done.returncode == 1 and "running one stays" in done.stderr
    assert 'mappings[0] ("pad"): action.params.semitones: must be an integer in -127..127 for ' \
        "midi_transpose, got 200" in done.stderr  # fmt: skip
    assert status(run_midimon)["reload_failures"] == after["reload_failures"] + 1

    done = run_midimon("stop")
    assert done.returncode == 0
    assert proc.wait(15) == 0
    done = run_midimon("status")
    assert done.returncode != 0 and "not running" in done.stderr


def test_reload_on_file_edit_and_sighup(daemon, run_midimon: RunMidimon) -> None:
    """Editing the config file reloads it (watchfiles); so does SIGHUP."""
    proc, config = daemon
    before = status(run_midimon)["reloads"]
    config.write_text(CONFIG.replace('name = "Second"', 'name = "Edited"'))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and status(run_midimon)["modes"][-1] != "Edited":
        time.sleep(0.1)
    now = status(run_midimon)
    assert now["modes"] == ["Default", "Edited"] and now["reloads"] > before
    assert now["last_reload_ms"] is not None
    os.kill(proc.pid, 1)  # SIGHUP
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and status(run_midimon)["reloads"] <= now["reloads"]:
        time.sleep(0.1)
    assert status(run_midimon)["reloads"] > now["reloads"]


def test_second_daemon_is_refused(daemon, midimon_env: dict[str, str], tmp_path: Path) -> None:
    """A second `midimon run` on the same socket says it is already running."""
    _, config = daemon
    done = subprocess.run(
        [sys.executable, "-m", "midimon", "run", "--config", str(config)],
        env=midimon_env, cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2 and "already running" in done.stderr


def test_rapid_successive_edits_settle_on_the_last(daemon, run_midimon: RunMidimon) -> None:
    """Ten quick edits, some broken: the daemon ends on the last valid file and keeps running."""
    proc, config = daemon
    for index in range(10):
        text = CONFIG.replace('name = "Second"', f'name = "Edit{index}"')
        if index % 3 == 1:
            text = text.replace("note = 36", "note = 999")  # broken: must be refused
        config.write_text(text)
        time.sleep(0.03)
    config.write_text(CONFIG.replace('name = "Second"', 'name = "Final"'))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and status(run_midimon)["modes"][-1] != "Final":
        time.sleep(0.1)
    assert status(run_midimon)["modes"] == ["Default", "Final"]
    assert proc.poll() is None
