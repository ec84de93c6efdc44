"""Grant requests from refused pad presses against a real `midimon run` and a real Daemon on
either dispatch path: each names the mapping and trigger that made the call (request_origin),
and a grant from the panel clears it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, RunMidimon, wait_for
from panel_daemon import Panel

from midimon.daemon.dispatch import DISPATCH_PATHS, DISPATCH_VARIABLE
from midimon.daemon.service import Daemon
from midimon.paths import config_dir
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.integrity.minisign_keys import generate_keypair
from midimon.plugins.integrity.signing import sign_plugin
from midimon.plugins.integrity.trust import TrustStore


def test_refused_press_becomes_one_request_and_a_grant_runs_the_plugin(
    panel: Panel, run_midimon: RunMidimon
) -> None:
    """Presses on file_log without its grant: exactly one pending request whose count grows,
    announced on the stream; granting it (source ui) clears it and the next press writes."""
    panel.listen(["grant_request", "grant_request_cleared"])
    panel.press(40, 3)
    assert wait_for(lambda: any(r["count"] == 3 for r in panel.request("PLUGIN_REQUESTS")))
    rows = panel.request("PLUGIN_REQUESTS")
    assert len(rows) == 1
    row = rows[0]
    assert (row["plugin"], row["capability"], row["risk"], row["state"]) == (
        "file_log", "filesystem", "high", "pending"
    )  # fmt: skip
    assert row["mapping"] == 'modes[0] "Default" mappings[0] ("log pad")'
    assert row["trigger"].startswith("Note note=40") and "velocity 100" in row["trigger"]
    assert row["first"] <= row["last"] <= time.time()
    assert wait_for(lambda: any(e["type"] == "grant_request" for e in panel.events))
    first = next(e for e in panel.events if e["type"] == "grant_request")
    assert (first["plugin"], first["capability"], first["count"]) == ("file_log", "filesystem", 1)
    # the held-back count reaches the stream within about a second
    assert wait_for(lambda: panel.events[-1].get("count") == 3, 10)
    assert not panel.log.exists()

    listed = run_midimon("plugins", "requests", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(r["plugin"], r["count"]) for r in json.loads(listed.stdout)] == [("file_log", 3)]
    text = run_midimon("plugins", "requests")
    assert "midimon plugins grant file_log filesystem --write DIR" in text.stdout

    granted = panel.request("PLUGIN_GRANT", {"name": "file_log", "capability": "filesystem",
                                             "paths": [str(panel.log.parent)], "source": "ui"})
    assert granted == {"granted": "filesystem"}
    assert wait_for(lambda: any(e["type"] == "grant_request_cleared" for e in panel.events))
    cleared = next(e for e in panel.events if e["type"] == "grant_request_cleared")
    assert cleared == {"type": "grant_request_cleared", "plugin": "file_log",
                       "capability": "filesystem", "state": "granted"}  # fmt: skip
    assert panel.request("PLUGIN_REQUESTS", {"all": True}) == []
    panel.press(40)
    assert wait_for(lambda: panel.log.exists() and panel.log.read_text().count("\n") == 1)
    grant = [e for e in panel.audit("grant") if e["plugin"] == "file_log"][-1]
    assert grant["source"] == "ui" and grant["paths"] == [str(panel.log.parent)]
    denials = [e for e in panel.audit("deny") if e["plugin"] == "file_log"]
    assert len(denials) == 3 and all("source" not in e for e in denials)  # MIDI, not a person


def _signed(make_plugin: MakePlugin, *names: str) -> Path:
    """Test plugins asking for Network, signed by a key the user trusts (in-process needs
    it); their common folder."""
    public, secret = generate_keypair()
    TrustStore(config_dir() / "trusted_keys").add(public, "tests")
    folder = Path()
    for name in names:
        folder = make_plugin(name, defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
                             manifest={"capabilities": {"network": True}})  # fmt: skip
        manifest = load_manifest(folder)
        assert manifest.binary is not None
        sign_plugin(manifest, manifest.binary.read_bytes(), secret)
    return folder.parent


ORIGIN_CONFIG = """
[plugins]
dirs = ["{plugins}"]
[plugins.overrides.net_inline]
isolation = "in-process"
inline = true
[[modes]]
name = "Default"
[[modes.mappings]]
description = "inline pad"
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "net_inline", params = {{}} }}
[[modes.mappings]]
description = "worker pad"
trigger = {{ type = "Note", note = 37 }}
action = {{ type = "Plugin", plugin = "net_worker", params = {{}} }}
[[modes.mappings]]
description = "inline pad 2"
trigger = {{ type = "Note", note = 38 }}
action = {{ type = "Plugin", plugin = "net_inline", params = {{ second = true }} }}
"""


@pytest.mark.parametrize("path", DISPATCH_PATHS)
def test_a_refused_call_is_a_request_on_either_dispatch_path(
    path: str,
    isolated_dirs: dict[str, str],
    make_plugin: MakePlugin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the compiled and the reference dispatch alike, a Plugin action refused for a missing
    grant records one request naming its mapping and trigger: a worker plugin never granted,
    an inline one never granted, and an inline one whose grant was revoked while it was
    loaded (the compiled path then refuses it on the MIDI thread itself)."""
    plugins = _signed(make_plugin, "net_inline", "net_worker")
    config = tmp_path / "config.toml"
    config.write_text(ORIGIN_CONFIG.format(plugins=plugins))
    monkeypatch.setenv(DISPATCH_VARIABLE, path)
    daemon = Daemon(config)
    assert daemon.dispatch == path
    now = [10**12]

    def press(note: int) -> None:
        now[0] += 10**9
        daemon.feed(bytes([0x90, note, 100]), now[0])
        daemon.feed(bytes([0x80, note, 0]), now[0] + 1000)

    def requests() -> dict[str, dict[str, Any]]:
        return {r["plugin"]: r for r in daemon.requests.listing()}

    def expect(plugin: str, mapping: str, note: int, count: int) -> None:
        assert wait_for(lambda: requests().get(plugin, {}).get("count") == count, 10), requests()
        row = requests()[plugin]
        assert (row["capability"], row["risk"], row["state"]) == ("network", "medium", "pending")
        assert row["mapping"] == mapping, row
        assert row["trigger"].startswith(f"Note note={note} on channel 1, velocity 100"), row

    inline_pad = 'modes[0] "Default" mappings[0] ("inline pad")'
    try:
        press(37)
        expect("net_worker", 'modes[0] "Default" mappings[1] ("worker pad")', 37, 1)
        press(36)
        expect("net_inline", inline_pad, 36, 1)
        stats = daemon.manager.counters("net_inline")
        assert (stats.successes, stats.denials) == (0, 1)

        daemon.manager.grant("net_inline", Capability.NETWORK)
        assert daemon.requests.granted("net_inline", "network")
        daemon.manager.load("net_inline")
        assert daemon.manager.runs_inline("net_inline")
        press(36)
        assert wait_for(lambda: stats.successes == 1, 10)
        assert "net_inline" not in requests()

        press(38)
        press(36)
        assert wait_for(lambda: stats.successes == 3, 10)

        # revoked while loaded: the next call (inline, on this very thread on the compiled
        # path) restarts it without the grant and is refused; the request names pad 2, not
        # the pad this thread ran last
        assert daemon.manager.grants.revoke("net_inline", Capability.NETWORK)
        pad_2 = 'modes[0] "Default" mappings[2] ("inline pad 2")'
        press(38)
        expect("net_inline", pad_2, 38, 1)
        press(36)
        expect("net_inline", inline_pad, 38, 2)  # the latest mapping; the first trigger
        assert (stats.successes, stats.denials) == (3, 3)
    finally:
        daemon.stop()
