"""The heap the daemon keeps out of full collections (midimon/daemon/heap.py): a replaced config
is freed by reference counting alone (it holds no cycle), a reload leaves no cyclic garbage of
midimon's, and HeapKeeper freezes, waits for quiet and sweeps what died inside a cycle."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from midimon.daemon.heap import HeapKeeper
from midimon.daemon.service import Daemon

# Every trigger type that keeps state (long press, double tap, chord), the stateless ones, and
# every action type, nested ones too: whatever the parser or the processor builds for them.
CONFIG = """
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "Shell", argv = ["true"] }
[[modes.mappings]]
trigger = { type = "LongPress", note = 37, hold_ms = 500 }
action = { type = "SendMidi", messages = [{ type = "note_on", note = 1, velocity = 9 }] }
[[modes.mappings]]
trigger = { type = "DoubleTap", note = 38 }
action = { type = "ModeChange", mode = "Second" }
[[modes.mappings]]
trigger = { type = "NoteChord", notes = [40, 41] }
action = { type = "Sequence", actions = [{ type = "Delay", ms = 1 }, { type = "Repeat", \
count = 2, action = { type = "Text", text = "x" } }] }
[[modes.mappings]]
trigger = { type = "CC", controller = 7 }
action = { type = "Conditional", condition = { type = "Mode", mode = "Default" }, \
then = { type = "Keystroke", keys = "a" } }
[[modes.mappings]]
trigger = { type = "EncoderTurn", controller = 8, direction = "cw" }
action = { type = "Plugin", plugin = "midi_transpose", params = { semitones = 2 } }

[[modes]]
name = "Second"
[[modes.mappings]]
trigger = { type = "PitchBend" }
action = { type = "ModeChange", mode = "Default" }
"""


@pytest.fixture
def daemon(isolated_dirs: dict[str, str], tmp_path: Path) -> Iterator[Daemon]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    daemon = Daemon(config)
    try:
        assert daemon.reload()["ok"]
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """Leave this test process's collector as it was: nothing frozen afterwards."""
    try:
        yield
    finally:
        gc.unfreeze()


def test_a_replaced_config_is_freed_without_the_collector(daemon: Daemon, collector_off) -> None:
    old = [weakref.ref(o) for o in (daemon.processor, daemon.mapper, daemon.executor)]
    assert daemon.reload()["ok"]
    assert [ref() for ref in old] == [None, None, None]  # freed at the swap, no collection ran


def test_a_reload_leaves_no_cyclic_garbage(daemon: Daemon) -> None:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert daemon.reload()["ok"]
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("midimon.")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert ours == []


def test_off_by_default_and_settle_then_does_nothing(daemon: Daemon, frozen_heap) -> None:
    before = gc.get_freeze_count()
    assert daemon.reload()["ok"]
    assert gc.get_freeze_count() == before
    assert daemon.status()["heap"] == {
        "enabled": False, "frozen": before, "freezes": 0, "sweeps": 0, "swept_objects": 0,
    }  # fmt: skip


def test_enabled_every_reload_freezes_the_new_config(daemon: Daemon, frozen_heap) -> None:
    daemon.heap.enable()
    assert daemon.reload()["ok"]
    heap = daemon.status()["heap"]
    assert heap["enabled"] and heap["freezes"] == 2 and heap["frozen"] > 0
    # what a full collection walks now is only what was made since the reload
    frozen = set(map(id, gc.get_objects()))
    assert id(daemon.processor) not in frozen and id(daemon.mapper) not in frozen


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_sweep_waits_for_quiet_then_reclaims_a_frozen_cycle(frozen_heap) -> None:
    now = [100.0]
    keeper = HeapKeeper(quiet_s=10.0, clock=lambda: now[0])
    assert keeper.sweep_if_quiet(0) is None  # not enabled
    keeper.enable()
    cycle = Cycle()
    ref = weakref.ref(cycle)
    keeper.settle()  # the cycle is frozen while alive...
    del cycle  # ...then dies inside its cycle: only a sweep can free it
    gc.collect()
    assert ref() is not None
    assert keeper.sweep_if_quiet(5) is None  # MIDI moved: quiet starts now
    now[0] += 9.9
    assert keeper.sweep_if_quiet(5) is None  # not quiet for long enough yet
    now[0] += 0.2
    found = keeper.sweep_if_quiet(5)
    assert found is not None and found >= 2 and ref() is None  # the object and its __dict__
    assert gc.get_freeze_count() > 0  # frozen again after the sweep
    now[0] += 60
    assert keeper.sweep_if_quiet(5) is None  # nothing frozen since: no second sweep
    assert (keeper.sweeps, keeper.swept_objects) == (1, found)


def test_a_reload_restarts_the_quiet_before_a_sweep(frozen_heap) -> None:
    now = [0.0]
    keeper = HeapKeeper(quiet_s=10.0, clock=lambda: now[0])
    keeper.enable()
    assert keeper.sweep_if_quiet(0) is None
    now[0] += 9.0
    keeper.settle()  # a reload
    now[0] += 9.0
    assert keeper.sweep_if_quiet(0) is None  # 18 s since MIDI moved, but 9 since the reload
    now[0] += 1.0
    assert keeper.sweep_if_quiet(0) is not None


def test_no_collection_while_a_reload_builds(frozen_heap) -> None:
    keeper = HeapKeeper()
    with keeper.building():
        assert gc.isenabled()  # not enabled: the collector as Python set it
    keeper.enable()
    with keeper.building():
        assert not gc.isenabled()
        with keeper.building():  # a second reload at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first is still building
    assert gc.isenabled()
    with pytest.raises(RuntimeError), keeper.building():
        raise RuntimeError("a failed build turns the collector back on too")
    assert gc.isenabled()


def test_the_daemon_sweeps_once_its_input_is_quiet(daemon: Daemon, frozen_heap) -> None:
    """The timer thread asks for the sweep; MIDI or a plugin event in the meantime puts it off."""
    daemon.heap = HeapKeeper(quiet_s=0.5)
    daemon.heap.enable()
    daemon.start()
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:  # input keeps coming: no sweep
        daemon.feed(bytes([0x90, 99, 1]))  # nothing listens to note 99: counted, no action
        time.sleep(0.05)
    assert daemon.heap.sweeps == 0
    assert wait_for(lambda: daemon.heap.sweeps == 1, 5)  # quiet now
