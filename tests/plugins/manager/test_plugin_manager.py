"""The PluginManager: lifecycle, grants that persist by binary hash, limits, stats, audit."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import MakePlugin, RecordingHost

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.results import Outcome

CTX = TriggerContext(velocity=100, number=36)


def audit_events(tmp_path: Path, plugin: str | None = None) -> list[dict]:
    path = tmp_path / "state" / "audit.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in lines if plugin is None or e["plugin"] == plugin]


def test_lifecycle_lazy_load_execute_unload(
    make_plugin: MakePlugin, make_manager, tmp_path
) -> None:
    """available -> (lazy) loaded on first execute -> unloaded; each step audited."""
    make_plugin("life")
    manager = make_manager()
    mine = [p.name for p in manager.list_available() if p.search_dir == tmp_path / "plugins"]
    assert mine == ["life"]
    assert manager.list_loaded() == []
    result = manager.execute("life", {"k": 1}, CTX)
    assert result.ok, result
    assert result.message.startswith('original params={"k":1} vel=100')
    assert manager.list_loaded() == ["life"]
    assert manager.get_metadata("life").version == "1.0.0"
    assert manager.unload("life") and manager.list_loaded() == []
    events = [e["event"] for e in audit_events(tmp_path, "life")]
    assert events[:2] == ["verify", "load"] and events[-1] == "unload"
    load = next(e for e in audit_events(tmp_path, "life") if e["event"] == "load")
    assert load["mode"] == "isolated" and load["trust"] == "unsigned-allowed"


def test_unknown_plugin_and_unsigned_refused(make_plugin: MakePlugin, make_manager) -> None:
    """Unknown names are unavailable; unsigned plugins are refused without dev mode."""
    make_plugin("unsigned_one")
    strict = make_manager(dev_mode=False)
    assert strict.execute("nobody", {}, CTX).outcome is Outcome.UNAVAILABLE
    result = strict.execute("unsigned_one", {}, CTX)
    assert result.outcome is Outcome.UNAVAILABLE and "no signature" in result.message


def test_grants_follow_settings_replaced_by_a_reload(
    make_plugin: MakePlugin, make_manager
) -> None:
    """The daemon's reload replaces manager.settings: manager.grants judges by the new
    auto_grant at once (it reads the manager's settings, never a copy)."""
    from midimon.plugins.settings import parse_plugin_settings

    make_plugin(
        "midi_reload",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SEND_MIDI": "1"},
        manifest={"capabilities": {"midi": True}},
    )
    manager = make_manager(auto_grant=[])
    manifest = manager.get_metadata("midi_reload")
    sha256, signer = manager.grants.current_binary("midi_reload")
    assert manager.grants.granted_to(manifest, sha256, signer)[0] == frozenset()
    manager.settings = parse_plugin_settings({"dev_mode": True})  # what a reload does
    assert manager.grants.granted_to(manifest, sha256, signer)[0] == {Capability.MIDI}
    assert manager.execute("midi_reload", {}, CTX).ok


def test_an_isolated_plugin_sets_a_pad_led(
    make_plugin: MakePlugin, make_manager, recording_host: RecordingHost
) -> None:
    """In the sandboxed worker, the "midimon.leds/1" extension's set_pad travels to the host's
    set_led (Midi granted); the host's refusal comes back as the plugin's status; without the
    grant the worker refuses it and the host hears nothing."""
    make_plugin(
        "led_iso",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SET_LED": '"red"'},
        manifest={"capabilities": {"midi": True}},
    )
    make_plugin(
        "led_nope",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SET_LED": '"nope"'},
        manifest={"capabilities": {"midi": True}},
    )
    manager = make_manager()  # dev mode: low-risk Midi is granted automatically
    assert manager.execute("led_iso", {}, CTX).ok
    assert recording_host.leds == [("led_iso", 36, "red")]
    refused = manager.execute("led_nope", {}, CTX)
    assert not refused.ok and "set_pad refused: 2" in refused.message
    ungranted = make_manager(auto_grant=[])
    result = ungranted.execute("led_iso", {}, CTX)
    assert not result.ok
    assert recording_host.leds == [("led_iso", 36, "red"), ("led_nope", 36, "nope")]


def test_disable_enable_persist(make_plugin: MakePlugin, make_manager) -> None:
    """A disabled plugin does not run, across restarts, until enabled."""
    make_plugin("switch")
    make_manager().disable("switch")
    result = make_manager().execute("switch", {}, CTX)
    assert result.outcome is Outcome.DISABLED and "plugins enable switch" in result.message
    make_manager().enable("switch")
    assert make_manager().execute("switch", {}, CTX).ok


def test_stats_count_and_time(make_plugin: MakePlugin, make_manager) -> None:
    """Stats count executions, successes and failures, with latency percentiles."""
    make_plugin("counted")
    make_plugin("failing", defines={"P_STATUS": "MIDIMON_ERR_FAILED"})
    manager = make_manager()
    for _ in range(20):
        manager.execute("counted", {}, CTX)
    failed = manager.execute("failing", {}, CTX)
    assert failed.outcome is Outcome.FAILED and failed.status == 1
    stats = manager.stats("counted")
    assert (stats["executions"], stats["successes"], stats["failures"]) == (20, 20, 0)
    assert 0 < stats["latency_ms"]["p50"] <= stats["latency_ms"]["p99"]
    assert stats["last_execution"] is not None and stats["rss_bytes"] > 0
    assert manager.stats("failing")["failures"] == 1


def test_in_process_only_for_trusted_signed(make_plugin: MakePlugin, make_manager) -> None:
    """in-process mode is refused for an unsigned (dev-mode) plugin."""
    make_plugin("fast")
    result = make_manager(isolation="in-process").execute("fast", {}, CTX)
    assert result.outcome is Outcome.UNAVAILABLE
    assert "only for plugins signed by a trusted key" in result.message


def test_host_services_reach_the_host(
    make_plugin: MakePlugin, make_manager, recording_host: RecordingHost
) -> None:
    """log() and send_midi() from the isolated worker arrive at the host services."""
    make_plugin(
        "talker",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SEND_MIDI": "1"},
        manifest={"capabilities": {"midi": True}},
    )
    assert make_manager().execute("talker", {}, TriggerContext(number=60, velocity=90)).ok
    assert ("talker", 1, "initialized original") in recording_host.logs
    assert recording_host.midi == [("talker", bytes([0x90, 60, 90]))]
