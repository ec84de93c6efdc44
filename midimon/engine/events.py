"""MidiEvent and ``decode``: raw MIDI bytes -> one timestamped channel-voice event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

EventKind = Literal[
    "note_on", "note_off", "cc", "aftertouch", "poly_aftertouch", "pitch_bend", "program_change"
]

#: status nibble -> (kind, number of data bytes); 0xF0 (system messages) is deliberately absent.
STATUS_KINDS: dict[int, tuple[EventKind, int]] = {
    0x80: ("note_off", 2),
    0x90: ("note_on", 2),
    0xA0: ("poly_aftertouch", 2),
    0xB0: ("cc", 2),
    0xC0: ("program_change", 1),
    0xD0: ("aftertouch", 1),
    0xE0: ("pitch_bend", 2),
}
EVENT_KINDS: tuple[EventKind, ...] = tuple(kind for kind, _ in STATUS_KINDS.values())
PITCH_BEND_MIN = -8192
PITCH_BEND_MAX = 8191


@dataclass(frozen=True, slots=True)
class MidiEvent:
    """One channel-voice message.

    ``number`` is the note (note_on/off, poly_aftertouch), controller (cc) or program
    (program_change), 0 otherwise. ``value`` is the velocity (notes), CC value, pressure
    (aftertouch, poly_aftertouch) or pitch bend (-8192..8191, 0 = centre); 0 for
    program_change. ``timestamp_ns`` is monotonic (``time.monotonic_ns`` or the port's clock).
    """

    kind: EventKind
    channel: int
    number: int
    value: int
    timestamp_ns: int

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}, got {self.kind!r}")
        if not 0 <= self.channel <= 15:
            raise ValueError(f"channel must be an integer in 0..15, got {self.channel!r}")
        if not 0 <= self.number <= 127:
            raise ValueError(f"number must be an integer in 0..127, got {self.number!r}")
        low, high = (PITCH_BEND_MIN, PITCH_BEND_MAX) if self.kind == "pitch_bend" else (0, 127)
        if not low <= self.value <= high:
            raise ValueError(f"{self.kind} value must be in {low}..{high}, got {self.value!r}")

    @property
    def velocity(self) -> int:
        """The velocity of a note event (0 for every other kind)."""
        return self.value if self.kind in ("note_on", "note_off") else 0


def decode(raw: bytes | bytearray | Sequence[int], timestamp_ns: int) -> MidiEvent | None:
    """Parse one complete MIDI message; None for system messages (sysex, clock, active
    sensing, ...), running-status fragments and malformed input.

    A note_on with velocity 0 is returned as a note_off with velocity 0.
    """
    if len(raw) == 0:
        return None
    status = raw[0]
    if not 0x80 <= status <= 0xEF:
        return None
    kind, size = STATUS_KINDS[status & 0xF0]
    if len(raw) < 1 + size:
        return None
    data1 = raw[1]
    data2 = raw[2] if size == 2 else 0
    if data1 > 0x7F or data2 > 0x7F or data1 < 0 or data2 < 0:
        return None
    channel = status & 0x0F
    if kind == "note_on" and data2 == 0:
        kind = "note_off"
    if kind == "pitch_bend":
        return MidiEvent(kind, channel, 0, ((data2 << 7) | data1) - 8192, timestamp_ns)
    if kind == "aftertouch":
        return MidiEvent(kind, channel, 0, data1, timestamp_ns)
    if kind == "program_change":
        return MidiEvent(kind, channel, data1, 0, timestamp_ns)
    return MidiEvent(kind, channel, data1, data2, timestamp_ns)
