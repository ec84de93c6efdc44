"""The trigger messages of the worker protocol: what a hostile worker's EVENT may not hold."""

from __future__ import annotations

import struct

import pytest

from midimon.plugins.errors import ProtocolViolation
from midimon.plugins.sandbox.trigger_wire import (
    decode_event,
    decode_events_dropped,
    start_message,
)
from midimon.plugins.sandbox.wire import Wire, parse_datagram


def _payload(name: bytes, value: float = 1.0, flags: int = 0, fields: bytes = b"\0\0\0\0") -> bytes:
    return struct.pack("<dI", value, flags) + fields + struct.pack("<II", 0, len(name)) + name


def test_a_good_event_decodes() -> None:
    """Name, value and only the optional fields its flags announce."""
    event = decode_event(_payload(b"/pad/1", 0.5, 1 | 4, bytes([60, 100, 3, 0])))
    assert (event.name, event.value, event.number, event.velocity, event.channel) == (
        "/pad/1",
        0.5,
        60,
        None,
        3,
    )


@pytest.mark.parametrize(
    "payload",
    [
        _payload(b"x" * 256),  # name over MIDIMON_MAX_EVENT_NAME
        _payload(b""),  # empty name
        _payload(b"/n", float("nan")),
        _payload(b"/i", float("inf")),
        _payload(b"/f", 1.0, 8),  # unknown flag
        _payload(b"/c", 1.0, 4, bytes([0, 0, 16, 0])),  # channel 16
        _payload(b"/r", 1.0, 0, bytes([0, 0, 0, 1])),  # reserved byte set
        _payload(b"\xff\xfe"),  # not UTF-8
        _payload(b"/a\0b"),  # a NUL inside
        _payload(b"/len")[:-1],  # shorter than its name_len says
    ],
)
def test_hostile_events_are_protocol_violations(payload: bytes) -> None:
    """Anything the protocol does not allow in an EVENT is refused."""
    with pytest.raises(ProtocolViolation):
        decode_event(payload)


def test_events_dropped_and_start() -> None:
    """EVENTS_DROPPED carries a count >= 1; START bounds its rate and settings."""
    assert decode_events_dropped(struct.pack("<I", 7)) == 7
    for bad in (struct.pack("<I", 0), b"\0\0\0"):
        with pytest.raises(ProtocolViolation):
            decode_events_dropped(bad)
    kind, seq, payload = parse_datagram(memoryview(start_message(3, 50, b'{"port":1}')))
    assert (kind, seq, payload) == (Wire.START, 3, struct.pack("<II", 50, 10) + b'{"port":1}')
    for rate, settings in ((0, b"{}"), (Wire.MAX_EVENT_RATE + 1, b"{}"), (1, b"x" * 60001)):
        with pytest.raises(ValueError):
            start_message(1, rate, settings)
