"""`midimon learn`: a real daemon on a JACK dummy server, a test controller, learn's output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import RunMidimon, open_jack_output

from midimon._toml import loads as toml_loads
from midimon.cli.learn_cmd import encoder_encoding, to_toml, trigger_for
from midimon.engine.trigger_schema import parse_trigger

CONFIG = """
[device]
virtual_port = "midimon-learn"

[[modes]]
name = "Default"
"""


@pytest.fixture
def learn_rig(jack_server, start_daemon, tmp_path: Path, midimon_env: dict[str, str]):
    """`midimon run` on a JACK virtual port, and the test's controller connected to it."""
    env = {**midimon_env, **jack_server.env}
    start_daemon(CONFIG, env)
    controller = open_jack_output("midimon-learn")
    try:
        yield controller, env, tmp_path
    finally:
        controller.delete()


def learn(env: dict[str, str], cwd: Path, controller, messages: list[list[int]], *extra: str):
    """Start `midimon learn --json`, send ``messages`` (again every 0.3 s) until it exits."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "midimon", "learn", "--json", "--timeout", "20", *extra],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 25
    # learn subscribes a moment after it starts: resend until it has seen one
    while proc.poll() is None and time.monotonic() < deadline:
        for message in messages:
            controller.send_message(message)
        time.sleep(0.3)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


def check_toml(toml: str, trigger: dict) -> None:
    """The printed TOML parses and is a valid trigger equal to ``trigger``."""
    table = toml_loads(toml)["trigger"]
    assert table == trigger
    parsed = parse_trigger(table)
    assert parsed.spec is not None and not parsed.errors, parsed.errors


def test_learn_note_and_cc(learn_rig) -> None:
    """A note_on (after a note_off that is skipped) and then a CC are learned as triggers."""
    controller, env, cwd = learn_rig
    code, out, err = learn(env, cwd, controller, [[0x80, 40, 0], [0x91, 36, 100]])
    assert code == 0, err
    data = json.loads(out)
    assert data["trigger"] == {"type": "Note", "note": 36, "channel": 1}
    assert data["toml"] == 'trigger = { type = "Note", note = 36, channel = 1 }'
    check_toml(data["toml"], data["trigger"])

    code, out, err = learn(env, cwd, controller, [[0xB0, 7, 100]])
    assert code == 0, err
    data = json.loads(out)
    assert data["trigger"] == {"type": "CC", "controller": 7, "channel": 0}
    check_toml(data["toml"], data["trigger"])


def test_learn_relative_encoder(learn_rig) -> None:
    """A knob sending the same small step again and again is suggested as EncoderTurn."""
    controller, env, cwd = learn_rig
    code, out, err = learn(env, cwd, controller, [[0xB2, 20, 65], [0xB2, 20, 65], [0xB2, 20, 63]])
    assert code == 0, err
    data = json.loads(out)
    assert data["trigger"] == {
        "type": "EncoderTurn", "controller": 20, "encoding": "binary_offset", "channel": 2,
    }  # fmt: skip
    check_toml(data["toml"], data["trigger"])


def test_learn_times_out(learn_rig) -> None:
    """No event: exit 1 with a clear message, in about --timeout seconds."""
    _, env, cwd = learn_rig
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "midimon", "learn", "--timeout", "1"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no MIDI event" in done.stderr and "within 1 s" in done.stderr
    assert time.monotonic() - started < 15


def test_learn_without_daemon(run_midimon: RunMidimon) -> None:
    """No daemon: the usual not-running error, exit 3."""
    done = run_midimon("learn", "--timeout", "1")
    assert done.returncode == 3
    assert "not running" in done.stderr


@pytest.mark.parametrize(
    ("event", "values", "expected"),
    [
        (
            {"kind": "pitch_bend", "channel": 0, "number": 0},
            None,
            {"type": "PitchBend", "channel": 0},
        ),
        (
            {"kind": "aftertouch", "channel": 3, "number": 0},
            None,
            {"type": "Aftertouch", "source": "channel", "channel": 3},
        ),
        (
            {"kind": "poly_aftertouch", "channel": 0, "number": 60},
            None,
            {"type": "Aftertouch", "source": "poly", "note": 60, "channel": 0},
        ),
        (
            {"kind": "cc", "channel": 0, "number": 1},
            [1, 1, 127],
            {"type": "EncoderTurn", "controller": 1, "encoding": "twos_complement", "channel": 0},
        ),
        (
            {"kind": "cc", "channel": 0, "number": 1},
            [10, 11, 12],
            {"type": "CC", "controller": 1, "channel": 0},
        ),
        (
            {"type": "plugin_event", "plugin": "osc_in", "event": "/pad/1", "channel": None},
            None,
            {"type": "Plugin", "plugin": "osc_in", "event": "/pad/1"},
        ),
        (
            {"type": "plugin_event", "plugin": "gamepad", "event": "BTN_SOUTH", "channel": 2},
            None,
            {"type": "Plugin", "plugin": "gamepad", "event": "BTN_SOUTH", "channel": 2},
        ),
        ({"kind": "note_off", "channel": 0, "number": 1}, None, None),
        ({"kind": "program_change", "channel": 0, "number": 1}, None, None),
    ],
)
def test_trigger_for(event: dict, values, expected) -> None:
    """Every kind maps to a valid trigger (or to none)."""
    trigger = trigger_for(event, values)
    assert trigger == expected
    if trigger is not None:
        check_toml(to_toml(trigger), trigger)


def test_encoder_heuristic() -> None:
    """One value, or a run of distinct values (a fader), is not an encoder."""
    assert encoder_encoding([1]) is None
    assert encoder_encoding([60, 61, 62, 63]) is None
    assert encoder_encoding([1, 2, 1, 3]) == "twos_complement"
    assert encoder_encoding([66, 65, 65]) == "binary_offset"
    assert encoder_encoding([1, 65, 65]) == "sign_magnitude"
