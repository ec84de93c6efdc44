"""Trigger tables: each type parses from its required fields; each mistake names its field."""

from __future__ import annotations

import pytest

from midimon.engine.trigger_schema import TRIGGER_TYPES, TimingDefaults, parse_trigger
from midimon.engine.trigger_specs import (
    DoubleTapTrigger,
    LongPressTrigger,
    NoteChordTrigger,
    NoteTrigger,
    PluginTrigger,
)


def test_every_trigger_type_parses_with_defaults() -> None:
    """Each type in the table parses from its required fields, timing defaults filled in."""
    timing = TimingDefaults(chord_timeout_ms=40, double_tap_timeout_ms=250, hold_threshold_ms=900)
    minimal = {
        "Note": {"note": 1},
        "VelocityRange": {"note": 1, "level": "soft"},
        "LongPress": {"note": 1},
        "DoubleTap": {"note": 1},
        "NoteChord": {"notes": [5, 1]},
        "CC": {"controller": 1},
        "EncoderTurn": {"controller": 1},
        "Aftertouch": {},
        "PitchBend": {},
        "Plugin": {"plugin": "osc_in", "event": "/pad/1"},
    }
    assert set(minimal) == set(TRIGGER_TYPES)
    for name, fields in minimal.items():
        result = parse_trigger({"type": name, **fields}, timing)
        assert result.spec is not None, (name, result.errors)
    assert parse_trigger({"type": "LongPress", "note": 1}, timing).spec == LongPressTrigger(1, 900)
    assert parse_trigger({"type": "DoubleTap", "note": 1}, timing).spec == DoubleTapTrigger(1, 250)
    chord = parse_trigger({"type": "NoteChord", "notes": [5, 1]}, timing).spec
    assert chord == NoteChordTrigger((1, 5), 40)


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        ({"type": "Note", "note": 128}, "note", "0..127"),
        ({"type": "Note"}, "note", "required"),
        ({"type": "Note", "note": 1, "channel": 16}, "channel", "0..15"),
        ({"type": "Note", "note": True}, "note", "integer"),
        ({"type": "Nope"}, "type", "NoteChord"),
        ({"type": "CC", "controller": 1, "value_min": 9, "value_max": 3}, "value_min", "greater"),
        ({"type": "EncoderTurn", "controller": 1, "direction": "up"}, "direction", "cw, ccw"),
        ({"type": "EncoderTurn", "controller": 1, "encoding": "x"}, "encoding", "binary_offset"),
        ({"type": "NoteChord", "notes": [1, 1]}, "notes", "distinct"),
        ({"type": "VelocityRange", "note": 1}, "min", "level"),
        ({"type": "VelocityRange", "note": 1, "level": "soft", "min": 3}, "level", "not both"),
        ({"type": "Aftertouch", "note": 3}, "note", "poly"),
        ({"type": "PitchBend", "min": -9000}, "min", "-8192..8191"),
        ({"type": "LongPress", "note": 1, "hold_ms": 0}, "hold_ms", "1..60000"),
    ],
)
def test_parse_trigger_errors(table: dict, field: str, words: str) -> None:
    """Each kind of mistake names its field and what would be accepted."""
    result = parse_trigger(table)
    assert result.spec is None
    assert [f for f, _ in result.errors] == [field]
    assert words in result.errors[0][1]


def test_parse_trigger_unknown_keys() -> None:
    """Unknown keys are reported, not fatal."""
    result = parse_trigger({"type": "Note", "note": 1, "velocty_min": 3})
    assert result.spec == NoteTrigger(1) and result.unknown == ("velocty_min",)


def test_plugin_trigger_fields_are_checked() -> None:
    """A Plugin trigger names a plugin and an event; its range is numbers in order."""
    spec = parse_trigger(
        {"type": "Plugin", "plugin": "osc_in", "event": "/fader", "value_min": 0, "value_max": 1}
    ).spec
    assert spec == PluginTrigger("osc_in", "/fader", 0.0, 1.0)
    bad = {
        "plugin": {"plugin": "OSC In", "event": "/x"},
        "event": {"plugin": "osc_in", "event": "x" * 256},
        "value_min": {"plugin": "osc_in", "event": "/x", "value_min": 2, "value_max": 1},
    }
    for field, table in bad.items():
        errors = parse_trigger({"type": "Plugin", **table}).errors
        assert [f for f, _ in errors] == [field], errors
    no_event = parse_trigger({"type": "Plugin", "plugin": "osc_in"}).errors
    assert no_event and no_event[0][0] == "event"
