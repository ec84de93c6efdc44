"""decode(): raw MIDI bytes -> MidiEvent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midimon.engine.events import MidiEvent, decode


def test_note_on() -> None:
    """A note_on carries channel, note, velocity and the timestamp given."""
    assert decode(bytes([0x93, 36, 100]), 5) == MidiEvent("note_on", 3, 36, 100, 5)


def test_note_on_velocity_zero_is_note_off() -> None:
    """note_on with velocity 0 is a note_off."""
    event = decode([0x90, 36, 0], 1)
    assert event is not None and event.kind == "note_off" and event.velocity == 0


def test_note_off() -> None:
    """note_off keeps its release velocity."""
    assert decode([0x8F, 60, 64], 2) == MidiEvent("note_off", 15, 60, 64, 2)


def test_cc() -> None:
    """A control change carries controller and value."""
    assert decode([0xB1, 7, 127], 0) == MidiEvent("cc", 1, 7, 127, 0)


def test_channel_aftertouch() -> None:
    """Channel pressure is 'aftertouch' with the pressure as value."""
    assert decode([0xD2, 90], 0) == MidiEvent("aftertouch", 2, 0, 90, 0)


def test_poly_aftertouch() -> None:
    """Poly aftertouch carries the note and the pressure."""
    assert decode([0xA0, 40, 33], 0) == MidiEvent("poly_aftertouch", 0, 40, 33, 0)


@pytest.mark.parametrize(
    ("lsb", "msb", "value"), [(0, 0, -8192), (0, 64, 0), (127, 127, 8191), (1, 64, 1)]
)
def test_pitch_bend(lsb: int, msb: int, value: int) -> None:
    """Pitch bend is 14-bit, centred on 0: -8192..8191."""
    event = decode([0xE0, lsb, msb], 0)
    assert event is not None and event.kind == "pitch_bend" and event.value == value


def test_program_change() -> None:
    """A program change carries the program as its number."""
    assert decode([0xC5, 12], 0) == MidiEvent("program_change", 5, 12, 0, 0)


@pytest.mark.parametrize(
    "raw",
    [
        [0xF0, 0x7E, 0x7F, 0xF7],  # sysex
        [0xF8],  # clock
        [0xFE],  # active sensing
        [0xFA],  # start
        [],
        [36, 100],  # running status fragment
        [0x90, 36],  # truncated
        [0x90, 0x80, 1],  # bad data byte
    ],
)
def test_ignored(raw: list[int]) -> None:
    """System, empty, truncated and malformed messages decode to None."""
    assert decode(raw, 0) is None


def test_event_validates() -> None:
    """A MidiEvent out of range is refused with the accepted range."""
    with pytest.raises(ValueError, match=r"0\.\.15"):
        MidiEvent("cc", 16, 0, 0, 0)
    with pytest.raises(ValueError, match="kind"):
        MidiEvent("sysex", 0, 0, 0, 0)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=4), st.integers(0, 2**63))
def test_decode_never_raises(raw: list[int], timestamp_ns: int) -> None:
    """Any bytes decode to None or to an event that passes MidiEvent's own checks."""
    event = decode(raw, timestamp_ns)
    if event is not None:
        assert MidiEvent(*event) == event
        assert event.timestamp_ns == timestamp_ns


def test_velocity_only_for_notes() -> None:
    """velocity is the note velocity, 0 for other kinds."""
    assert MidiEvent("note_off", 0, 1, 64, 0).velocity == 64
    assert MidiEvent("cc", 0, 1, 64, 0).velocity == 0
