"""The call path (manager/calls.py): execute()'s rate limit and per-plugin serialization,
then crash backoff and the automatic disable, on real crashing workers with a hand-moved clock.

The manager takes ``clock`` (monotonic seconds) and ``sleep``; here both belong to a
:class:`ManualClock`, so the backoff the manager waits is read from the sleeps it asks for and
the crash window is crossed by moving the clock, never by sleeping for real.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from helpers import MakePlugin
from hostile import HOSTILE_SOURCE, audit, hostile

from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.calls import FIRST_BACKOFF, MAX_BACKOFF
from midimon.plugins.manager.results import Outcome

CTX = TriggerContext(velocity=100, number=36)


class ManualClock:
    """Monotonic seconds that move only when told to, or by the sleeps the manager asks for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    """A fresh ManualClock."""
    return ManualClock()


@pytest.fixture
def crashy(make_plugin: MakePlugin) -> str:
    """A real plugin whose every call dies of SIGSEGV in its worker."""
    hostile(make_plugin, "h_backoff", "SEGV")
    return "h_backoff"


def crash_events(tmp_path: Path, name: str) -> list[str]:
    return [e["event"] for e in audit(tmp_path, name) if e["event"] in ("crash", "disable")]


def test_the_restart_after_a_crash_waits_the_first_backoff(
    make_manager, clock: ManualClock, crashy: str, tmp_path: Path
) -> None:
    """A crash's worker restarts only after FIRST_BACKOFF s; the first start waits nothing."""
    manager = make_manager(clock=clock, sleep=clock.sleep, max_crashes=10)
    first = manager.execute(crashy, {}, CTX)
    assert first.outcome is Outcome.CRASHED and "SIGSEGV" in first.message, first
    assert clock.sleeps == []
    assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    assert clock.sleeps == [pytest.approx(FIRST_BACKOFF)]
    assert crash_events(tmp_path, crashy) == ["crash", "crash"]


def test_no_wait_once_the_backoff_has_passed(
    make_manager, clock: ManualClock, crashy: str
) -> None:
    """When the clock is already past the backoff, the worker restarts without sleeping."""
    manager = make_manager(clock=clock, sleep=clock.sleep, max_crashes=10)
    assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    clock.advance(FIRST_BACKOFF + 0.001)
    assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    assert clock.sleeps == []
    clock.advance(FIRST_BACKOFF)  # half of the second backoff (2 * FIRST_BACKOFF)
    assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    assert clock.sleeps == [pytest.approx(FIRST_BACKOFF)]  # only the half still to go


def test_the_backoff_doubles_with_each_crash_up_to_the_cap(
    make_manager, clock: ManualClock, crashy: str
) -> None:
    """Crashes inside the window double the wait each time, and never past MAX_BACKOFF."""
    manager = make_manager(
        clock=clock, sleep=clock.sleep, max_crashes=20, crash_window=600.0, timeout=30.0
    )
    for _ in range(10):
        assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    expected = [min(MAX_BACKOFF, FIRST_BACKOFF * 2**n) for n in range(9)]
    assert clock.sleeps == [pytest.approx(s) for s in expected]
    assert expected[-1] == MAX_BACKOFF  # the cap was reached: the test covers it
    assert manager.stats(crashy)["crashes"] == 10
    assert manager.is_enabled(crashy)


def test_too_many_crashes_in_the_window_disable_the_plugin(
    make_manager, make_plugin: MakePlugin, clock: ManualClock, crashy: str, tmp_path: Path
) -> None:
    """max_crashes + 1 crashes within crash_window (spread over it) disable it, audited."""
    make_plugin("good_citizen")
    manager = make_manager(clock=clock, sleep=clock.sleep, max_crashes=2, crash_window=60.0)
    for _ in range(3):
        assert manager.is_enabled(crashy)
        assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
        clock.advance(25.0)  # the three crashes span 50 s: all inside the 60 s window
    assert not manager.is_enabled(crashy)
    refused = manager.execute(crashy, {}, CTX)
    assert refused.outcome is Outcome.DISABLED, refused
    reason = manager.state.disabled_reason(crashy)
    assert reason is not None
    assert "3 crashes or timeouts within 60 s" in reason and "SIGSEGV" in reason
    assert crash_events(tmp_path, crashy) == ["crash", "crash", "crash", "disable"]
    disable = next(e for e in audit(tmp_path, crashy) if e["event"] == "disable")
    assert disable["reason"] == reason
    assert manager.execute("good_citizen", {}, CTX).ok  # the host and other plugins carry on


def test_time_passing_forgets_old_crashes(
    make_manager, clock: ManualClock, crashy: str, tmp_path: Path
) -> None:
    """Crashes older than crash_window no longer count: no disable, and the backoff restarts
    from FIRST_BACKOFF; new crashes count again from there."""
    manager = make_manager(clock=clock, sleep=clock.sleep, max_crashes=2, crash_window=60.0)
    for _ in range(2):
        assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    assert clock.sleeps == [pytest.approx(FIRST_BACKOFF)]
    clock.advance(61.0)  # both crashes fall out of the window
    for _ in range(2):
        assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    assert manager.is_enabled(crashy)  # 4 crashes in all, never more than 2 inside 60 s
    assert clock.sleeps == [pytest.approx(FIRST_BACKOFF)] * 2  # the doubling started over
    assert crash_events(tmp_path, crashy) == ["crash"] * 4
    assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED  # third in the window
    assert not manager.is_enabled(crashy)
    assert crash_events(tmp_path, crashy)[-1] == "disable"


def test_enable_clears_the_crash_history(
    make_manager, clock: ManualClock, crashy: str
) -> None:
    """Enabling an auto-disabled plugin starts it with no crashes counted against it."""
    manager = make_manager(clock=clock, sleep=clock.sleep, max_crashes=1, crash_window=60.0)
    for _ in range(2):
        manager.execute(crashy, {}, CTX)
    assert not manager.is_enabled(crashy)
    manager.enable(crashy)
    assert manager.execute(crashy, {}, CTX).outcome is Outcome.CRASHED
    assert manager.is_enabled(crashy)  # one crash since enable: within max_crashes=1


def test_rate_limit_refuses_excess(make_plugin: MakePlugin, make_manager, tmp_path) -> None:
    """Past the burst, calls are refused at once and counted, not queued."""
    make_plugin("limited")
    manager = make_manager(rate_limit=1.0, rate_burst=3)
    outcomes = [manager.execute("limited", {}, CTX).outcome for _ in range(6)]
    assert outcomes[:3] == [Outcome.OK] * 3
    assert outcomes[3:] == [Outcome.RATE_LIMITED] * 3
    assert manager.stats("limited")["rate_limited"] == 3
    assert sum(e["event"] == "rate_limit" for e in audit(tmp_path, "limited")) == 3


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
