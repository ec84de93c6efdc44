"""One control connection: malformed, oversized and slow requests, failing or slow handlers; the
connection survives what it can and never blocks another."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from control_raw import Raw, timed_ping, wait_until

from midimon.daemon import (
    PROTOCOL_VERSION,
    CommandRegistry,
    ControlClient,
    ControlServer,
    ErrorCode,
    IpcError,
)


def test_version_mismatch(server: ControlServer, sock_path: Path) -> None:
    """HELLO with another protocol version gets error 7 and the daemon hangs up."""
    raw = Raw(sock_path)
    raw.send({"id": "h", "command": "HELLO", "args": {"protocol": PROTOCOL_VERSION + 1}})
    answer = raw.recv()
    assert answer is not None and answer["id"] == "h" and answer["status"] == "error"
    assert answer["error"]["code"] == ErrorCode.VERSION_MISMATCH == 7
    assert "protocol 2" in answer["error"]["message"]
    assert raw.recv() is None
    raw.close()


def test_unknown_command(server: ControlServer, sock_path: Path) -> None:
    """An unknown command is error 3 (exit status 2) and the connection stays usable."""
    with ControlClient(sock_path) as client:
        with pytest.raises(IpcError) as info:
            client.request("FROBNICATE")
        assert info.value.code == ErrorCode.UNKNOWN_COMMAND
        assert info.value.exit_status == 2
        assert "PING" in info.value.message  # lists what is known
        assert client.request("PING")["protocol"] == PROTOCOL_VERSION


def test_malformed_json_keeps_connection(server: ControlServer, sock_path: Path) -> None:
    """Bad JSON, bad UTF-8 or absurd nesting get error 1 (id null); the next line still works."""
    raw = Raw(sock_path)
    nested = b"[" * 60000 + b"\n"
    for bad in (b"{not json\n", b'{"id": 1, "command": "PING", "x": \xff}\n', b"[NaN]\n", nested):
        raw.send(bad)
        answer = raw.recv()
        assert answer is not None
        assert answer == {"id": None, "status": "error", "error": answer["error"]}
        assert answer["error"]["code"] == ErrorCode.BAD_JSON
    raw.send({"id": 5, "command": "PING"})
    answer = raw.recv()
    assert answer is not None and answer["id"] == 5 and answer["status"] == "ok"
    raw.close()


def test_bad_request_shape(server: ControlServer, sock_path: Path) -> None:
    """A wrong request shape is error 2, naming the id when it could be read."""
    raw = Raw(sock_path)
    cases: list[tuple[Any, Any]] = [
        ([1, 2], None),
        ({"command": "PING"}, None),
        ({"id": True, "command": "PING"}, None),
        ({"id": 3, "command": "ping"}, 3),
        ({"id": 4, "command": "PING", "args": [1]}, 4),
        ({"id": "x", "command": "PING", "extra": 1}, "x"),
    ]
    for request, rid in cases:
        raw.send(json.dumps(request).encode() + b"\n")
        answer = raw.recv()
        assert answer is not None and answer["id"] == rid, request
        assert answer["error"]["code"] == ErrorCode.BAD_REQUEST, request
    raw.close()


def test_oversized_request(server: ControlServer, sock_path: Path) -> None:
    """Before HELLO a request line over 64 KiB gets error 5 and the connection is closed."""
    for payload in (b"x" * (70 * 1024), b'{"id":1,"command":"PING","args":{"a":"' + b"y" * 70000):
        raw = Raw(sock_path, hello=False)
        raw.sock.sendall(payload)
        answer = raw.recv()
        assert answer is not None and answer["error"]["code"] == ErrorCode.REQUEST_TOO_LARGE
        assert raw.recv() is None
        raw.close()


def test_authenticated_lines_may_be_longer_up_to_their_own_limit(
    registry: CommandRegistry, tmp_path: Path
) -> None:
    """After HELLO a line over 64 KiB (a package upload) is served; one over the
    authenticated limit gets error 5 and the connection is closed."""
    path = tmp_path / "big" / "midimon.sock"
    srv = ControlServer(path, registry, max_authenticated_request_bytes=256 * 1024)
    srv.start()
    try:
        raw = Raw(path)
        raw.send({"id": 1, "command": "PING", "args": {"a": "y" * 200_000}})
        answer = raw.recv()
        assert answer is not None and answer["status"] == "ok", answer
        raw.send({"id": 2, "command": "PING", "args": {"a": "y" * 300_000}})
        answer = raw.recv()
        assert answer is not None and answer["error"]["code"] == ErrorCode.REQUEST_TOO_LARGE
        assert "262144" in answer["error"]["message"]
        assert raw.recv() is None
        raw.close()
    finally:
        srv.stop()


def test_request_just_under_limit(server: ControlServer, sock_path: Path) -> None:
    """A request line close to the limit is served normally."""
    with ControlClient(sock_path) as client:
        blob = "z" * (60 * 1024)
        assert client.request("ECHO", {"blob": blob})["args"]["blob"] == blob


def test_handler_raising(server: ControlServer, sock_path: Path) -> None:
    """A handler raising is error 8 with its message; a CommandError keeps its own code."""
    with ControlClient(sock_path) as client:
        with pytest.raises(IpcError) as info:
            client.request("FAIL")
        assert info.value.code == ErrorCode.COMMAND_FAILED
        assert info.value.message == "the disk is on fire"
        assert info.value.exit_status == 1
        with pytest.raises(IpcError) as info:
            client.request("REFUSE")
        assert (info.value.code, info.value.message) == (4, "velocity must be in 0..127")


def test_result_not_json(server: ControlServer, sock_path: Path, registry: CommandRegistry) -> None:
    """A handler returning something JSON cannot carry is error 8, not a dropped connection."""
    registry.register("BYTES", lambda args, ctx: b"raw")
    with ControlClient(sock_path) as client:
        with pytest.raises(IpcError) as info:
            client.request("BYTES")
        assert info.value.code == ErrorCode.COMMAND_FAILED
        assert "not JSON" in info.value.message
        assert client.request("PING")["protocol"] == PROTOCOL_VERSION


def test_handler_timeout(server: ControlServer, sock_path: Path) -> None:
    """A handler past its timeout is answered with error 9 and its context is cancelled."""
    with ControlClient(sock_path) as client:
        started = time.monotonic()
        with pytest.raises(IpcError) as info:
            client.request("SLOW")
        assert info.value.code == ErrorCode.TIMEOUT
        assert time.monotonic() - started < 2
        assert client.request("PING")["pid"] == os.getpid()


def test_slowloris_and_non_reader_do_not_block_others(
    server: ControlServer, sock_path: Path, registry: CommandRegistry
) -> None:
    """A client that never finishes a line and clients that never read leave PING under 1 s."""
    slowloris = Raw(sock_path)
    slowloris.send(b'{"id": 1, "comm')
    dripping = time.monotonic()
    # Pipelines requests and never reads the answers.
    flooder = Raw(sock_path).sock  # authenticated, so its requests run
    flooder.setblocking(False)
    request = b'{"id": 1, "command": "ECHO", "args": {"pad": "' + b"p" * 2000 + b'"}}\n'
    sent = 0
    for _ in range(2000):
        try:
            sent += flooder.send(request)
        except BlockingIOError:
            break
    assert sent > 0
    # Subscribes to events and never reads them.
    listener = Raw(sock_path)
    listener.send({"id": "e", "command": "EVENTS"})
    wait_until(lambda: registry.events.subscriber_count == 1)
    started = time.monotonic()
    for i in range(5000):
        registry.events.publish({"n": i, "pad": "q" * 500})
    assert time.monotonic() - started < 1, "publish blocked on a slow subscriber"

    assert timed_ping(sock_path) < 1
    # The slowloris keeps dripping bytes; it is cut off after line_timeout (1 s) all the same.
    slowloris.sock.sendall(b"m")
    assert timed_ping(sock_path) < 1
    assert slowloris.recv() is None  # the daemon hung up without answering
    assert time.monotonic() - dripping < 2.5
    assert timed_ping(sock_path) < 1
    # The non-readers are dropped once a write stalls past write_timeout (0.5 s).
    wait_until(lambda: server.connection_count == 0, timeout=5)
    assert registry.events.subscriber_count == 0
    assert timed_ping(sock_path) < 1
    for sock in (flooder, listener.sock):
        sock.close()
    slowloris.close()
