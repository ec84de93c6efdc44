"""The Runner protocol the manager drives: both runners, on a real compiled plugin."""

from __future__ import annotations

import pytest
from conftest import MakePlugin, RecordingHost

from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import encode_params, read_binary
from midimon.plugins.sandbox.grant_paths import FilesystemAccess
from midimon.plugins.sandbox.runners import InProcessRunner, IsolatedRunner, Runner, sandbox_spec
from midimon.plugins.settings import ExecutionSettings


@pytest.mark.parametrize("in_process", [False, True], ids=["isolated", "in-process"])
def test_a_call_sent_ahead_is_answered_as_execute_answers(
    make_plugin: MakePlugin, recording_host: RecordingHost, in_process: bool
) -> None:
    """send_execute then receive_execute give what execute() gives, isolated and in-process;
    ``in_process`` says which of the two the manager holds."""
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
        context = TriggerContext(number=60, velocity=90, mode="Live")
        answers = []
        for n in (1, 2):
            seq, deadline = runner.send_execute(encode_params({"n": n}), context, 5.0)
            answers.append(runner.receive_execute(seq, deadline))
        assert answers[0] == runner.execute(encode_params({"n": 1}), context, 5.0)
        assert [status for status, _ in answers] == [0, 0]
        assert 'params={"n":2}' in answers[1][1] and "num=60" in answers[1][1]
    finally:
        runner.shutdown()
