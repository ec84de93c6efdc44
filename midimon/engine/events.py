"""MidiEvent and ``decode``: raw MIDI bytes -> one timestamped channel-voice event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, TypeGuard

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


class _Fields(NamedTuple):
    kind: EventKind
    channel: int
    number: int
    value: int
    timestamp_ns: int


class MidiEvent(_Fields):
    """One channel-voice message (immutable; a NamedTuple because it is built once per MIDI
    message on the hot path, where it costs half a frozen dataclass).

    ``number`` is the note (note_on/off, poly_aftertouch), controller (cc) or program
    (program_change), 0 otherwise. ``value`` is the velocity (notes), CC value, pressure
    (aftertouch, poly_aftertouch) or pitch bend (-8192..8191, 0 = centre); 0 for
    program_change. ``timestamp_ns`` is monotonic (``time.monotonic_ns`` or the port's clock).
    Built by hand, every field is checked; ``decode`` checks the bytes instead.
    """

    __slots__ = ()

    def __new__(
        cls, kind: EventKind, channel: int, number: int, value: int, timestamp_ns: int
    ) -> MidiEvent:
        if kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
        if not _is_int(channel) or not 0 <= channel <= 15:
            raise ValueError(f"channel must be an integer in 0..15, got {channel!r}")
        if not _is_int(number) or not 0 <= number <= 127:
            raise ValueError(f"number must be an integer in 0..127, got {number!r}")
        low, high = (PITCH_BEND_MIN, PITCH_BEND_MAX) if kind == "pitch_bend" else (0, 127)
        if not _is_int(value) or not low <= value <= high:
            raise ValueError(f"{kind} value must be an integer in {low}..{high}, got {value!r}")
        if not _is_int(timestamp_ns):
            raise ValueError(f"timestamp_ns must be an integer, got {timestamp_ns!r}")
        return tuple.__new__(cls, (kind, channel, number, value, timestamp_ns))

    @property
    def velocity(self) -> int:
        """The velocity of a note event (0 for every other kind)."""
        return self[3] if self[0] in ("note_on", "note_off") else 0


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _trusted(kind: str, channel: int, number: int, value: int, timestamp_ns: int) -> MidiEvent:
    return tuple.__new__(MidiEvent, (kind, channel, number, value, timestamp_ns))


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
        return _trusted(kind, channel, 0, ((data2 << 7) | data1) - 8192, timestamp_ns)
    if kind == "aftertouch":
        return _trusted(kind, channel, 0, data1, timestamp_ns)
    if kind == "program_change":
        return _trusted(kind, channel, data1, 0, timestamp_ns)
    return _trusted(kind, channel, data1, data2, timestamp_ns)
