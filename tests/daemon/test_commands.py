"""Every daemon command over the real control socket, against an in-process Daemon."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.daemon.client import ControlClient, IpcError
from midimon.daemon.commands import register_commands
from midimon.daemon.control_protocol import PROTOCOL_VERSION
from midimon.daemon.server import ControlServer
from midimon.daemon.service import Daemon

CONFIG = """
[device]
virtual_port = false
[plugins]
dev_mode = true
dirs = ["{plugins}"]
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "cmd_probe" }}
[[modes]]
name = "Other"
"""


@pytest.fixture
def control(tmp_path: Path, isolated_dirs, make_plugin: MakePlugin, jack_server):
    """A started Daemon with its control server; yields (daemon, client, stop_requested)."""
    make_plugin("cmd_probe")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(plugins=tmp_path / "plugins"))
    daemon = Daemon(config)
    stop_requested = threading.Event()
    register_commands(daemon, stop_requested.set)
    server = ControlServer(tmp_path / "run" / "midimon.sock", daemon.registry)
    server.start()
    daemon.start()
    client = ControlClient(server.socket_path)
    try:
        yield daemon, client, stop_requested
    finally:
        client.close()
        server.stop()
        daemon.stop()


def test_every_command(control, tmp_path: Path) -> None:
    """PING, STATUS, VALIDATE_CONFIG, RELOAD, LIST_DEVICES, MIDI_PORTS, EVENTS, plugin commands,
    AUDIT, STOP."""
    daemon, client, stop_requested = control
    assert client.request("PING")["protocol"] == PROTOCOL_VERSION
    status = client.request("STATUS")
    assert status["mode"] == "Default" and status["modes"] == ["Default", "Other"]
    assert status["config_is_default"] is False
    note = client.request("TRIGGER_SCHEMA")["Note"][0]
    assert note == {"name": "note", "required": True, "expected": "an integer in 0..127",
                    "kind": "integer", "min": 0, "max": 127}  # fmt: skip
    forms = client.request("ACTION_SCHEMA")
    count = forms["action"]["Repeat"][1]
    assert count == {"name": "count", "kind": "integer", "required": True,
                     "help": "how many times", "min": 1, "max": 1000}  # fmt: skip
    assert "blue" in forms["mode"][0]["choices"]  # the shipped templates' LED colours
    assert client.request("SET_MODE", {"mode": "Other"}) == {"mode": "Other"}
    assert client.request("STATUS")["mode"] == "Other"
    with pytest.raises(IpcError) as no_mode:
        client.request("SET_MODE", {"mode": "Nope"})
    assert "no mode 'Nope'; modes: Default, Other" in no_mode.value.message
    assert client.request("SET_MODE", {"mode": "Default"}) == {"mode": "Default"}

    valid = client.request("VALIDATE_CONFIG")
    assert valid["ok"] and valid["mappings"] == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[[modes]]\nname = 3\n")
    invalid = client.request("VALIDATE_CONFIG", {"path": str(bad)})
    assert not invalid["ok"] and "name" in invalid["errors"][0]
    # Plugin params are checked against the [plugin.params] of the plugins the daemon found.
    bad.write_text('[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
                   'trigger = { type = "Note", note = 36 }\n'
                   'action = { type = "Plugin", plugin = "http_request", params = {} }\n')
    invalid = client.request("VALIDATE_CONFIG", {"path": str(bad)})
    assert invalid["errors"] == [
        f'{bad}: modes[0] "Default" mappings[0]: action.params.url: is required by '
        'http_request: a string, e.g. "http://127.0.0.1:8080/pad?note={note}&velocity={velocity}"'
    ]
    assert client.request("PLUGIN_INFO", {"name": "http_request"})["params"]["params"][0] == {
        "name": "url", "type": "string", "required": True,
        "description": "the http:// URL to request (https:// is not supported)",
        "example": "http://127.0.0.1:8080/pad?note={note}&velocity={velocity}",
        "expected": "a string",
    }  # fmt: skip

    assert client.request("RELOAD")["ok"]
    with pytest.raises(IpcError) as failed:
        client.request("RELOAD", {"path": str(bad)})
    assert failed.value.code == 8 and "running one stays" in failed.value.message

    devices = client.request("LIST_DEVICES")
    assert "jack" in str(devices).lower()
    ports = client.request("MIDI_PORTS")  # every API; no MidiDevice in this in-process daemon
    assert ports["device"] is None and "jack" in [entry["api"] for entry in ports["apis"]]

    names = {p["name"] for p in client.request("PLUGINS")}
    assert "cmd_probe" in names
    assert client.request("PLUGIN_LOAD", {"name": "cmd_probe"}) == {"loaded": "cmd_probe"}
    info = client.request("PLUGIN_INFO", {"name": "cmd_probe"})
    assert info["loaded"] and info["isolation"] == "isolated"

    events: list[dict] = []

    def watch() -> None:
        with ControlClient(client.socket_path) as listener:
            for event in listener.stream("EVENTS"):
                events.append(event)
                if event.get("type") == "action":
                    return

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.3)
    daemon.feed(bytes([0x90, 36, 100]))
    watcher.join(10)
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["midi", "trigger", "action"] and events[2]["ok"], events

    stats = client.request("PLUGIN_STATS", {"name": "cmd_probe"})
    assert stats["executions"] == 1 and stats["successes"] == 1
    assert client.request("PLUGIN_DISABLE", {"name": "cmd_probe"}) == {"disabled": "cmd_probe"}
    assert client.request("PLUGIN_ENABLE", {"name": "cmd_probe"}) == {"enabled": "cmd_probe"}
    assert client.request("PLUGIN_UNLOAD", {"name": "cmd_probe"}) == {"unloaded": False}
    with pytest.raises(IpcError) as missing:
        client.request("PLUGIN_STATS", {"name": "nobody"})
    assert "no plugin named 'nobody'" in missing.value.message
    with pytest.raises(IpcError) as no_name:
        client.request("PLUGIN_LOAD", {})
    assert no_name.value.code == 4
    audit = client.request("AUDIT", {"plugin": "cmd_probe"})
    assert {"load", "disable", "enable"} <= {e["event"] for e in audit}

    assert client.request("STOP") == {"stopping": True}
    assert stop_requested.is_set()
