"""``midimon validate|status|reload|stop|monitor`` as the user sees them: validate offline with
counts, errors and warnings; control commands without a daemon say so; monitor's lines.
The same commands against a running daemon are in tests/daemon/test_foreground.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import RunMidimon

from midimon.cli.daemon_cmd import describe_event, for_people

VALID = """
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "Shell", argv = ["true"] }
"""


def test_validate_counts_modes_and_mappings(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """A valid file: exit 0, one line with singular counts; --json gives modes and mappings."""
    config = tmp_path / "config.toml"
    config.write_text(VALID + '[[modes]]\nname = "Second"\n')
    done = run_midimon("validate", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{config}: OK (2 modes, 1 mapping)"
    data = json.loads(run_midimon("validate", config, "--json").stdout)
    assert (data["ok"], data["modes"], data["mappings"]) == (True, ["Default", "Second"], 1)


def test_validate_lists_every_error(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """An invalid file: exit 1, INVALID on stderr with each error and warning on its own line
    naming the field, and the same in --json."""
    config = tmp_path / "config.toml"
    config.write_text(VALID.replace("note = 36", "note = 300") + "[bogus]\n")
    done = run_midimon("validate", config)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"{config}: INVALID"
    assert "trigger.note: note must be an integer in 0..127, got 300" in lines[1]
    assert "warning: " in lines[2] and "bogus: unknown key" in lines[2]
    data = json.loads(run_midimon("validate", config, "--json").stdout)
    assert data["ok"] is False and len(data["errors"]) == len(data["warnings"]) == 1, data


def test_validate_a_missing_file(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """A file that is not there is named, not a traceback."""
    done = run_midimon("validate", tmp_path / "nope.toml")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert str(tmp_path / "nope.toml") in done.stderr


@pytest.mark.parametrize("command", ["status", "reload", "stop", "monitor"])
def test_control_commands_without_a_daemon(run_midimon: RunMidimon, command: str) -> None:
    """With no daemon running each says so, how to start one, and exits 3."""
    done = run_midimon(command)
    assert done.returncode == 3, done.stderr
    assert "midimon is not running" in done.stderr and "midimon run" in done.stderr


def test_monitor_lines_for_people() -> None:
    """Channels print 1..16 (JSON keeps 0..15), lists comma-separated, nothing as '-'."""
    line = describe_event({"type": "note_on", "channel": 0, "note": 36, "velocity": 90})
    assert line == "note_on  channel=1 note=36 velocity=90"
    assert describe_event({"type": "mode", "mode": None}) == "mode     mode=-"
    assert for_people(["a", "b"]) == "a, b" and for_people([]) == "-" and for_people(3) == "3"
