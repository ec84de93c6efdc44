"""The trigger-plugin messages of the worker protocol (protocol 3): START, EVENT and
EVENTS_DROPPED, encoded and checked (constants: :class:`~midimon.plugins.sandbox.wire.Wire`).

Everything decoded here comes from a worker that runs plugin code: a bounded UTF-8 name, a
finite value and fields in range, or ProtocolViolation.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from midimon.plugins.errors import ProtocolViolation
from midimon.plugins.sandbox.wire import Wire, message

_EVENT_FIXED = struct.Struct("<dIBBBBII")
_EVENT_FLAGS = 0x7  # MIDIMON_EVENT_HAS_NUMBER | _VELOCITY | _CHANNEL


@dataclass(frozen=True)
class WireEvent:
    """An EVENT message: one emit_event() of a trigger plugin, as the worker sent it.

    ``number``, ``velocity`` and ``channel`` are None when the event's flags leave them out;
    ``dropped_before`` counts events the worker dropped at its rate cap before this one.
    """

    name: str
    value: float
    number: int | None
    velocity: int | None
    channel: int | None
    dropped_before: int


def start_message(seq: int, max_events_per_s: int, settings_json: bytes = b"{}") -> bytes:
    """START: call the trigger plugin's start() with its settings (a JSON object's UTF-8
    text), events capped at ``max_events_per_s``. ValueError when either is out of bounds."""
    if not 1 <= max_events_per_s <= Wire.MAX_EVENT_RATE:
        raise ValueError(f"max_events_per_s must be in 1..{Wire.MAX_EVENT_RATE}")
    if len(settings_json) > Wire.PARAMS_CHUNK:
        raise ValueError(f"plugin settings are over {Wire.PARAMS_CHUNK} bytes of JSON")
    fixed = struct.pack("<II", max_events_per_s, len(settings_json))
    return message(Wire.START, seq, fixed + bytes(settings_json))


def decode_events_dropped(payload: bytes) -> int:
    """The count an EVENTS_DROPPED message carries (at least 1)."""
    if len(payload) != Wire.EVENTS_DROPPED_SIZE:
        raise ProtocolViolation(f"EVENTS_DROPPED of {len(payload)} bytes")
    count = int(struct.unpack("<I", payload)[0])
    if count < 1:
        raise ProtocolViolation("EVENTS_DROPPED of 0 events")
    return count


def decode_event(payload: bytes) -> WireEvent:
    """An EVENT, checked: a bounded UTF-8 name, a finite value, fields in range."""
    if not Wire.EVENT_FIXED < len(payload) <= Wire.EVENT_FIXED + Wire.MAX_EVENT_NAME:
        raise ProtocolViolation(f"EVENT of {len(payload)} bytes")
    value, flags, number, velocity, channel, reserved, dropped, name_len = _EVENT_FIXED.unpack_from(
        payload
    )
    if name_len != len(payload) - Wire.EVENT_FIXED or reserved or flags & ~_EVENT_FLAGS:
        raise ProtocolViolation("EVENT with a bad name length, flags or reserved byte")
    if number > 127 or velocity > 127 or channel > 15 or not math.isfinite(value):
        raise ProtocolViolation("EVENT with a field out of range")
    raw = payload[Wire.EVENT_FIXED :]
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation("EVENT name is not UTF-8") from None
    if "\0" in name:
        raise ProtocolViolation("EVENT name holds a NUL")
    return WireEvent(
        name,
        value,
        number if flags & 1 else None,
        velocity if flags & 2 else None,
        channel if flags & 4 else None,
        dropped,
    )
