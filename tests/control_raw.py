"""A bare control-socket client for the daemon tests: speaks the line protocol directly, for
what ControlClient would never send."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from midimon.daemon import PROTOCOL_VERSION, ControlClient
from midimon.daemon.cookie import cookie_path, read_cookie


class Raw:
    """A bare socket speaking the line protocol, for what ControlClient would never send.

    ``hello=True`` first says HELLO with the daemon's cookie, as every real client must.
    """

    def __init__(self, path: Path, timeout: float = 5.0, *, hello: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")
        if hello:
            cookie = read_cookie(cookie_path(path))
            self.send({"id": "hello", "command": "HELLO", "args": hello_args(cookie)})
            answer = self.recv()
            assert answer is not None and answer["status"] == "ok", answer

    def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.sock.sendall(data)

    def recv(self) -> dict[str, Any] | None:
        line = self.reader.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def hello_args(cookie: Any) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "cookie": cookie}


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def timed_ping(sock_path: Path) -> float:
    """Seconds a fresh ControlClient takes to connect and get a PING answered."""
    started = time.monotonic()
    with ControlClient(sock_path, timeout=2) as client:
        client.request("PING")
    return time.monotonic() - started
