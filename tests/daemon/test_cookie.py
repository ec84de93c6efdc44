"""The control socket's cookie: a private file new at each start, and without it nothing is
served."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from control_raw import Raw

from midimon.daemon import (
    PROTOCOL_VERSION,
    CommandRegistry,
    ControlServer,
    ErrorCode,
    exit_status_for,
)
from midimon.daemon.cookie import cookie_path, read_cookie


def test_cookie_file_is_private_and_new_at_each_start(
    sock_path: Path, registry: CommandRegistry
) -> None:
    """The cookie is 32 random bytes in hex, 0600, rewritten at each start, removed at stop."""
    path = cookie_path(sock_path)
    with ControlServer(sock_path, registry):
        first = read_cookie(path)
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
        assert len(bytes.fromhex(first)) == 32
    assert not path.exists()
    with ControlServer(sock_path, registry):
        assert read_cookie(path) != first


@pytest.mark.parametrize(
    "hello",
    [
        None,  # no HELLO at all: PING first
        {"protocol": PROTOCOL_VERSION},
        {"protocol": PROTOCOL_VERSION, "cookie": ""},
        {"protocol": PROTOCOL_VERSION, "cookie": "0" * 64},
        {"protocol": PROTOCOL_VERSION, "cookie": 12},
    ],
)
def test_without_the_cookie_nothing_is_served(
    server: ControlServer, sock_path: Path, hello: dict[str, Any] | None
) -> None:
    """A missing or wrong cookie, or a command before HELLO: error 12, hung up, logged."""
    audited: list[tuple[str, Any]] = []
    server.on_refused = lambda reason, peer: audited.append((reason, peer))
    raw = Raw(sock_path, hello=False)
    lines = [{"id": 1, "command": "ECHO", "args": {"x": 1}}]
    if hello is not None:
        lines.insert(0, {"id": "h", "command": "HELLO", "args": hello})
    raw.send(b"".join(json.dumps(line).encode() + b"\n" for line in lines))  # one write
    answer = raw.recv()
    assert answer is not None and answer["status"] == "error"
    assert answer["error"]["code"] == ErrorCode.UNAUTHENTICATED == 12
    assert str(cookie_path(sock_path)) in answer["error"]["message"]
    assert raw.recv() is None  # hung up: the ECHO never ran
    raw.close()
    assert len(audited) == 1 and audited[0][1].pid == os.getpid()
    assert ("HELLO without" in audited[0][0]) == (hello is not None)
    assert exit_status_for(ErrorCode.UNAUTHENTICATED) == 4
