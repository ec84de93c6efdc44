"""The native dispatch's feeds (midimon/daemon/native_feed.py): over a private JACK server, the
input's dispatcher thread runs the C loop (fp_serve) and every note reaches the plugin walked
in C; a `midimon monitor` of MIDI stops the walk and sees every note, a mode set without the
engine lock is never walked with the old mode's table, reloads back to back lose and repeat
nothing, nothing is walked after the daemon stops, and the loop's thread runs at real-time
priority (MIDIMON_RT_PRIORITY)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, open_jack_output, wait_for
from native_guarded import WalkCounter, guarded_plugins, native_daemon, on_jack, write_config

from midimon.daemon.control_streams import EMPTY
from midimon.daemon.dispatch import DISPATCH_VARIABLE
from midimon.daemon.midi_device import MidiDevice
from midimon.daemon.native_feed import DEFAULT_PRIORITY, PRIORITY_VARIABLE
from midimon.daemon.service import Daemon
from midimon.engine.errors import ConfigError


@pytest.fixture
def plugins(isolated_dirs: dict[str, str], make_plugin: MakePlugin) -> Path:
    return guarded_plugins(make_plugin)


@pytest.fixture
def jack_daemon(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jack_server: Any
) -> Iterator[Daemon]:
    config = write_config(tmp_path / "config.toml", plugins, virtual=True)
    monkeypatch.delenv(DISPATCH_VARIABLE, raising=False)
    with on_jack(native_daemon("native", config, monkeypatch)) as daemon:
        yield daemon


def test_midi_over_jack_is_walked_in_c(jack_daemon: Daemon) -> None:
    """Notes sent over a private JACK server reach the plugin through the JACK input's C
    dispatcher loop (fp_serve): waited for, drained and walked without Python; the accounting
    thread turns the ledger's batches into stats afterwards, on its own thread."""
    walked = WalkCounter(jack_daemon)
    native = walked.native
    served: list[tuple[int, str]] = []
    account_batch = native.account_batch

    def counting(batch: Any) -> None:
        served.append((batch.counts.calls, threading.current_thread().name))
        account_batch(batch)

    native.account_batch = counting  # type: ignore[method-assign]
    controller = open_jack_output("native-in")
    try:
        for velocity in range(1, 41):
            controller.send_message([0x90, 36, velocity])
            time.sleep(0.003)
        assert wait_for(lambda: jack_daemon.manager.stats("guarded")["successes"] == 40, 10)
        assert walked.calls == 40 and sum(calls for calls, _ in served) == 40  # all in C
        assert {thread for _, thread in served} == {"midimon-native-accounts"}
        assert jack_daemon.counters.midi_in == 40
    finally:
        controller.close_port()


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
    config = write_config(tmp_path / "config.toml", plugins, virtual=True)
    config.write_text(config.read_text() + TWO_MODES.format())
    monkeypatch.delenv(DISPATCH_VARIABLE, raising=False)
    daemon = native_daemon("native", config, monkeypatch)
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


def _dispatcher_thread_id() -> int:
    [thread] = [t for t in threading.enumerate() if t.name.startswith("midimon-jack-in:")]
    assert thread.native_id is not None
    return thread.native_id


def test_the_dispatcher_thread_asks_for_real_time_priority(
    served_daemon: tuple[Daemon, Any],
) -> None:
    """The C loop's thread runs SCHED_FIFO at MIDIMON_RT_PRIORITY's default (5: below JACK's
    threads), so a busy machine does not keep a note waiting for a CPU; where the rights are
    missing it says so in STATUS and runs anyway."""
    daemon, controller = served_daemon
    _send(controller, [36])
    assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 1, 10)
    status = daemon.status()["dispatcher"]
    assert status["priority"] == DEFAULT_PRIORITY == 5
    tid = _dispatcher_thread_id()
    if status["granted"]:
        assert os.sched_getscheduler(tid) == os.SCHED_FIFO
        assert os.sched_getparam(tid).sched_priority == 5
    else:  # not root and no rtprio limit
        assert status["error"] == "EPERM" and os.sched_getscheduler(tid) == os.SCHED_OTHER


def test_priority_zero_keeps_normal_scheduling_and_a_bad_value_stops_the_start(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jack_server: Any
) -> None:
    config = write_config(tmp_path / "config.toml", plugins, virtual=True)
    monkeypatch.setenv(PRIORITY_VARIABLE, "high")
    with pytest.raises(ConfigError, match=r"MIDIMON_RT_PRIORITY.*'high'.*0\.\.99"):
        Daemon(config)
    monkeypatch.setenv(PRIORITY_VARIABLE, "0")
    daemon = native_daemon("native", config, monkeypatch)
    daemon.start()
    device = MidiDevice(daemon.feed, daemon.config.device, publish=daemon.publish).open()
    controller = open_jack_output("native-in")
    try:
        _send(controller, [36])
        assert wait_for(lambda: daemon.manager.stats("guarded")["successes"] == 1, 10)
        assert daemon.status()["dispatcher"] == {
            "priority": 0, "granted": False, "error": None, "stuck_in_call": False,
        }  # fmt: skip
        assert os.sched_getscheduler(_dispatcher_thread_id()) == os.SCHED_OTHER
    finally:
        controller.close_port()
        device.close()
        daemon.stop()
