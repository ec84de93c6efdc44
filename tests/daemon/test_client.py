"""ControlClient: answers over a real socket, many clients at once, and clear errors when the
daemon is missing or the cookie unreadable."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from midimon.daemon import (
    PROTOCOL_VERSION,
    CommandRegistry,
    ControlClient,
    ControlServer,
    DaemonNotRunning,
    ErrorCode,
    IpcError,
)
from midimon.daemon.cookie import cookie_path


def test_ping_and_hello(server: ControlServer, sock_path: Path) -> None:
    """HELLO on connect records the daemon's identity; PING returns version, pid and uptime."""
    with ControlClient(sock_path) as client:
        data = client.request("PING")
        assert client.server_info is not None
        assert client.server_info["protocol"] == PROTOCOL_VERSION
    assert data["protocol"] == PROTOCOL_VERSION
    assert data["pid"] == os.getpid()
    assert isinstance(data["version"], str) and data["version"]
    assert data["uptime"] >= 0


def test_client_without_a_readable_cookie(server: ControlServer, sock_path: Path) -> None:
    """ControlClient names the cookie file it could not read (exit status 4)."""
    cookie_path(sock_path).unlink()
    with pytest.raises(IpcError) as info:
        ControlClient(sock_path).request("PING")
    assert info.value.code == ErrorCode.UNAUTHENTICATED
    assert str(cookie_path(sock_path)) in info.value.message and info.value.exit_status == 4


def test_concurrent_control_clients(server: ControlServer, sock_path: Path) -> None:
    """20 ControlClients each doing 50 sequential requests get the right answers."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with ControlClient(sock_path, timeout=20) as client:
                for i in range(50):
                    assert client.request("ECHO", {"n": n, "i": i})["args"] == {"n": n, "i": i}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors[0]


def test_stop_removes_socket_and_client_says_not_running(
    sock_path: Path, registry: CommandRegistry
) -> None:
    """stop() removes the socket; a client then gets the 'start it with' message."""
    srv = ControlServer(sock_path, registry).start()
    srv.stop()
    assert not sock_path.exists()
    with pytest.raises(DaemonNotRunning) as info:
        ControlClient(sock_path).request("PING")
    assert str(info.value) == (
        f"midimon is not running (no socket at {sock_path}); start it with: midimon run"
    )
    assert info.value.exit_status == 3
    srv2 = ControlServer(sock_path, registry).start()  # the lock was released
    srv2.stop()
