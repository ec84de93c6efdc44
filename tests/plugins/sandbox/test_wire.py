"""The worker wire protocol as Python speaks it: the same constants as the C worker, framing,
params in chunks, and every size a worker could lie about checked."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from helpers import REPO

from midimon.plugins.description.capabilities import Capability, to_bits
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.sandbox.spec import SandboxSpec, sandbox_paths
from midimon.plugins.sandbox.wire import (
    MAX_DATAGRAM,
    ProtocolViolation,
    Wire,
    decode_denied,
    decode_hello,
    decode_log,
    decode_result,
    decode_status,
    execute_messages,
    load_payload,
    message,
    parse_datagram,
)


def _header_constants() -> dict[str, int]:
    text = (REPO / "midimon" / "_native" / "worker" / "protocol.h").read_text()
    values: dict[str, int] = {}
    for name, expr in re.findall(r"^#define MM_([A-Z0-9_]+) +([^/\n]+?)\s*(?:/\*.*)?$", text, re.M):
        expr = re.sub(r"(0x[0-9a-fA-F]+|\d+)u\b", r"\1", expr)
        expr = re.sub(r"\bMM_([A-Z0-9_]+)", lambda m: str(values[m.group(1)]), expr)
        if re.fullmatch(r"[0-9a-fA-Fx()+*\- ]+", expr):
            values[name] = eval(expr)  # arithmetic on literals only
    return values


def test_wire_constants_match_protocol_h() -> None:
    """Every MM_* constant of protocol.h has the same value in wire.Wire, and back."""
    header = _header_constants()
    ours = {k: v for k, v in vars(Wire).items() if k.isupper()}
    assert header == ours


def test_a_message_parses_back() -> None:
    """message() frames type, seq and payload; parse_datagram gives them back."""
    data = message(Wire.RESULT, 7, b"\x00\x00\x00\x00done")
    assert len(data) == Wire.HEADER_SIZE + 8
    assert parse_datagram(memoryview(data)) == (Wire.RESULT, 7, b"\x00\x00\x00\x00done")
    assert decode_result(parse_datagram(memoryview(data))[2]) == (0, "done")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x00" * 5, "datagram of 5 bytes"),
        (message(Wire.STATUS, 1, b"1234")[:-1], "header says 4 payload bytes"),
        (message(Wire.STATUS, 1, b"1234") + b"x", "header says 4 payload bytes"),
        (struct.pack("<IIII", Wire.STATUS, 1, 0, 9), "header says 0 payload bytes"),
        (b"\x00" * (MAX_DATAGRAM + 1), "oversized datagram"),
    ],
)
def test_malformed_datagrams_are_violations(data: bytes, fragment: str) -> None:
    """Short, truncated, padded, reserved-bit and oversized datagrams raise ProtocolViolation."""
    with pytest.raises(ProtocolViolation, match=fragment):
        parse_datagram(memoryview(data))


def test_params_travel_in_chunks_and_the_last_rides_with_execute() -> None:
    """Params over one chunk go as PARAMS datagrams (total, offset, bytes), the remainder in
    EXECUTE; joined back in order they are the params, and every datagram fits."""
    params = bytes(range(256)) * ((2 * Wire.PARAMS_CHUNK + 123) // 256 + 1)
    context = TriggerContext(velocity=90, number=61, mode="Live")
    datagrams = execute_messages(5, params, context)
    kinds = [parse_datagram(memoryview(d))[0] for d in datagrams]
    assert kinds == [Wire.PARAMS] * (len(datagrams) - 1) + [Wire.EXECUTE]
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)
    joined = b""
    for datagram in datagrams[:-1]:
        _kind, seq, payload = parse_datagram(memoryview(datagram))
        total, offset = struct.unpack_from("<II", payload)
        assert (seq, total, offset) == (5, len(params), len(joined))
        joined += payload[Wire.PARAMS_FIXED :]
    execute = parse_datagram(memoryview(datagrams[-1]))[2]
    total, velocity, _channel, number = struct.unpack_from("<IBBB", execute)
    assert (total, velocity, number) == (len(params), 90, 61)
    mode_len, tail_len, _value, source_len, event_len = struct.unpack_from("<IIdII", execute, 32)
    assert (source_len, event_len) == (0, 0)  # not a plugin event: no names
    rest = execute[Wire.EXECUTE_FIXED :]
    assert rest[:mode_len] == b"Live"
    assert joined + rest[mode_len:] == params and len(rest) - mode_len == tail_len


def test_a_plugin_events_context_carries_its_names() -> None:
    """source and event_name follow the mode; event_value rides in the fixed part."""
    context = TriggerContext(
        trigger_kind=10, mode="M", source="osc_in", event_name="/pad/1", event_value=0.25
    )
    execute = parse_datagram(memoryview(execute_messages(1, b"{}", context)[-1]))[2]
    mode_len, tail_len, value, source_len, event_len = struct.unpack_from("<IIdII", execute, 32)
    strings = execute[Wire.EXECUTE_FIXED :]
    assert (mode_len, source_len, event_len, tail_len, value) == (1, 6, 6, 2, 0.25)
    assert strings == b"Mosc_in/pad/1{}"
    with pytest.raises(ValueError):
        execute_messages(1, b"{}", TriggerContext(source="x" * 256))


def test_small_params_go_in_execute_alone() -> None:
    """Params that fit one chunk (empty ones too) are one EXECUTE datagram."""
    for params in (b"", b"{}", b"x" * Wire.PARAMS_CHUNK):
        datagrams = execute_messages(1, params, TriggerContext())
        assert [parse_datagram(memoryview(d))[0] for d in datagrams] == [Wire.EXECUTE]


def test_params_and_mode_over_their_limits_are_refused() -> None:
    """Params over MAX_PARAMS bytes, or a mode name over MAX_MODE bytes, raise ValueError."""
    with pytest.raises(ValueError, match="at most 1048576 are allowed"):
        execute_messages(1, b"x" * (Wire.MAX_PARAMS + 1), TriggerContext())
    with pytest.raises(ValueError, match="mode name is 4097 bytes"):
        execute_messages(1, b"{}", TriggerContext(mode="m" * (Wire.MAX_MODE + 1)))


@pytest.mark.parametrize(
    ("decode", "payload"),
    [
        (decode_hello, b"\x00" * 19),
        (decode_status, b"\x00" * 5),
        (decode_result, b"\x00" * 3),
        (decode_result, b"\x00" * (Wire.RESULT_FIXED + Wire.MESSAGE_CAPACITY)),
        (decode_log, b"\x00" * (Wire.LOG_FIXED + Wire.MAX_LOG + 1)),
        (decode_denied, b"\x00" * 10),
        (decode_denied, struct.pack("<IIiIQQI", 1, 0, 59, 0, 0, 0, 4) + b"exe"),
    ],
)
def test_wrong_sizes_from_the_worker_are_violations(decode, payload: bytes) -> None:
    """Every decoder checks the size before reading: a plugin writing to the socket itself
    cannot make the host read past a payload."""
    with pytest.raises(ProtocolViolation):
        decode(payload)


def test_a_denial_decodes() -> None:
    """DENIED carries reason, fatality, syscall number, two arguments and the name."""
    payload = struct.pack("<IIiIQQI", Wire.DENY_EXEC, 1, 59, 0, 7, 8, 6) + b"execve"
    assert decode_denied(payload) == (Wire.DENY_EXEC, True, 59, 7, 8, "execve")


def test_load_payload_carries_limits_grants_and_paths(tmp_path: Path) -> None:
    """LOAD: version, kernel-sandbox flag, capability bits, the limits, then each path with
    its access; a path with a NUL byte is refused."""
    spec = SandboxSpec(
        granted=frozenset({Capability.MIDI}), read_paths=(tmp_path,), max_open_files=99,
        kernel_sandbox=False,
    )  # fmt: skip
    payload = load_payload(spec)
    version, flags, caps, _procs, _space, files, vlen, count = struct.unpack_from(
        "<IIIIQIII", payload
    )
    assert (version, flags, caps, files) == (Wire.PROTOCOL_VERSION, 0, to_bits(spec.granted), 99)
    reads, writes = sandbox_paths(spec)
    assert count == len(reads) + len(writes)
    assert os.fsencode(str(tmp_path)) in payload[Wire.LOAD_FIXED + vlen :]
    with pytest.raises(ValueError, match="NUL byte"):
        load_payload(SandboxSpec(granted=frozenset(), read_paths=(Path("/tmp/a\0b"),)))
