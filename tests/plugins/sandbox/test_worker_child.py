"""The worker as a child process, apart from what its messages mean: a small Python child
stands in for ``midimon-worker`` on fd 3, and a minimal subclass says what a crash and a
timeout are. Spawned in its own process group, killed with all of it, reaped, and every wait
bounded by its deadline."""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from midimon.plugins.sandbox.denials import WorkerCrashed, WorkerError, WorkerTimeout
from midimon.plugins.sandbox.wire import Wire
from midimon.plugins.sandbox.worker_child import REAP_SECONDS, WorkerChild

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

#: The stand-in worker: argv[1] (the "plugin name") picks what it does.
CHILD = f"""#!{sys.executable}
import os, socket, sys, time
sock = socket.socket(fileno={Wire.SOCKET_FD})
mode = sys.argv[1]
if mode == "echo":
    while data := sock.recv(70000):
        sock.send(data.upper())
elif mode == "exit7":
    sock.recv(10)
    sys.exit(7)
elif mode == "hang":
    sock.recv(10)
    time.sleep(60)
elif mode == "family":
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    sock.send(str(pid).encode())
    time.sleep(60)
"""


class ScriptChild(WorkerChild):
    """The smallest subclass: a crash is reported from the wait status, a timeout kills."""

    def start(self, executable: Path) -> None:
        self._spawn(executable)

    def call(self, data: bytes, timeout: float) -> bytes:
        """Send ``data`` and return the answer (an empty read means the child is gone)."""
        self._check_usable("call")
        deadline = self._begin(timeout)
        self._send(data, deadline, "call")
        return self.receive(deadline)

    def receive(self, deadline: float) -> bytes:
        """The next datagram from the child, waiting no later than ``deadline``."""
        self._check_usable("receive")
        self._wait(deadline, "call", select.POLLIN)
        assert self._sock is not None
        answer = self._sock.recv(70000)
        if not answer:
            raise self._crashed("call")
        return answer

    def stop(self) -> None:
        self._finish()

    def _crashed(self, call: str, detail: str = "") -> WorkerCrashed:
        self._await_exit_unreaped(0.5)
        self._kill_group()
        self._reap(REAP_SECONDS)
        status = self.wait_status
        sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        error = WorkerCrashed(self.plugin_name, call, sig, code, detail=detail)
        self._dead = error
        self._finish()
        return error

    def _timeout(self, call: str) -> None:
        self._kill_group()
        self._reap(REAP_SECONDS)
        self._finish()
        raise WorkerTimeout(self.plugin_name, call, self._call_timeout)


@pytest.fixture
def child_exe(tmp_path: Path) -> Path:
    path = tmp_path / "fake-worker"
    path.write_text(CHILD)
    path.chmod(0o755)
    return path


@pytest.fixture
def started(child_exe: Path) -> Iterator[list[ScriptChild]]:
    children: list[ScriptChild] = []
    yield children
    for child in children:
        child.stop()


def spawn(started: list[ScriptChild], exe: Path, mode: str) -> ScriptChild:
    child = ScriptChild(mode, None)
    child.start(exe)
    started.append(child)
    return child


def test_talks_over_fd_3_in_its_own_group(child_exe: Path, started: list) -> None:
    """The child gets the socket as fd 3, runs in a new session and process group, and
    answers datagram by datagram."""
    child = spawn(started, child_exe, "echo")
    assert child.alive and child.pid is not None
    assert os.getpgid(child.pid) == child.pid != os.getpgrp()
    assert child.call(b"hello", 5) == b"HELLO"
    assert child.call(b"x" * 60000, 5) == b"X" * 60000
    assert (child.rss_bytes() or 0) > 0


def test_an_exit_is_a_crash_with_its_status(child_exe: Path, started: list) -> None:
    """A child that exits mid-call is reported with its exit status, and is reaped."""
    child = spawn(started, child_exe, "exit7")
    with pytest.raises(WorkerCrashed) as info:
        child.call(b"go", 5)
    assert info.value.exit_code == 7 and "exited with status 7 during call" in str(info.value)
    assert not child.alive and child.rss_bytes() is None
    with pytest.raises(WorkerError, match="the worker is gone"):
        child.call(b"again", 5)


def test_a_deadline_kills_the_whole_group(child_exe: Path, started: list) -> None:
    """Past the deadline the child's process group (grandchildren too) is SIGKILLed; the
    wait never outlasts the deadline by much."""
    family = spawn(started, child_exe, "family")
    grandchild = int(family.receive(time.monotonic() + 10))
    assert os.getpgid(grandchild) == family.pid
    started_at = time.monotonic()
    with pytest.raises(WorkerTimeout, match=r"no answer to call within 0\.3 s"):
        family.call(b"anyone?", 0.3)
    assert time.monotonic() - started_at < 5
    assert not family.alive
    assert wait_for(lambda: not Path(f"/proc/{grandchild}").exists() or _zombie(grandchild), 5)


def test_kill_from_another_thread_ends_a_waiting_call(child_exe: Path, started: list) -> None:
    """kill() is safe from another thread: the call waiting on the child ends as a crash
    by SIGKILL, well before its deadline."""
    child = spawn(started, child_exe, "hang")
    threading.Timer(0.2, child.kill).start()
    started_at = time.monotonic()
    with pytest.raises(WorkerCrashed) as info:
        child.call(b"go", 30)
    assert info.value.signal == signal.SIGKILL
    assert time.monotonic() - started_at < 10
    child.kill()  # idempotent once reaped


def test_a_missing_executable_is_a_worker_error(tmp_path: Path) -> None:
    """An executable that cannot be started is named in a WorkerError, and nothing leaks."""
    child = ScriptChild("nothing", None)
    with pytest.raises(WorkerError, match=r"cannot start .*no-such-worker"):
        child.start(tmp_path / "no-such-worker")
    assert not child.alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
