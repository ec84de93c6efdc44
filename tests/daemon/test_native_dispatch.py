"""The native dispatch (midimon/daemon/native_dispatch.py, _native/jackin/fastpath.c) keeps every
rule of the plugin manager: a plugin disabled, revoked or unloaded is not called from a stale
table; the rate limit counts both paths; a plugin is never called twice at once (the C walk and
a Python call share its gate); a call waiting for a busy plugin times out as the Python path's
does; `monitor` still sees the actions; a reload builds the C table before its swap. Each rule is
checked on a real daemon with a real signed in-process plugin, next to a reference daemon where
the figures must agree.

The differential test on generated configs and streams is in test_dispatch.py; real MIDI over
JACK through the C dispatcher loop in test_native_feed.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, drain, wait_for
from native_guarded import NOTE_ON, WalkCounter, guarded_plugins
from native_guarded import native_daemon as _daemon
from native_guarded import tally as _tally
from native_guarded import write_config as _write

from midimon.daemon.native_dispatch import usable_table
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext, TriggerKind


@pytest.fixture
def plugins(isolated_dirs: dict[str, str], make_plugin: MakePlugin) -> Path:
    return guarded_plugins(make_plugin)


def test_disable_revoke_unload_and_rate_limit_as_the_reference(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same steps on a reference daemon and a native one: the same counts after each, and
    the native one's calls that could be walked were walked."""
    config = _write(tmp_path / "config.toml", plugins, rate=5)
    reference = _daemon("reference", config, monkeypatch)
    native = _daemon("native", config, monkeypatch)
    walked = WalkCounter(native)

    def press(times: int = 1) -> None:
        for daemon in (reference, native):
            for _ in range(times):
                daemon.feed(NOTE_ON)

    try:
        def both(act: Any) -> Any:
            return lambda: [act(daemon.manager) for daemon in (reference, native)]

        steps: list[tuple[str, Any]] = [
            ("press", lambda: press(3)),
            ("disable", both(lambda m: m.disable("guarded"))),
            ("press while disabled", press),
            ("enable", both(lambda m: (m.enable("guarded"), m.load("guarded")))),
            ("press", press),
            ("revoke", both(lambda m: m.revoke("guarded", Capability.NETWORK))),
            ("press while revoked", press),
            ("grant", both(lambda m: m.grant("guarded", Capability.NETWORK, []))),
            ("press", press),
            ("unload", both(lambda m: m.unload("guarded"))),
            ("press after unload", press),
            ("past the rate limit", lambda: press(12)),
        ]
        for what, step in steps:
            step()
            # a call the plugin's state sends to an action thread is counted there, later
            wait_for(lambda: _tally(native) == _tally(reference), 5)
            assert _tally(native) == _tally(reference), what
        final = _tally(native)
        assert final["rate_limited"] > 0 and final["failed"] >= 3  # disabled, revoked, limited
        assert walked.calls >= 4  # the first presses, and after the enable, were walked in C
        audit = native.manager.audit.path.read_text()
        assert '"rate_limit"' in audit
    finally:
        reference.stop()
        native.stop()


def test_the_walk_and_a_python_call_never_run_the_plugin_at_once(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plugins exec`-style calls on another thread while MIDI is walked in C: the plugin's gate
    lets one call in at a time (the plugin fails any call that finds another running)."""
    config = _write(tmp_path / "config.toml", plugins)
    daemon = _daemon("native", config, monkeypatch)
    walked = WalkCounter(daemon)
    context = TriggerContext(velocity=1, number=1, trigger_kind=TriggerKind.NOTE)
    results: list[Any] = []

    def python_calls() -> None:
        for _ in range(300):
            results.append(daemon.manager.execute("guarded", {}, context))

    try:
        thread = threading.Thread(target=python_calls)
        thread.start()
        for _ in range(300):
            daemon.feed(NOTE_ON)
        thread.join(30)
        assert [r.message for r in results if not r.ok] == []
        tally = _tally(daemon)
        assert tally["failures"] == 0 and tally["timeouts"] == 0
        assert tally["executions"] == tally["successes"] == 600
        assert walked.calls == 300
    finally:
        daemon.stop()


def test_a_busy_plugin_times_out_the_walked_call(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow Python-path call holds the plugin for 0.3 s: the walked call waits its timeout
    (0.05 s) and fails as busy, counted as a timeout, as the compiled path's would."""
    config = _write(tmp_path / "config.toml", plugins)
    daemon = _daemon("native", config, monkeypatch)
    walked = WalkCounter(daemon)
    context = TriggerContext(velocity=1, number=1, trigger_kind=TriggerKind.NOTE)
    try:
        thread = threading.Thread(
            target=daemon.manager.execute, args=("guarded", {"slow": 1}, context)
        )
        thread.start()
        assert wait_for(lambda: daemon.manager.stats("guarded")["executions"] == 1, 5, 0.005)
        time.sleep(0.03)  # counted just before the call: let it reach the plugin
        started = time.monotonic()
        daemon.feed(NOTE_ON)
        waited = time.monotonic() - started
        thread.join(5)
        assert 0.04 < waited < 0.25
        tally = _tally(daemon)
        assert tally["timeouts"] == 1 and tally["failed"] == 1 and tally["successes"] == 1
        assert walked.calls == 1
    finally:
        daemon.stop()


def test_monitor_sees_walked_actions(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An `action` stream (midimon monitor, the console) does not stop the walk: its events are
    made from the walk's records."""
    config = _write(tmp_path / "config.toml", plugins)
    daemon = _daemon("native", config, monkeypatch)
    walked = WalkCounter(daemon)
    stream = daemon.registry.events.subscribe(["action"])
    try:
        daemon.feed(NOTE_ON)
        daemon.feed(bytes([0x90, 36, 1]))
        seen = drain(stream)
        assert [(e["action"], e["ok"], e["detail"]) for e in seen] == [
            ("Plugin", True, "guarded: ok: n=1 note=36"),
            ("Plugin", True, "guarded: ok: n=2 note=36"),
        ]
        assert walked.calls == 2
    finally:
        daemon.stop()


def test_a_reload_builds_the_table_before_the_swap(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C table for a reloaded config is built by the reload, before the swap: the first note
    after it is walked in C without building anything on the event's way (milliseconds for
    hundreds of mappings), and it calls the new config's plugins with the new params."""
    config = _write(tmp_path / "config.toml", plugins)
    daemon = _daemon("native", config, monkeypatch)
    walked = WalkCounter(daemon)
    native = walked.native
    builds: list[str] = []
    original = native._build

    def counting_build(*args: Any) -> Any:
        builds.append(threading.current_thread().name)
        return original(*args)

    native._build = counting_build  # type: ignore[method-assign]
    try:
        daemon.feed(NOTE_ON)
        assert len(builds) == 1 and walked.calls == 1  # the first table: built by the note
        text = config.read_text().replace('note = 36 }', 'note = 37 }')
        config.write_text(text)
        reloader = threading.Thread(target=daemon.reload, name="reloader")
        reloader.start()
        reloader.join(10)
        assert builds == [builds[0], "reloader"]  # the reload built it, on its own thread
        assert daemon.counters.reloads == 1
        daemon.feed(NOTE_ON)  # note 36: mapped no more
        daemon.feed(bytes([0x90, 37, 100]))
        assert len(builds) == 2  # nothing built on the event path after the reload
        assert walked.calls == 2 and daemon.manager.stats("guarded")["successes"] == 2
        # a plugin state change after the build: the table no longer fits and is rebuilt
        table = native._table
        native.plugins_changed()
        daemon.feed(bytes([0x90, 37, 100]))
        assert len(builds) == 3 and native._table is not table and walked.calls == 3
    finally:
        daemon.stop()


def test_a_message_longer_than_three_bytes_is_left_to_the_compiled_path(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Daemon.feed's one-message walk (fp_slot_dispatch_one) leaves a SysEx message to the
    compiled path, with nothing counted by the walk: the daemon counts it once."""
    config = _write(tmp_path / "config.toml", plugins)
    daemon = _daemon("native", config, monkeypatch)
    walked = WalkCounter(daemon)
    native = walked.native
    sysex = bytes([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7])
    try:
        with daemon._engine_lock:
            assert usable_table(daemon, native) is not None  # the walk may run
            assert native.feed_one(sysex, 0) is False
            assert native.last_counts() == (0, 0, 0)
        daemon.feed(sysex)
        daemon.feed(NOTE_ON)
        assert daemon.counters.midi_in == 2 and walked.calls == 1
    finally:
        daemon.stop()
