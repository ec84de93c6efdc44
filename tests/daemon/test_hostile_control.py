"""A sandboxed plugin that holds local sockets cannot drive the daemon over its control socket.

The plugin (granted Audio, which brings AF_UNIX) connects to the real control socket of a
running Daemon, tries to read the cookie, then sends HELLO with a guessed cookie followed by a
grant (in one write), HELLO without a cookie, and a bare PLUGIN_GRANT, RELOAD and STOP, each on a
new connection. Every attempt is
refused with UNAUTHENTICATED and audited; the daemon keeps running and no grant changes.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import IN_CI, MakePlugin
from hostile import HOSTILE_SOURCE

from midimon.daemon.client import ControlClient
from midimon.daemon.commands import register_commands
from midimon.daemon.control_protocol import ErrorCode
from midimon.daemon.cookie import cookie_path
from midimon.daemon.server import ControlServer
from midimon.daemon.service import Daemon
from midimon.paths import socket_path
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext

CONFIG = """
[device]
virtual_port = false
[plugins]
dev_mode = true
dirs = ["{plugins}"]
[[modes]]
name = "Default"
"""


@pytest.fixture
def daemon_at_home(
    tmp_path: Path, isolated_dirs: dict[str, str], make_plugin: MakePlugin
) -> Iterator[tuple[Daemon, ControlServer, threading.Event]]:
    """A started Daemon serving its control socket at the (test's) runtime dir, with a hostile
    plugin granted Audio and a victim plugin that asks for Network."""
    make_plugin(
        "victim", defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )  # fmt: skip
    make_plugin(
        "h_control",
        source=HOSTILE_SOURCE,
        defines={
            "HOSTILE_CONTROL": "1",
            "P_CAPS": "MIDIMON_CAP_AUDIO",
            "P_PATH": f'"{socket_path()}"',
            "P_COOKIE": f'"{cookie_path(socket_path())}"',
        },
        manifest={"capabilities": {"audio": True}},
    )
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(plugins=tmp_path / "plugins"))
    daemon = Daemon(config)
    stop_requested = threading.Event()
    register_commands(daemon, stop_requested.set)

    def audit_refusal(reason: str, peer) -> None:
        who = {"pid": peer.pid, "uid": peer.uid} if peer else {}
        daemon.manager.audit.record("control_refused", "midimon", reason=reason, **who)

    server = ControlServer(socket_path(), daemon.registry, on_refused=audit_refusal).start()
    daemon.start()
    daemon.manager.grant("h_control", Capability.AUDIO)
    try:
        yield daemon, server, stop_requested
    finally:
        server.stop()
        daemon.stop()


def test_plugin_with_local_sockets_cannot_drive_the_daemon(daemon_at_home) -> None:
    """The cookie is unreadable from the worker, every command is refused (error 12), the
    refusals are audited with the worker's pid, and nothing changed: no grant, no stop."""
    daemon, server, stop_requested = daemon_at_home
    result = daemon.manager.execute("h_control", {}, TriggerContext(velocity=1))
    assert result.ok, result
    enforced = daemon.manager.describe("h_control")["enforced"]
    if not any(line.startswith("Landlock ABI") for line in enforced):
        if IN_CI:
            pytest.fail("Landlock is not in force in the worker under CI")
        pytest.skip("Landlock is not available here: the worker could read the cookie")
    parts = dict(line.split(":", 1) for line in result.message.splitlines())
    assert parts["cookie"] == os.strerror(errno.EACCES)  # Landlock: the runtime dir is not read
    for i in range(5):
        answer = json.loads(parts[f"reply{i}"].strip())
        assert answer["status"] == "error", (i, answer)
        assert answer["error"]["code"] == ErrorCode.UNAUTHENTICATED, (i, answer)
    # Nothing happened: the daemon runs, the victim has no Network, no reload was asked for.
    assert not stop_requested.is_set()
    assert daemon.manager.describe("victim")["granted"] == []
    with ControlClient(server.socket_path) as client:
        assert client.request("PING")["pid"] == os.getpid()
        assert client.request("STATUS")["reloads"] == daemon.status()["reloads"] == 0
    refusals = list(daemon.manager.audit.read(event="control_refused"))
    assert len(refusals) == 5
    worker_pid = daemon.manager.loaded_plugin("h_control").runner.worker_pid
    assert {r["pid"] for r in refusals} == {worker_pid}
    assert sum("without the right cookie" in r["reason"] for r in refusals) == 2
