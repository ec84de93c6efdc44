"""The panel's listening sockets and login URL (ui/server.py): loopback only, one port for
both families, and a taken port is a PanelError naming it. The served panel itself is
tested over real HTTP in tests/ui/test_security.py and tests/cli/test_ui_cmd.py."""

from __future__ import annotations

import socket

import pytest

from midimon.ui.errors import PanelError
from midimon.ui.security import LOGIN_PATH
from midimon.ui.server import bind_loopback, panel_url


def test_bind_loopback_listens_on_loopback_only_on_one_port() -> None:
    """Port 0: a free port, the same on 127.0.0.1 and (where this host has it) ::1."""
    sockets = bind_loopback(0)
    try:
        addresses = {s.getsockname()[0] for s in sockets}
        ports = {s.getsockname()[1] for s in sockets}
        assert addresses <= {"127.0.0.1", "::1"} and "127.0.0.1" in addresses
        assert len(ports) == 1 and ports.pop() > 0
        with socket.create_connection(("127.0.0.1", sockets[0].getsockname()[1]), 2):
            pass  # it accepts
    finally:
        for sock in sockets:
            sock.close()


def test_a_taken_port_is_a_panel_error_naming_it() -> None:
    """A port another socket listens on: PanelError with the address and port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(PanelError, match=f"127.0.0.1:{port}"):
            bind_loopback(port)


def test_panel_url_is_the_login_path_on_127_0_0_1() -> None:
    """The URL a browser opens: the login path with the one-time token."""
    assert panel_url(8123, "abc") == f"http://127.0.0.1:8123{LOGIN_PATH}?token=abc"
