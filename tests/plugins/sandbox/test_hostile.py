"""The hostile-plugin suite: each misbehaviour fails its call with the right reason, is
audited, and leaves the host and a well-behaved plugin working."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import MakePlugin, TcpListener
from hostile import audit, hostile

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.results import Outcome

CTX = TriggerContext(velocity=100, number=36)


@pytest.fixture
def good(make_plugin: MakePlugin) -> str:
    """A well-behaved plugin to run between the hostile ones."""
    make_plugin("good_citizen")
    return "good_citizen"


def assert_host_fine(manager, good: str) -> None:
    result = manager.execute(good, {}, CTX)
    assert result.ok, result


@pytest.mark.parametrize(
    ("behaviour", "outcome", "fragment", "event"),
    [
        ("SEGV", Outcome.CRASHED, "SIGSEGV", "crash"),
        ("ABORT", Outcome.CRASHED, "SIGABRT", "crash"),
        ("EXIT", Outcome.CRASHED, "exit", "crash"),
        ("LOOP", Outcome.TIMEOUT, "timed out", "timeout"),
        ("SLEEP", Outcome.TIMEOUT, "timed out", "timeout"),
        ("FORK", Outcome.DENIED, "fork", "deny"),
        ("EXEC", Outcome.DENIED, "execve", "deny"),
    ],
)
def test_hostile_call_fails_with_reason(
    make_plugin: MakePlugin,
    make_manager,
    good: str,
    tmp_path: Path,
    behaviour: str,
    outcome: Outcome,
    fragment: str,
    event: str,
) -> None:
    """Crash, abort, exit, hang, fork bomb and exec: the call fails as it should, audited."""
    name = f"h_{behaviour.lower()}"
    hostile(make_plugin, name, behaviour)
    manager = make_manager(timeout=1.0)
    assert_host_fine(manager, good)
    started = time.monotonic()
    result = manager.execute(name, {}, CTX)
    assert time.monotonic() - started < 4.0
    assert result.outcome is outcome, result
    assert fragment in result.message
    assert event in [e["event"] for e in audit(tmp_path, name)]
    assert_host_fine(manager, good)


def test_unbounded_allocation_is_capped(
    make_plugin: MakePlugin, make_manager, good: str, tmp_path: Path
) -> None:
    """malloc without end hits the address-space limit: the call fails, the host is fine."""
    hostile(make_plugin, "h_alloc", "ALLOC")
    manager = make_manager(memory_mb=128, timeout=5.0)
    result = manager.execute("h_alloc", {}, CTX)
    assert result.outcome in (Outcome.FAILED, Outcome.CRASHED), result
    if result.outcome is Outcome.FAILED:
        assert "malloc failed" in result.message
    events = [e["event"] for e in audit(tmp_path, "h_alloc")]
    assert "execute_failed" in events or "crash" in events
    assert_host_fine(manager, good)


def test_exec_with_subprocess_granted_runs(make_plugin: MakePlugin, make_manager) -> None:
    """With Subprocess granted, fork + exec of /bin/sh runs and its exit status comes back."""
    hostile(make_plugin, "h_spawn", "SPAWN", caps=("subprocess",))
    manager = make_manager(timeout=5.0)
    manager.grant("h_spawn", Capability.SUBPROCESS)
    result = manager.execute("h_spawn", {}, CTX)
    assert result.ok and result.message == "child exited 7", result


def test_network_needs_grant(make_plugin: MakePlugin, make_manager, good: str, tmp_path) -> None:
    """Connecting to a local server: denied (and audited) without Network, works with it."""
    server = TcpListener()
    port = str(server.port)
    hostile(make_plugin, "h_net", "CONNECT", P_PORT=port)  # declares nothing
    manager = make_manager()
    result = manager.execute("h_net", {}, CTX)
    assert result.outcome is Outcome.DENIED and "socket" in result.message, result
    assert server.accepted == 0
    assert "deny" in [e["event"] for e in audit(tmp_path, "h_net")]
    assert_host_fine(manager, good)
    hostile(make_plugin, "h_net_ok", "CONNECT", caps=("network",), P_PORT=port)
    manager.grant("h_net_ok", Capability.NETWORK)
    result = manager.execute("h_net_ok", {}, CTX)
    assert result.ok, result
    time.sleep(0.1)
    assert server.accepted == 1


def test_reading_outside_needs_filesystem(
    make_plugin: MakePlugin, make_manager, good: str, tmp_path: Path
) -> None:
    """A file outside the plugin folder cannot be read without Filesystem, and can with it."""
    (tmp_path / "shared").mkdir()
    secret = tmp_path / "shared" / "secret.txt"
    secret.write_text("top secret")
    hostile(make_plugin, "h_read", "READ", P_PATH=f'"{secret}"')
    manager = make_manager()
    result = manager.execute("h_read", {}, CTX)
    assert result.outcome is Outcome.FAILED and "Permission denied" in result.message, result
    assert "execute_failed" in [e["event"] for e in audit(tmp_path, "h_read")]
    assert_host_fine(manager, good)
    hostile(make_plugin, "h_read_ok", "READ", caps=("filesystem",), P_PATH=f'"{secret}"')
    manager.grant("h_read_ok", Capability.FILESYSTEM, read_paths=[secret.parent])
    result = manager.execute("h_read_ok", {}, CTX)
    assert result.ok and "read 10 bytes" in result.message, result


def test_writing_only_inside_granted_paths(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """With Filesystem granted for one folder, writes there work and elsewhere fail."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    inside, outside = allowed / "out.txt", tmp_path / "elsewhere.txt"
    hostile(make_plugin, "h_write_in", "WRITE", caps=("filesystem",), P_PATH=f'"{inside}"')
    hostile(make_plugin, "h_write_out", "WRITE", caps=("filesystem",), P_PATH=f'"{outside}"')
    manager = make_manager()
    for name in ("h_write_in", "h_write_out"):
        manager.grant(name, Capability.FILESYSTEM, [allowed])
    assert manager.execute("h_write_in", {}, CTX).ok
    assert inside.read_text() == "written\n"
    result = manager.execute("h_write_out", {}, CTX)
    assert result.outcome is Outcome.FAILED and "Permission denied" in result.message
    assert not outside.exists()
    assert "execute_failed" in [e["event"] for e in audit(tmp_path, "h_write_out")]


def test_stdout_spam_does_not_corrupt_the_protocol(
    make_plugin: MakePlugin, make_manager, good: str
) -> None:
    """20 MB on stdout/stderr and a fake protocol line change nothing."""
    hostile(make_plugin, "h_spam", "SPAM")
    manager = make_manager(timeout=10.0)
    for _ in range(2):
        result = manager.execute("h_spam", {}, CTX)
        assert result.ok and result.message == "spammed", result
    assert_host_fine(manager, good)


def test_huge_error_and_log_are_truncated(
    make_plugin: MakePlugin, make_manager, recording_host, good: str, tmp_path: Path
) -> None:
    """A message filling the whole buffer without NUL, and a 1 MiB log line, are cut short."""
    hostile(make_plugin, "h_huge", "HUGE_ERROR")
    manager = make_manager()
    result = manager.execute("h_huge", {}, CTX)
    assert result.outcome is Outcome.FAILED
    assert result.message == "E" * 4095
    assert "execute_failed" in [e["event"] for e in audit(tmp_path, "h_huge")]
    assert_host_fine(manager, good)
    lines = [m for p, _, m in recording_host.logs if p == "h_huge"]
    assert lines and all(len(m) <= 8192 for m in lines)


def test_thread_after_shutdown_dies_with_the_worker(
    make_plugin: MakePlugin, make_manager, recording_host, good: str, tmp_path: Path
) -> None:
    """A plugin thread that keeps running after shutdown stops when its worker is gone."""
    hostile(make_plugin, "h_thread", "THREAD")
    manager = make_manager()
    assert manager.execute("h_thread", {}, CTX).ok
    pid = manager.loaded_plugin("h_thread").runner.worker_pid
    manager.unload("h_thread")
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    count = len(recording_host.logs)
    time.sleep(0.2)
    assert len(recording_host.logs) == count
    assert "unload" in [e["event"] for e in audit(tmp_path, "h_thread")]
    assert_host_fine(manager, good)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_repeated_crashes_disable_the_plugin(
    make_plugin: MakePlugin, make_manager, good: str, tmp_path: Path
) -> None:
    """More than max_crashes crashes in the window disables the plugin and says why."""
    hostile(make_plugin, "h_crashy", "SEGV")
    manager = make_manager(max_crashes=2, crash_window=60.0)
    outcomes = [manager.execute("h_crashy", {}, CTX).outcome for _ in range(4)]
    assert outcomes == [Outcome.CRASHED] * 3 + [Outcome.DISABLED]
    assert not manager.is_enabled("h_crashy")
    reason = manager.state.disabled_reason("h_crashy")
    assert "3 crashes or timeouts" in reason and "SIGSEGV" in reason
    assert "disable" in [e["event"] for e in audit(tmp_path, "h_crashy")]
    assert_host_fine(manager, good)
    assert os.getpid() > 0  # still here
