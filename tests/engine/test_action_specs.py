"""Action specs as data: conditions evaluate against a mode and a time; messages render bytes."""

from __future__ import annotations

from datetime import datetime

from midimon.engine.action_specs import AllOf, DaysOfWeek, MidiMessage, ModeIs, Not, TimeRange


def test_conditions_evaluate() -> None:
    """Time ranges wrap midnight; days, mode, and/or/not combine."""
    night = TimeRange(22 * 60, 6 * 60)
    saturday_23h = datetime(2026, 11, 28, 23, 0)
    assert night.evaluate("x", saturday_23h)
    assert not night.evaluate("x", datetime(2026, 11, 28, 12, 0))
    assert TimeRange(9 * 60, 17 * 60).evaluate("x", datetime(2026, 11, 27, 9, 0))
    assert not TimeRange(9 * 60, 17 * 60).evaluate("x", datetime(2026, 11, 27, 17, 0))
    weekend = DaysOfWeek(frozenset({5, 6}))
    assert AllOf((night, weekend, ModeIs("A"))).evaluate("A", saturday_23h)
    assert not AllOf((night, weekend, ModeIs("A"))).evaluate("B", saturday_23h)
    assert Not(weekend).evaluate("A", datetime(2026, 11, 27, 9, 0))


def test_midi_message_bytes() -> None:
    """SendMidi messages render to raw bytes."""
    assert MidiMessage("cc", 2, 7, 100).to_bytes() == bytes([0xB2, 7, 100])
    assert MidiMessage("program_change", 0, 5).to_bytes() == bytes([0xC0, 5])
