"""The two runners the manager drives, on real compiled plugins: the same answers in a worker
and in this process, the same typed load errors, and the sandbox a plugin's grants give."""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

import pytest
from helpers import MakePlugin, RecordingHost

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.errors import AbiMismatch, LoadError, MissingEntryPoint, NullPlugin
from midimon.plugins.hazmat import InProcessRunner, load_image
from midimon.plugins.loading.context import TriggerContext, TriggerKind
from midimon.plugins.loading.loader import encode_params, read_binary
from midimon.plugins.sandbox.grant_paths import FilesystemAccess
from midimon.plugins.sandbox.pending import PendingCall
from midimon.plugins.sandbox.runners import IsolatedRunner, Runner, sandbox_spec
from midimon.plugins.settings import ExecutionSettings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux worker")

NOTHING: frozenset[Capability] = frozenset()
CTX = TriggerContext(velocity=64, channel=1, number=40, trigger_kind=TriggerKind.NOTE)


def read(folder: Path) -> tuple[PluginManifest, bytes]:
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    return manifest, manifest.binary.read_bytes()


def isolated(folder: Path, host: RecordingHost | None = None) -> IsolatedRunner:
    manifest, data = read(folder)
    spec = sandbox_spec(manifest, NOTHING, FilesystemAccess(), ExecutionSettings())
    return IsolatedRunner(manifest, data, spec, host or RecordingHost(), start_timeout=10)


def test_both_runners_give_the_same_answers(make_plugin: MakePlugin) -> None:
    """initialize, execute and the plugin's struct are the same in a worker and in-process;
    only the isolated runner has a process of its own."""
    folder = make_plugin("runner_same")
    manifest, data = read(folder)
    inside = InProcessRunner(manifest, data, hashlib.sha256(data).hexdigest(), RecordingHost(),
                             NOTHING)  # fmt: skip
    worker = isolated(folder)
    try:
        for runner in (inside, worker):
            runner.initialize(5)
        assert inside.info == worker.info and worker.info.name == "runner_same"
        answers = [r.execute(b'{"k":1}', CTX, 5) for r in (inside, worker)]
        assert answers[0] == answers[1]
        assert answers[0][0] == 0 and "vel=64 ch=1 num=40" in answers[0][1]
        assert (inside.mode, worker.mode) == ("in-process", "isolated")
        assert inside.rss_bytes() is None and (worker.rss_bytes() or 0) > 0
        assert "no sandbox" in inside.enforcement()[0]
        assert worker.enforcement()[0].startswith("separate process")
    finally:
        inside.shutdown()
        worker.shutdown()


@pytest.mark.parametrize(
    ("name", "defines", "error", "fragment"),
    [
        ("run_major", {"P_MAJOR": "2"}, AbiMismatch, "major version must be 1"),
        ("run_null", {"P_RETURN_NULL": "1"}, NullPlugin, "returned NULL"),
        ("run_noentry", {"P_ENTRY": "create_plugin"}, MissingEntryPoint, "_create_plugin"),
    ],
)
def test_a_worker_refuses_with_the_loaders_own_errors(
    make_plugin: MakePlugin, name: str, defines: dict[str, str], error: type[LoadError],
    fragment: str,
) -> None:  # fmt: skip
    """A refusal in the worker is the same typed error the in-process loader raises."""
    manifest, data = read(make_plugin(name, defines=defines))
    with pytest.raises(error, match=fragment):
        isolated(manifest.directory)
    with pytest.raises(error, match=fragment):
        load_image(manifest, data, hashlib.sha256(data).hexdigest(), RecordingHost())


def test_a_struct_that_contradicts_the_manifest_is_refused(make_plugin: MakePlugin) -> None:
    """The worker loaded a plugin whose name differs from plugin.toml: refused, worker gone."""
    folder = make_plugin("runner_says", defines={"P_NAME": '"someone_else"'})
    with pytest.raises(LoadError, match="someone_else"):
        isolated(folder)


def test_the_sandbox_a_grant_gives(make_plugin: MakePlugin, tmp_path: Path) -> None:
    """The plugin folder is always readable; Filesystem paths only with Filesystem granted;
    limits come from the settings."""
    manifest, _ = read(make_plugin("runner_spec"))
    access = FilesystemAccess(read_paths=(tmp_path / "r",), write_paths=(tmp_path / "w",))
    settings = ExecutionSettings(memory_mb=64, max_processes=3, max_open_files=32,
                                 kernel_sandbox=False)  # fmt: skip
    without = sandbox_spec(manifest, frozenset({Capability.NETWORK}), access, settings)
    assert (without.read_paths, without.write_paths) == ((manifest.directory,), ())
    granted = sandbox_spec(manifest, frozenset({Capability.FILESYSTEM}), access, settings)
    assert granted.read_paths == (manifest.directory, tmp_path / "r")
    assert granted.write_paths == (tmp_path / "w",)
    assert (granted.address_space, granted.max_processes, granted.max_open_files) == (
        64 * 1024 * 1024, 3, 32
    )
    assert granted.kernel_sandbox is False


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
