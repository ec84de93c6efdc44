"""Pipelined calls to an isolated plugin: real worker processes running a compiled plugin that
counts its calls, and crashes, hangs or sleeps on the call it is told to."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
from counter_plugin import COUNTER_SOURCE
from helpers import MakePlugin, RecordingHost, wait_for

from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.results import Outcome, StartedCall
from midimon.plugins.sandbox.pipeline import CallPipeline

CTX = TriggerContext(number=60, velocity=90)

class Collector:
    """on_done for start_call: keeps every finished call in the order answers came."""

    def __init__(self) -> None:
        self.done: list[StartedCall] = []
        self._lock = threading.Lock()

    def __call__(self, call: StartedCall) -> None:
        with self._lock:
            self.done.append(call)

    def wait(self, count: int, timeout: float = 30.0) -> list[StartedCall]:
        assert wait_for(lambda: len(self.done) >= count, timeout), f"{len(self.done)} of {count}"
        time.sleep(0.05)  # nothing more may arrive
        assert len(self.done) == count
        return self.done


def _counter(make_plugin: MakePlugin, name: str = "counter", **defines: str) -> Path:
    return make_plugin(name, source=COUNTER_SOURCE, defines=defines)


def _pipeline(manager, name: str) -> CallPipeline:
    runner = manager._loaded[name].runner
    assert runner is not None and runner._pipeline is not None
    return runner._pipeline


def _audit(tmp_path: Path, plugin: str) -> list[dict]:
    path = tmp_path / "state" / "audit.jsonl"
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["plugin"] == plugin]


def _start(manager, name: str, collector: Collector, count: int) -> list[StartedCall]:
    calls = []
    for index in range(count):
        call = manager.start_call(name, {"i": index}, CTX, collector)
        assert call is not None, f"call {index} was not started"
        calls.append(call)
    return calls


def test_calls_in_flight_come_back_in_order(make_plugin: MakePlugin, make_manager) -> None:
    """Hundreds of calls handed over at once: each answer reaches its own call, in order, and
    the queued ones went out packed (fewer writes than calls)."""
    _counter(make_plugin, P_SLEEP_US="200")
    manager = make_manager(rate_limit=1e6, rate_burst=100000)
    manager.load("counter")
    collector = Collector()
    calls = _start(manager, "counter", collector, 400)
    assert _pipeline(manager, "counter").queued > 1  # really in flight together
    done = collector.wait(400)
    assert done == calls  # answered in the order they were sent
    for index, call in enumerate(done):
        assert call.result is not None and call.result.outcome is Outcome.OK, call.result
        assert call.result.message.startswith(f"call {index + 1} pid")
        assert f'params={{"i":{index}}}' in call.result.message
    pipeline = _pipeline(manager, "counter")
    assert pipeline.calls_sent == 400
    assert pipeline.datagrams_sent < 200, pipeline.datagrams_sent
    stats = manager.stats("counter")
    assert (stats["executions"], stats["successes"]) == (400, 400)


def test_large_params_between_small_calls(make_plugin: MakePlugin, make_manager) -> None:
    """A call whose params travel in several chunks keeps its place among packed calls."""
    _counter(make_plugin, P_SLEEP_US="1000")
    manager = make_manager(rate_limit=1e6, rate_burst=100000)
    manager.load("counter")
    collector = Collector()
    big = {"blob": "x" * 300_000}
    for index in range(30):
        params = big if index % 10 == 5 else {"i": index}
        assert manager.start_call("counter", params, CTX, collector) is not None
    done = collector.wait(30)
    for index, call in enumerate(done):
        assert call.result is not None and call.result.ok, call.result
        assert call.result.message.startswith(f"call {index + 1} pid")
        if index % 10 == 5:
            assert "len 300011" in call.result.message


def test_send_midi_during_pipelined_calls(
    make_plugin: MakePlugin, make_manager, recording_host: RecordingHost
) -> None:
    """send_midi() waits for the host's answer while more calls are queued in the worker's
    socket: those are kept and served after it, in order."""
    make_plugin(
        "talker",
        source=COUNTER_SOURCE,
        defines={"P_NAME": '"talker"', "P_CAPS": "MIDIMON_CAP_MIDI", "P_SEND_MIDI": "1"},
        manifest={"capabilities": {"midi": True}},
    )
    manager = make_manager(rate_limit=1e6, rate_burst=100000)
    manager.load("talker")
    collector = Collector()
    _start(manager, "talker", collector, 100)
    done = collector.wait(100)
    assert [c.result.message.split(" pid")[0] for c in done if c.result] == [
        f"call {n}" for n in range(1, 101)
    ]
    assert [data[1] for _, data in recording_host.midi] == list(range(1, 101))


def test_crash_on_the_kth_call_is_that_call(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """The 5th call crashes: calls 1-4 succeeded, exactly call 5 is reported crashed, 6-10
    were not run and say why (counted, one audit line); the worker restarts with a backoff."""
    _counter(make_plugin, P_CRASH_AT="5", P_SLEEP_US="20000")
    manager = make_manager(rate_limit=1e6, rate_burst=100000)
    manager.load("counter")
    first_pid = _pipeline(manager, "counter").worker.pid
    collector = Collector()
    calls = _start(manager, "counter", collector, 10)
    done = collector.wait(10)
    assert done == calls
    outcomes = [c.result.outcome for c in done if c.result]
    assert outcomes == [Outcome.OK] * 4 + [Outcome.CRASHED] + [Outcome.NOT_RUN] * 5
    crashed = done[4].result
    assert crashed is not None and "SIGSEGV" in crashed.message
    seq = re.search(r"during execute #(\d+)", crashed.message)[1]  # type: ignore[index]
    for call in done[5:]:
        assert call.result is not None
        assert "not run" in call.result.message and f"execute #{seq}" in call.result.message
    stats = manager.stats("counter")
    assert (stats["successes"], stats["crashes"], stats["not_run"]) == (4, 1, 5)
    events = [e["event"] for e in _audit(tmp_path, "counter")]
    assert events.count("crash") == 1 and events.count("not_run") == 1
    not_run = next(e for e in _audit(tmp_path, "counter") if e["event"] == "not_run")
    assert not_run["calls"] == 5 and "SIGSEGV" in not_run["cause"]
    # The next call starts a new worker, after the backoff the crash set.
    loaded = manager._loaded["counter"]
    assert loaded.runner is None and loaded.restart_after > 0
    assert manager.start_call("counter", {}, CTX, collector) is None  # execute() restarts it
    result = manager.execute("counter", {}, CTX)
    assert result.ok and result.message.startswith("call 1 pid")
    assert _pipeline(manager, "counter").worker.pid != first_pid


def test_hang_times_out_the_call_that_hangs(make_plugin: MakePlugin, make_manager) -> None:
    """Call 3 never returns: it gets the timeout; 1 and 2 succeeded; 4-6 were not run."""
    _counter(make_plugin, P_HANG_AT="3")
    manager = make_manager(rate_limit=1e6, rate_burst=100000, timeout=0.5)
    manager.load("counter")
    collector = Collector()
    calls = _start(manager, "counter", collector, 6)
    done = collector.wait(6, timeout=10)
    assert done == calls
    outcomes = [c.result.outcome for c in done if c.result]
    assert outcomes == [Outcome.OK] * 2 + [Outcome.TIMEOUT] + [Outcome.NOT_RUN] * 3
    assert all("execute #" in c.result.message for c in done[3:] if c.result)
    stats = manager.stats("counter")
    assert (stats["timeouts"], stats["not_run"], stats["crashes"]) == (1, 3, 0)


def test_timeout_runs_from_when_the_worker_starts_the_call(
    make_plugin: MakePlugin, make_manager
) -> None:
    """Five calls of 0.2 s each, queued together, with a 0.6 s timeout: none times out, since
    a call's time starts when the one before it is answered, not when it was queued."""
    _counter(make_plugin, P_SLEEP_US="200000")
    manager = make_manager(rate_limit=1e6, rate_burst=100000, timeout=0.6)
    manager.load("counter")
    collector = Collector()
    _start(manager, "counter", collector, 5)
    done = collector.wait(5, timeout=10)
    assert [c.result.outcome for c in done if c.result] == [Outcome.OK] * 5


def test_full_queue_drops_and_counts(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """queue_size = 4: the 5th to 10th calls are dropped at once (never sent), counted, and
    audited once (rate-limited); the dispatcher never waits."""
    _counter(make_plugin, P_SLEEP_US="500000")
    manager = make_manager(rate_limit=1e6, rate_burst=100000, queue_size=4)
    manager.load("counter")
    collector = Collector()
    started = time.monotonic()
    calls = _start(manager, "counter", collector, 10)
    assert time.monotonic() - started < 0.4  # not even the first call (0.5 s) was waited for
    dropped = [c for c in calls if c.result is not None and c.result.outcome is Outcome.DROPPED]
    assert dropped == calls[4:]  # already answered, on this thread
    assert "4 calls are already queued" in dropped[0].result.message
    done = collector.wait(10, timeout=10)
    assert [c.result.outcome for c in done[6:] if c.result] == [Outcome.OK] * 4
    stats = manager.stats("counter")
    assert (stats["dropped"], stats["successes"], stats["executions"]) == (6, 4, 4)
    lines = [e for e in _audit(tmp_path, "counter") if e["event"] == "dropped"]
    assert len(lines) == 1 and lines[0]["queue_size"] == 4


def test_unload_with_calls_in_flight_reports_every_call(
    make_plugin: MakePlugin, make_manager
) -> None:
    """Shutting a plugin down with calls queued: those answered within the grace second are
    OK, the rest are reported not run; none is lost, and the worker is gone."""
    _counter(make_plugin, P_SLEEP_US="300000")
    manager = make_manager(rate_limit=1e6, rate_burst=100000)
    manager.load("counter")
    pid = _pipeline(manager, "counter").worker.pid
    collector = Collector()
    _start(manager, "counter", collector, 8)
    manager.unload("counter")
    done = collector.wait(8, timeout=10)
    outcomes = [c.result.outcome for c in done if c.result]
    assert Outcome.OK in outcomes and outcomes[-1] is Outcome.NOT_RUN
    assert set(outcomes) == {Outcome.OK, Outcome.NOT_RUN}
    assert "shut down" in (done[-1].result.message if done[-1].result else "")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    "tail",
    [b"\x04\x00", b"\x04\x00\x00\x00\x09\x00\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00"],
    ids=["short header", "length past the datagram"],
)
def test_worker_refuses_messages_that_do_not_fill_the_datagram(
    make_plugin: MakePlugin, make_manager, tail: bytes
) -> None:
    """A packed datagram must be whole messages: a torn header or a length running past the
    datagram's end makes the worker exit with EXIT_PROTOCOL (after taking the whole ones: here
    a PARAMS chunk, which has no answer)."""
    import struct

    from midimon.plugins.sandbox.wire import Wire, message

    _counter(make_plugin)
    manager = make_manager()
    manager.load("counter")
    pipeline = _pipeline(manager, "counter")
    worker = pipeline.worker
    with pipeline._lock:
        assert pipeline._tx is not None
        chunk = message(Wire.PARAMS, pipeline._seq + 1, struct.pack("<II", 10, 0) + b"{}   ")
        pipeline._tx.send(chunk + tail)
    assert wait_for(lambda: not worker.alive, 10)
    assert worker.wait_status is not None and os.WIFEXITED(worker.wait_status)
    assert os.WEXITSTATUS(worker.wait_status) == Wire.EXIT_PROTOCOL


def test_a_hang_after_a_quiet_spell_still_times_out(make_plugin: MakePlugin, make_manager) -> None:
    """After a second with no calls the reader sleeps without a deadline; the next call wakes
    it, so a hang in that call still times out (and is not charged for the quiet spell)."""
    _counter(make_plugin, P_HANG_AT="1")
    manager = make_manager(rate_limit=1e6, rate_burst=100000, timeout=0.5)
    manager.load("counter")
    pipeline = _pipeline(manager, "counter")
    assert wait_for(lambda: pipeline._asleep, 5)
    collector = Collector()
    started = time.monotonic()
    _start(manager, "counter", collector, 1)
    done = collector.wait(1, timeout=10)
    assert done[0].result is not None and done[0].result.outcome is Outcome.TIMEOUT
    assert 0.5 <= time.monotonic() - started < 5
