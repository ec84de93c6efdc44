"""The PluginManager: lifecycle, grants that persist by binary hash, limits, stats, audit."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import MakePlugin, RecordingHost

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


def test_ungranted_capability_is_refused_with_how_to(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """A plugin asking for Network is refused until granted; the message says how."""
    make_plugin(
        "wants_net",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    manager = make_manager()
    result = manager.execute("wants_net", {}, CTX)
    assert result.outcome is Outcome.DENIED
    assert "midimon plugins grant wants_net network" in result.message
    assert any(e["event"] == "deny" for e in audit_events(tmp_path, "wants_net"))
    manager.grant("wants_net", Capability.NETWORK)
    assert manager.execute("wants_net", {}, CTX).ok
    assert manager.stats("wants_net")["denials"] == 1


def test_auto_grant_low_risk_and_setting(make_plugin: MakePlugin, make_manager) -> None:
    """Midi is granted automatically by default, and not when auto_grant is emptied."""
    make_plugin(
        "midi_user",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SEND_MIDI": "1"},
        manifest={"capabilities": {"midi": True}},
    )
    assert make_manager().execute("midi_user", {}, CTX).ok
    result = make_manager(auto_grant=[]).execute("midi_user", {}, CTX)
    assert result.outcome is Outcome.DENIED


def test_grants_persist_and_follow_the_binary(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """A grant survives a new manager (restart) but not a changed binary."""
    folder = make_plugin(
        "persist",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    make_manager().grant("persist", Capability.NETWORK)
    assert make_manager().execute("persist", {}, CTX).ok  # a "restarted daemon"
    make_plugin(
        "persist",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK", "P_MARK": '"v2"'},
        manifest={"capabilities": {"network": True}},
    )
    assert (folder / "plugin.so").exists()
    result = make_manager().execute("persist", {}, CTX)
    assert result.outcome is Outcome.DENIED  # new SHA-256: grant again


def test_revoke_takes_effect_on_the_next_call(make_plugin: MakePlugin, make_manager) -> None:
    """Revoking a grant restarts the worker without it; the next call is refused."""
    make_plugin(
        "revokable",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    manager = make_manager()
    manager.grant("revokable", Capability.NETWORK)
    assert manager.execute("revokable", {}, CTX).ok
    assert manager.revoke("revokable", Capability.NETWORK)
    assert manager.execute("revokable", {}, CTX).outcome is Outcome.DENIED


def test_grant_of_undeclared_capability_is_an_error(make_plugin: MakePlugin, make_manager) -> None:
    """Granting something the manifest does not ask for is refused with what it declares."""
    make_plugin("modest")
    with pytest.raises(ValueError, match="does not ask for subprocess"):
        make_manager().grant("modest", Capability.SUBPROCESS)


def test_disable_enable_persist(make_plugin: MakePlugin, make_manager) -> None:
    """A disabled plugin does not run, across restarts, until enabled."""
    make_plugin("switch")
    make_manager().disable("switch")
    result = make_manager().execute("switch", {}, CTX)
    assert result.outcome is Outcome.DISABLED and "plugins enable switch" in result.message
    make_manager().enable("switch")
    assert make_manager().execute("switch", {}, CTX).ok


def test_rate_limit_refuses_excess(make_plugin: MakePlugin, make_manager, tmp_path) -> None:
    """Past the burst, calls are refused at once and counted, not queued."""
    make_plugin("limited")
    manager = make_manager(rate_limit=1.0, rate_burst=3)
    outcomes = [manager.execute("limited", {}, CTX).outcome for _ in range(6)]
    assert outcomes[:3] == [Outcome.OK] * 3
    assert outcomes[3:] == [Outcome.RATE_LIMITED] * 3
    assert manager.stats("limited")["rate_limited"] == 3
    assert sum(e["event"] == "rate_limit" for e in audit_events(tmp_path, "limited")) == 3


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


def test_calls_to_one_plugin_are_serialized_and_bounded(
    make_plugin: MakePlugin, make_manager
) -> None:
    """Concurrent calls to one plugin all complete, one at a time, none past the timeout."""
    make_plugin("serial")
    manager = make_manager(timeout=2.0)
    results = []

    def call() -> None:
        results.append(manager.execute("serial", {}, CTX))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8 and all(r.ok for r in results)


def test_slow_plugin_does_not_block_another(make_plugin: MakePlugin, make_manager) -> None:
    """While one plugin hangs until its timeout, another plugin's calls go through."""
    from hostile import HOSTILE_SOURCE

    make_plugin("sleepy", source=HOSTILE_SOURCE, defines={"HOSTILE_SLEEP": "1"})
    make_plugin("quick")
    manager = make_manager(timeout=1.5)
    manager.load("quick")
    manager.load("sleepy")
    slow = threading.Thread(target=manager.execute, args=("sleepy", {}, CTX))
    slow.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert manager.execute("quick", {}, CTX).ok
    assert time.monotonic() - started < 1.0
    slow.join(5)


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


def test_started_call_is_answered_like_execute(make_plugin: MakePlugin, make_manager) -> None:
    """start_call sends at once, pipelined behind calls in flight; finish_call gives what
    execute() would; each call counted once."""
    make_plugin("early")
    manager = make_manager(rate_limit=1000.0, rate_burst=1000)
    assert manager.start_call("early", {}, CTX) is None  # not loaded yet: execute() loads it
    assert manager.execute("early", {"n": 1}, CTX).ok
    call = manager.start_call("early", {"n": 2}, CTX)
    assert call is not None
    # The worker is busy with it: the next call queues behind it instead of declining.
    second = manager.start_call("early", {"n": 3}, CTX)
    assert second is not None
    result = manager.finish_call(call)
    assert result.ok and 'params={"n":2}' in result.message
    assert 'params={"n":3}' in manager.finish_call(second).message
    assert manager.stats("early")["executions"] == 3
    assert manager.start_call("early", "not json", CTX) is None
    in_process = make_manager(isolation="in-process")
    assert in_process.start_call("early", {}, CTX) is None


def test_started_call_crash_timeout_and_abandon(make_plugin: MakePlugin, make_manager) -> None:
    """A crash or timeout during a started call is reported as execute() reports it; an
    abandoned call holds nothing back."""
    from hostile import HOSTILE_SOURCE

    make_plugin("crashy", source=HOSTILE_SOURCE, defines={"HOSTILE_SEGV": "1"})
    make_plugin("sleepy", source=HOSTILE_SOURCE, defines={"HOSTILE_SLEEP": "1"})
    make_plugin("steady")
    manager = make_manager(timeout=0.5)
    manager.load("crashy")  # a running worker, nothing executed yet
    call = manager.start_call("crashy", {}, CTX)
    assert call is not None
    crashed = manager.finish_call(call)
    assert crashed.outcome is Outcome.CRASHED and "SIGSEGV" in crashed.message
    assert manager.stats("crashy")["crashes"] == 1
    manager.load("sleepy")
    call = manager.start_call("sleepy", {}, CTX)
    assert call is not None
    assert manager.finish_call(call).outcome is Outcome.TIMEOUT
    assert manager.stats("sleepy")["timeouts"] == 1
    manager.load("steady")
    call = manager.start_call("steady", {}, CTX)
    assert call is not None
    manager.abandon_call(call)  # nothing held: its answer still arrives
    assert manager.finish_call(call).ok
    assert manager.execute("steady", {}, CTX).ok
