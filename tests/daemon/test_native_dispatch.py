"""The native dispatch (midimon/daemon/native_dispatch.py, _native/jackin/fastpath.c) keeps every
rule of the plugin manager: a plugin disabled, revoked or unloaded is not called from a stale
table; the rate limit counts both paths; a plugin is never called twice at once (the C walk and
a Python call share its gate); a call waiting for a busy plugin times out as the Python path's
does; `monitor` still sees the actions; and real MIDI over JACK is walked in C. Each rule is
checked on a real daemon with a real signed in-process plugin, next to a reference daemon where
the figures must agree.

The differential test on generated configs and streams is in test_dispatch.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, open_jack_output, signed_plugin, wait_for

from midimon.daemon.control_streams import EMPTY
from midimon.daemon.dispatch import DISPATCH_VARIABLE
from midimon.daemon.midi_device import MidiDevice
from midimon.daemon.native_dispatch import NativeFeed
from midimon.daemon.service import Daemon
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext, TriggerKind

# Fails its call when it finds itself already running (two calls at once on one instance);
# sleeps 0.3 s when its params say "slow".
GUARDED_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include "midimon_plugin.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int inside;
static atomic_long calls;

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self; (void)len; (void)ctx;
    if (atomic_exchange(&inside, 1)) {
        snprintf(msg, cap, "called while already running");
        return MIDIMON_ERR_FAILED;
    }
    struct timespec pause = {0, strstr(params, "slow") ? 300000000L : 20000L};
    nanosleep(&pause, NULL);
    long n = atomic_fetch_add(&calls, 1) + 1;
    atomic_store(&inside, 0);
    snprintf(msg, cap, "n=%ld note=%u", n, ctx->number);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), MIDIMON_CAP_NETWORK,
    "guarded", "1.0.0", "fails when called twice at once", NULL,
    NULL, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""

CONFIG = """
[device]
virtual_port = {virtual}
[plugins]
dirs = ["{plugins}"]
rate_limit = {rate}
rate_burst = {burst}
[plugins.overrides.guarded]
isolation = "in-process"
inline = true
timeout = 0.05
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "guarded" }}
"""

NOTE_ON = bytes([0x90, 36, 100])


@pytest.fixture
def plugins(isolated_dirs: dict[str, str], make_plugin: MakePlugin) -> Path:
    return signed_plugin(
        lambda name, source: make_plugin(
            name, source=source, manifest={"capabilities": {"network": True}}
        ),
        "guarded",
        GUARDED_SOURCE,
    )


def _daemon(
    path: str, config: Path, monkeypatch: pytest.MonkeyPatch, grant: bool = True
) -> Daemon:
    monkeypatch.setenv(DISPATCH_VARIABLE, path)
    daemon = Daemon(config)
    monkeypatch.delenv(DISPATCH_VARIABLE)
    assert daemon.dispatch == path
    if grant:
        daemon.manager.grant("guarded", Capability.NETWORK, [])
    daemon.manager.load("guarded")
    return daemon


def _write(config: Path, plugins: Path, rate: float = 1e6, virtual: bool = False) -> Path:
    port = '"native-in"' if virtual else "false"
    config.write_text(CONFIG.format(plugins=plugins, rate=rate, burst=max(1, int(rate)),
                                    virtual=port))  # fmt: skip
    return config


def _tally(daemon: Daemon) -> dict[str, Any]:
    stats = daemon.manager.stats("guarded")
    counters = daemon.counters
    return {
        "midi_in": counters.midi_in,
        "triggers": counters.triggers,
        "ok": counters.actions_ok,
        "failed": counters.actions_failed,
        **{key: stats[key] for key in ("executions", "successes", "failures", "rate_limited",
                                       "timeouts")},
    }  # fmt: skip


class WalkCounter:
    """Counts the plugin calls the C walk made on one daemon (by feed, or by the JACK input's
    C dispatcher loop)."""

    def __init__(self, daemon: Daemon) -> None:
        feed = daemon.feed
        assert isinstance(feed, NativeFeed)
        self.native = feed.native
        self._start = self.native.calls_walked

    @property
    def calls(self) -> int:
        return self.native.calls_walked - self._start


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
        seen = []
        while (item := stream.next_item(0)) is not EMPTY:
            seen.append(item)
        assert [(e["action"], e["ok"], e["detail"]) for e in seen] == [
            ("Plugin", True, "guarded: ok: n=1 note=36"),
            ("Plugin", True, "guarded: ok: n=2 note=36"),
        ]
        assert walked.calls == 2
    finally:
        daemon.stop()


@pytest.fixture
def jack_daemon(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jack_server: Any
) -> Iterator[Daemon]:
    config = _write(tmp_path / "config.toml", plugins, virtual=True)
    monkeypatch.delenv(DISPATCH_VARIABLE, raising=False)
    daemon = _daemon("native", config, monkeypatch)
    daemon.start()
    device = MidiDevice(daemon.feed, daemon.config.device, publish=daemon.publish).open()
    try:
        yield daemon
    finally:
        device.close()
        daemon.stop()


def test_midi_over_jack_is_walked_in_c(jack_daemon: Daemon) -> None:
    """Notes sent over a private JACK server reach the plugin through the JACK input's C
    dispatcher loop (fp_serve): waited for, drained and walked without Python, which only
    accounts for the calls afterwards."""
    walked = WalkCounter(jack_daemon)
    native = walked.native
    served: list[int] = []
    account_served = native.account_served

    def counting(walked_table: Any, counts: Any, records: Any) -> None:
        served.append(counts.calls)
        account_served(walked_table, counts, records)

    native.account_served = counting  # type: ignore[method-assign]
    controller = open_jack_output("native-in")
    try:
        for velocity in range(1, 41):
            controller.send_message([0x90, 36, velocity])
            time.sleep(0.003)
        assert wait_for(lambda: jack_daemon.manager.stats("guarded")["successes"] == 40, 10)
        assert walked.calls == 40 and sum(served) == 40  # every one by the C loop
        assert jack_daemon.counters.midi_in == 40
    finally:
        controller.close_port()


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


TWO_MODES = """
[[modes]]
name = "Other"
[[modes.mappings]]
trigger = {{ type = "Note", note = 37 }}
action = {{ type = "Plugin", plugin = "guarded" }}
"""


@pytest.fixture
def served_daemon(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jack_server: Any
) -> Iterator[tuple[Daemon, Any]]:
    """A daemon whose JACK input runs the C dispatcher loop, and a controller sending to it."""
    config = _write(tmp_path / "config.toml", plugins, virtual=True)
    config.write_text(config.read_text() + TWO_MODES.format())
    monkeypatch.delenv(DISPATCH_VARIABLE, raising=False)
    daemon = _daemon("native", config, monkeypatch)
    daemon.start()
    device = MidiDevice(daemon.feed, daemon.config.device, publish=daemon.publish).open()
    controller = open_jack_output("native-in")
    try:
        yield daemon, controller
    finally:
        controller.close_port()
        device.close()
        daemon.stop()


def _send(controller: Any, notes: list[int], gap: float = 0.002) -> None:
    for index, note in enumerate(notes):
        controller.send_message([0x90, note, 1 + index % 120])
        time.sleep(gap)


def test_a_midi_monitor_stops_the_c_loop_and_sees_every_note(
    served_daemon: tuple[Daemon, Any],
) -> None:
    """`midimon monitor --type midi` while the C loop serves: from the subscription on, every
    note goes the Python way (which publishes it) and still calls the plugin; when the monitor
    leaves, the C loop walks again."""
    daemon, controller = served_daemon
    walked = WalkCounter(daemon)
    _send(controller, [36] * 10)
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 10, 10)
    assert walked.calls == 10
    stream = daemon.registry.events.subscribe(["midi"])
    _send(controller, [36] * 20)
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 30, 10)
    seen = []
    while (item := stream.next_item(0.5 if len(seen) < 20 else 0)) is not EMPTY:
        seen.append(item)
    assert [(e["kind"], e["number"]) for e in seen] == [("note_on", 36)] * 20
    assert walked.calls == 10  # none of them walked in C
    stream.release()  # what the connection's thread does when the client leaves
    _send(controller, [36] * 10)
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 40, 10)
    assert walked.calls == 20


def test_a_mode_changed_outside_the_engine_lock_is_never_walked_stale(
    served_daemon: tuple[Daemon, Any],
) -> None:
    """The mode set straight on the mapper by another thread (as an action thread may): the
    next note is decided for the new mode (note 36 maps only in Default, 37 only in Other)."""
    daemon, controller = served_daemon
    _send(controller, [36, 37])
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 1, 10)
    switcher = threading.Thread(target=daemon.mapper.set_mode, args=("Other",))
    switcher.start()
    switcher.join(5)
    _send(controller, [36, 37, 37, 36])
    assert wait_for(lambda: daemon.counters.midi_in == 6, 10)
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 3, 10)
    time.sleep(0.1)
    assert daemon.manager.stats("guarded")["successes"] == 3  # 36 in Other: nothing


def test_every_note_is_called_once_while_the_config_reloads(
    served_daemon: tuple[Daemon, Any],
) -> None:
    """Reloads back to back while the C loop walks: each note reaches the plugin exactly once
    (none lost in a swap, none twice), and the walk goes on between the swaps."""
    daemon, controller = served_daemon
    walked = WalkCounter(daemon)
    stop = threading.Event()
    reloads: list[bool] = []

    def reload_loop() -> None:
        while not stop.is_set():
            reloads.append(daemon.reload()["ok"])

    thread = threading.Thread(target=reload_loop)
    thread.start()
    try:
        _send(controller, [36] * 300, gap=0.001)
        assert wait_for(lambda: daemon.counters.midi_in == 300, 10)
    finally:
        stop.set()
        thread.join(10)
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 300, 10)
    time.sleep(0.1)
    stats = daemon.manager.stats("guarded")
    assert stats["executions"] == stats["successes"] == 300 and stats["failures"] == 0
    assert len(reloads) >= 3 and all(reloads)
    assert walked.calls >= 150  # most notes walked in C despite the reloads


def test_stop_while_notes_arrive_calls_nothing_after(served_daemon: tuple[Daemon, Any]) -> None:
    """Daemon.stop() publishes no table: notes arriving after it are not walked in C."""
    daemon, controller = served_daemon
    _send(controller, [36] * 5)
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 5, 10)
    native = WalkCounter(daemon).native
    daemon.stop()
    before = native.calls_walked
    _send(controller, [36] * 5)
    time.sleep(0.2)
    assert native.calls_walked == before
