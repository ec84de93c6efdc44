"""The Runner protocol the manager drives: both runners, on a real compiled plugin."""

from __future__ import annotations

import threading

import pytest
from conftest import MakePlugin, RecordingHost

from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import encode_params, read_binary
from midimon.plugins.sandbox.grant_paths import FilesystemAccess
from midimon.plugins.sandbox.pipeline import PendingCall
from midimon.plugins.sandbox.runners import InProcessRunner, IsolatedRunner, Runner, sandbox_spec
from midimon.plugins.settings import ExecutionSettings


@pytest.mark.parametrize("in_process", [False, True], ids=["isolated", "in-process"])
def test_both_runners_answer_execute_alike(
    make_plugin: MakePlugin, recording_host: RecordingHost, in_process: bool
) -> None:
    """execute() gives the same answer isolated and in-process; ``in_process`` says which of the
    two the manager holds, and both say they take calls."""
    manifest = load_manifest(make_plugin("split"))
    data, sha256 = read_binary(manifest)
    runner: Runner
    if in_process:
        runner = InProcessRunner(manifest, data, sha256, recording_host, frozenset())
    else:
        spec = sandbox_spec(manifest, frozenset(), FilesystemAccess(), ExecutionSettings())
        runner = IsolatedRunner(manifest, data, spec, recording_host, start_timeout=10.0)
    assert runner.in_process is in_process
    try:
        runner.initialize(5.0)
        assert runner.usable
        context = TriggerContext(number=60, velocity=90, mode="Live")
        status, message = runner.execute(encode_params({"n": 2}), context, 5.0)
        assert status == 0 and 'params={"n":2}' in message and "num=60" in message
    finally:
        runner.shutdown()
    if not in_process:
        assert not runner.usable  # shut down: the manager starts a new one


def test_isolated_calls_submitted_together_are_answered_in_order(
    make_plugin: MakePlugin, recording_host: RecordingHost
) -> None:
    """submit() queues calls without waiting; each answer reaches its own call, in order, on
    the worker's reader thread."""
    manifest = load_manifest(make_plugin("split"))
    data, _ = read_binary(manifest)
    spec = sandbox_spec(manifest, frozenset(), FilesystemAccess(), ExecutionSettings())
    runner = IsolatedRunner(manifest, data, spec, recording_host, start_timeout=10.0)
    done: list[PendingCall] = []
    finished = threading.Event()

    def on_done(call: PendingCall) -> None:
        done.append(call)
        if len(done) == 20:
            finished.set()

    try:
        runner.initialize(5.0)
        context = TriggerContext(number=60, velocity=90)
        calls = [
            runner.submit(encode_params({"n": n}), context, 5.0, on_done, tag=n)
            for n in range(20)
        ]
        assert finished.wait(30)
        assert done == calls
        for n, call in enumerate(done):
            status, message = call.outcome()
            assert call.tag == n and status == 0 and f'params={{"n":{n}}}' in message
    finally:
        runner.shutdown()
