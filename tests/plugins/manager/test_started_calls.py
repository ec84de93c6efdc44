"""start_call / finish_call (StartedCalls): calls handed to an isolated plugin's worker without
waiting, on real compiled plugins and real workers; the pipeline itself is tested in
tests/plugins/sandbox/test_pipeline.py."""

from __future__ import annotations

from helpers import MakePlugin

from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.results import Outcome

CTX = TriggerContext(velocity=100, number=36)


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
