"""Trigger plugins in a running daemon: OSC packets sent over UDP fire its mappings, through the
bundled osc_in plugin in its own sandboxed worker; floods are capped while MIDI is served."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, drain, free_udp_port, osc_packet, wait_for

from midimon.daemon.service import Daemon
from midimon.paths import config_dir
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.integrity.minisign_keys import generate_keypair
from midimon.plugins.integrity.signing import sign_plugin
from midimon.plugins.integrity.trust import TrustStore

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="isolated workers are Linux only"
)

CONFIG = """
[plugins]
dirs = ["{plugins}"]
[plugins.settings.osc_in]
port = {port}
[plugins.overrides.osc_in]
event_rate_limit = {rate}

[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Plugin", plugin = "osc_in", event = "/pad/1" }}
action = {{ type = "SendMidi", messages = [{{ type = "note_on", note = 61, velocity = 99 }}] }}
[[modes.mappings]]
trigger = {{ type = "Plugin", plugin = "osc_in", event = "/fader", value_min = 0.5 }}
action = {{ type = "Plugin", plugin = "probe_ok" }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "SendMidi", messages = [{{ type = "note_on", note = 36, velocity = 1 }}] }}

[[global_mappings]]
trigger = {{ type = "Plugin", plugin = "osc_in", event = "/global" }}
action = {{ type = "SendMidi", messages = [{{ type = "cc", controller = 7, value = 3 }}] }}
"""


class Sent:
    """The daemon's MIDI output: what its SendMidi actions sent."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, port: str | None, data: bytes) -> None:
        with self.lock:
            self.messages.append(bytes(data))

    def count(self, data: bytes) -> int:
        with self.lock:
            return self.messages.count(data)


def _probe(make_plugin: MakePlugin) -> Path:
    """A signed action plugin that echoes the plugin and event names of its context."""
    folder = make_plugin(defines={"P_CONTEXT_NAMES": "1"})
    public, secret = generate_keypair()
    TrustStore(config_dir() / "trusted_keys").add(public, "tests")
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    sign_plugin(manifest, manifest.binary.read_bytes(), secret)
    return folder.parent


def _daemon(tmp_path: Path, make_plugin: MakePlugin, rate: int = 1000, grant: bool = True):
    port = free_udp_port()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(plugins=_probe(make_plugin), port=port, rate=rate))
    sent = Sent()
    daemon = Daemon(config, send_midi=sent)
    if grant:
        daemon.manager.grant("osc_in", Capability.NETWORK)
    return daemon, sent, port


def _send(port: int, *packets: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in packets:
            sock.sendto(packet, ("127.0.0.1", port))


def _audit(daemon: Daemon, event: str) -> list[dict[str, Any]]:
    return list(daemon.manager.audit.read(plugin="osc_in", event=event))


def test_osc_packets_fire_mappings_in_a_running_daemon(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """/pad/1 sends MIDI (mode mapping), /global too (global mapping), /fader >= 0.5 runs a
    plugin action whose context names osc_in and /fader; monitor sees the plugin events."""
    daemon, sent, port = _daemon(tmp_path, make_plugin)
    stream = daemon.registry.events.subscribe(["plugin_event", "action"])
    daemon.start()
    try:
        assert daemon.plugin_events.plugins.running() == ["osc_in"]
        _send(port, osc_packet("/pad/1", 1), osc_packet("/global", 1.0))
        _send(port, osc_packet("/fader", 0.25), osc_packet("/fader", 0.75))
        assert wait_for(lambda: daemon.counters.actions_ok >= 3, 20), daemon.counters
        assert sent.count(bytes([0x90, 61, 99])) == 1
        assert sent.count(bytes([0xB0, 7, 3])) == 1
        time.sleep(0.2)
        items = drain(stream)
        events = [(i["event"], i["value"]) for i in items if i["type"] == "plugin_event"]
        assert events == [("/pad/1", 1.0), ("/global", 1.0), ("/fader", 0.25), ("/fader", 0.75)]
        plugin_actions = [i for i in items if i["type"] == "action" and "kind=" in i["detail"]]
        assert len(plugin_actions) == 1, items
        detail = plugin_actions[0]["detail"]
        assert "kind=10" in detail and "src=osc_in ev=/fader ev_val=0.75" in detail, detail
        status = daemon.status()["plugin_events"]
        assert status["plugins"]["osc_in"]["delivered"] == 4
        assert status["dispatched"] == 3
        assert _audit(daemon, "load")[-1]["mode"] == "trigger"
    finally:
        daemon.stop()
    assert daemon.plugin_events.plugins.running() == []


def test_malformed_and_oversized_packets_are_ignored(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """Garbage and a datagram over 8 KiB fire nothing; the next good packet still does."""
    daemon, sent, port = _daemon(tmp_path, make_plugin)
    daemon.start()
    try:
        _send(port, b"\x00\x01garbage", osc_packet("/pad/1", "x" * 9000), osc_packet("/pad/1", 1))
        assert wait_for(lambda: sent.count(bytes([0x90, 61, 99])) == 1, 20)
        time.sleep(0.2)
        assert sent.count(bytes([0x90, 61, 99])) == 1
        assert daemon.status()["plugin_events"]["plugins"]["osc_in"]["received"] == 1
    finally:
        daemon.stop()


def test_a_flood_past_the_cap_is_dropped_while_midi_is_served(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """3000 OSC packets against a cap of 100/s: the excess is dropped, counted and audited,
    and every one of 300 MIDI notes fed meanwhile still fires its action."""
    daemon, sent, port = _daemon(tmp_path, make_plugin, rate=100)
    daemon.start()
    try:
        flood = threading.Thread(
            target=lambda: [
                (_send(port, *(osc_packet("/pad/1", 1) for _ in range(100))), time.sleep(0.005))
                for _ in range(30)
            ]
        )
        started = time.monotonic()
        flood.start()
        for _ in range(300):
            daemon.feed(bytes([0x90, 36, 100]))
            time.sleep(0.001)
        flood.join()
        assert wait_for(lambda: sent.count(bytes([0x90, 36, 1])) == 300, 20)
        elapsed = time.monotonic() - started
        time.sleep(0.3)
        _send(port, osc_packet("/global", 1))  # passes the refilled cap, reports the drops
        assert wait_for(lambda: sent.count(bytes([0xB0, 7, 3])) == 1, 20)
        stats = daemon.status()["plugin_events"]["plugins"]["osc_in"]
        dropped = stats["dropped_in_worker"] + stats["dropped_rate"]
        fired = sent.count(bytes([0x90, 61, 99]))
        assert fired <= 100 + 100 * elapsed + 1, (fired, elapsed)
        assert dropped > 1000 and fired + dropped >= 2900, stats
        assert sum(r["dropped"] for r in _audit(daemon, "trigger_rate_limited")) > 0
    finally:
        daemon.stop()


def test_without_the_network_grant_it_is_refused_and_audited(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """osc_in declares Network: not granted, it never starts; the refusal is audited."""
    daemon, _sent, _port = _daemon(tmp_path, make_plugin, grant=False)
    daemon.start()
    try:
        assert daemon.plugin_events.plugins.running() == []
        assert _audit(daemon, "deny")[-1]["capabilities"] == ["network"]
        refused = _audit(daemon, "trigger_refused")[-1]["reason"]
        assert "network" in refused and "midimon plugins grant osc_in network" in refused
    finally:
        daemon.stop()


def test_a_crashed_trigger_worker_restarts(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """A killed osc_in worker is audited as a crash and restarted (backoff); events flow again."""
    import os
    import signal

    daemon, sent, port = _daemon(tmp_path, make_plugin)
    daemon.start()
    try:
        stats = daemon.plugin_events.plugins.stats()["osc_in"]
        os.kill(stats["worker_pid"], signal.SIGSEGV)
        assert wait_for(lambda: daemon.plugin_events.plugins.stats()["osc_in"]["starts"] == 2)
        assert wait_for(lambda: daemon.plugin_events.plugins.running() == ["osc_in"])
        assert _audit(daemon, "crash")
        _send(port, osc_packet("/pad/1", 1))
        assert wait_for(lambda: sent.count(bytes([0x90, 61, 99])) == 1, 20)
    finally:
        daemon.stop()


def test_gamepad_events_fire_mappings_with_a_one_device_grant(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """The bundled gamepad, granted read access to one device node (a FIFO standing in for
    it), fires a mapping from real struct input_event records; the grant names that node."""
    import os
    import struct

    device = tmp_path / "dev" / "event-joystick"
    device.parent.mkdir()
    os.mkfifo(device)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{_probe(make_plugin)}"]\n'
        f'[plugins.settings.gamepad]\ndevice = "{device}"\n'
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
        'trigger = { type = "Plugin", plugin = "gamepad", event = "BTN_SOUTH", value_min = 1 }\n'
        'action = { type = "SendMidi", messages = [\n'
        '  { type = "note_on", note = 62, velocity = 7 }] }\n'
    )
    sent = Sent()
    daemon = Daemon(config, send_midi=sent)
    daemon.manager.grant("gamepad", Capability.FILESYSTEM, read_paths=[device])
    daemon.start()
    try:
        assert daemon.plugin_events.plugins.running() == ["gamepad"]
        with open(device, "wb", buffering=0) as pad:
            for value in (1, 0, 1):  # press, release, press: two presses fire
                pad.write(struct.pack("=qqHHi", 0, 0, 1, 0x130, value))
            assert wait_for(lambda: sent.count(bytes([0x90, 62, 7])) == 2, 20)
        grant = _audit_of(daemon, "gamepad", "grant")[-1]
        assert str(device) in json.dumps(grant)
    finally:
        daemon.stop()


def _audit_of(daemon: Daemon, plugin: str, event: str) -> list[dict[str, Any]]:
    return list(daemon.manager.audit.read(plugin=plugin, event=event))
