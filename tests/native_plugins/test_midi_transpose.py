"""The bundled Zig plugin midi_transpose, run through `midimon plugins exec`.

The CLI's host records every send_midi call; `midi_sent` holds one list of bytes per call. The
plugin makes one call per MIDI message: optional CC, note-on, then (by default) note-off.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import RunMidimon

PLUGIN = "midi_transpose"
NOTE_ON, NOTE_OFF, CONTROL_CHANGE = 0x90, 0x80, 0xB0


def run_plugin(run_midimon: RunMidimon, params: dict[str, Any], *options: str) -> dict:
    """`plugins exec midi_transpose --json` with a default trigger and the midi capability
    granted for this run; ``options`` override the trigger.

    Returns the printed result object, after checking the exit code agrees with ``ok``.
    """
    done = run_midimon(
        "plugins", "exec", PLUGIN, "--params", json.dumps(params),
        "--velocity", "100", "--note", "36", "--channel", "0", "--value", "0",
        "--mode", "Default", "--grant", "midi", "--json", *options,
    )  # fmt: skip
    assert done.returncode in (0, 1), f"exit {done.returncode}: {done.stderr}"
    result = json.loads(done.stdout)
    assert result["plugin"] == PLUGIN
    assert done.returncode == (0 if result["ok"] else 1), result
    return result


def test_default_transposes_up_an_octave(run_midimon: RunMidimon) -> None:
    """No params: note 36 velocity 100 sends note-on then note-off for 48 on channel 0."""
    result = run_plugin(run_midimon, {})
    assert result["ok"] is True
    assert result["status_name"] == "OK"
    assert result["midi_sent"] == [[NOTE_ON, 48, 100], [NOTE_OFF, 48, 0]]
    assert result["message"] == "sent note 36 -> 48 on channel 1"  # for people: 1..16
    assert result["logs"] and result["logs"][0]["level"] == "debug"


@pytest.mark.parametrize(
    ("params", "options", "expected"),
    [
        ({"semitones": -12}, (), [[0x90, 24, 100], [0x80, 24, 0]]),
        ({"semitones": 0}, (), [[0x90, 36, 100], [0x80, 36, 0]]),
        ({"semitones": 91}, (), [[0x90, 127, 100], [0x80, 127, 0]]),
        ({"semitones": -36}, (), [[0x90, 0, 100], [0x80, 0, 0]]),
        ({"channel": 9}, (), [[0x99, 48, 100], [0x89, 48, 0]]),
        ({}, ("--channel", "5"), [[0x95, 48, 100], [0x85, 48, 0]]),
        ({"channel": 15}, ("--channel", "5"), [[0x9F, 48, 100], [0x8F, 48, 0]]),
        ({"velocity": 1}, (), [[0x90, 48, 1], [0x80, 48, 0]]),
        ({}, ("--velocity", "77"), [[0x90, 48, 77], [0x80, 48, 0]]),
        ({}, ("--velocity", "0"), [[0x90, 48, 100], [0x80, 48, 0]]),
        (
            {"semitones": 7, "channel": 3, "velocity": 127},
            ("--note", "60"),
            [[0x93, 67, 127], [0x83, 67, 0]],
        ),
        (
            {"semitones": None, "channel": None, "velocity": None},
            (),
            [[0x90, 48, 100], [0x80, 48, 0]],
        ),
        ({"unrelated": "ignored"}, (), [[0x90, 48, 100], [0x80, 48, 0]]),
    ],
)
def test_params_are_honoured(
    run_midimon: RunMidimon,
    params: dict[str, Any],
    options: tuple[str, ...],
    expected: list[list[int]],
) -> None:
    """semitones, channel and velocity params (or their context defaults) shape the messages."""
    result = run_plugin(run_midimon, params, *options)
    assert result["ok"] is True, result
    assert result["midi_sent"] == expected
    note_in = result["context"]["note"]
    assert result["message"] == (
        f"sent note {note_in} -> {expected[0][1]} on channel {(expected[0][0] & 0x0F) + 1}"
    )


def test_note_off_false_sends_only_note_on(run_midimon: RunMidimon) -> None:
    """note_off false: a single note-on and nothing else."""
    result = run_plugin(run_midimon, {"note_off": False, "semitones": 2})
    assert result["ok"] is True
    assert result["midi_sent"] == [[NOTE_ON, 38, 100]]


def test_optional_control_change_goes_first(run_midimon: RunMidimon) -> None:
    """cc (and cc_value, default the trigger's value) sends a control change before the note."""
    result = run_plugin(run_midimon, {"cc": 7, "cc_value": 99, "channel": 2})
    assert result["midi_sent"] == [[CONTROL_CHANGE | 2, 7, 99], [0x92, 48, 100], [0x82, 48, 0]]
    result = run_plugin(run_midimon, {"cc": 1, "note_off": False}, "--value", "64")
    assert result["midi_sent"] == [[CONTROL_CHANGE, 1, 64], [NOTE_ON, 48, 100]]


@pytest.mark.parametrize(
    ("params", "note", "field"),
    [
        ({"semitones": 100}, 36, "semitones"),
        ({"semitones": 92}, 36, "semitones"),
        ({"semitones": -37}, 36, "semitones"),
        ({"semitones": 1}, 127, "semitones"),
        ({"semitones": 1_000_000_000_000}, 36, "semitones"),
        ({"semitones": "12"}, 36, "semitones"),
        ({"semitones": 1.5}, 36, "semitones"),
        ({"channel": 16}, 36, "channel"),
        ({"channel": -1}, 36, "channel"),
        ({"velocity": 0}, 36, "velocity"),
        ({"velocity": 128}, 36, "velocity"),
        ({"note_off": "no"}, 36, "note_off"),
        ({"cc": 128}, 36, "cc"),
        ({"cc": 1, "cc_value": 200}, 36, "cc_value"),
    ],
)
def test_bad_values_name_the_field(
    run_midimon: RunMidimon, params: dict[str, Any], note: int, field: str
) -> None:
    """Out of range or wrong type: exit 1, INVALID_PARAMS naming the field, no MIDI sent."""
    result = run_plugin(run_midimon, params, "--note", str(note))
    assert result["ok"] is False
    assert result["status_name"] == "ERR_INVALID_PARAMS"
    assert f"`{field}`" in result["message"]
    assert result["midi_sent"] == []


def test_out_of_range_message_shows_the_sum(run_midimon: RunMidimon) -> None:
    """The semitones error says which note it would have produced."""
    result = run_plugin(run_midimon, {"semitones": 100})
    assert result["message"] == "field `semitones`: note 36 + 100 = 136 is outside 0..127"


def test_invalid_json_is_refused_by_the_cli(run_midimon: RunMidimon) -> None:
    """Invalid JSON in --params never reaches the plugin: the CLI exits 2 (usage error)."""
    done = run_midimon("plugins", "exec", PLUGIN, "--params", '{"semitones": ', "--json")
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr
