"""PLUGIN_INFO's answer (daemon/plugin_info.py) from an in-process Daemon over a real compiled
plugin: before its load (the integrity check run now, the sandbox as a preview) and after it
(the worker's own pid and enforcement)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.daemon.commands import register_commands
from midimon.daemon.plugin_info import plugin_info
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
action = {{ type = "Plugin", plugin = "info_probe" }}
"""


@pytest.fixture
def daemon(tmp_path: Path, isolated_dirs, make_plugin: MakePlugin, jack_server) -> Iterator[Daemon]:
    """A started Daemon whose one plugin, info_probe, declares Network (not granted)."""
    make_plugin(
        "info_probe",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(plugins=tmp_path / "plugins"))
    daemon = Daemon(config)
    register_commands(daemon, threading.Event().set)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def test_info_before_and_after_the_load(daemon: Daemon, tmp_path: Path) -> None:
    """Unloaded: the binary's real SHA-256, the trust of a check run now, the capability not
    granted, a preview of the sandbox and no worker. Loaded: the worker's pid (a live process)
    and what it enforces."""
    binary = tmp_path / "plugins" / "info_probe" / "plugin.so"
    daemon.manager.unload("info_probe")
    info = plugin_info(daemon, "info_probe")
    assert info["name"] == "info_probe" and info["loaded"] is False
    assert info["sha256_actual"] == hashlib.sha256(binary.read_bytes()).hexdigest()
    assert info["trust"] != "refused" and info["trust_problems"] == []
    [network] = info["capability_details"]
    assert network["name"] == "network" and network["granted"] is False
    assert network["risk"] and network["display_name"]
    assert info["enforced_by"] == "preview" and info["enforced"]
    assert info["worker_pid"] is None and info["denied"] == [] and info["requests"] == []

    daemon.manager.load("info_probe")
    loaded = plugin_info(daemon, "info_probe")
    assert loaded["loaded"] is True and loaded["enforced_by"] == "worker"
    pid = loaded["worker_pid"]
    assert isinstance(pid, int) and pid != os.getpid()
    os.kill(pid, 0)  # the worker is alive
    assert loaded["sha256_actual"] == info["sha256_actual"]


def test_an_unreadable_binary_reads_as_refused(daemon: Daemon, tmp_path: Path) -> None:
    """A missing binary: no SHA-256, trust "refused" with the loader's reason, and the rest of
    the answer still there."""
    daemon.manager.unload("info_probe")
    (tmp_path / "plugins" / "info_probe" / "plugin.so").unlink()
    info = plugin_info(daemon, "info_probe")
    assert info["sha256_actual"] is None and info["trust"] == "refused"
    assert "plugin.so" in info["trust_problems"][0]
    assert [c["name"] for c in info["capability_details"]] == ["network"]
