"""The worker as a child process: spawn it, talk over its socket with deadlines, reap it.

``midimon-worker`` is spawned in its own session and process group with one end of an
``AF_UNIX``/``SOCK_SEQPACKET`` socketpair as fd 3. Every wait has a deadline (``poll`` on the
socket and on a pidfd of the worker); past it the whole process group is SIGKILLed. What a
message means, and what a crash or a timeout is reported as, is the subclass's
(:class:`~midimon.plugins.sandbox.worker.WorkerProcess`).
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fcntl
import logging
import os
import select
import signal
import socket
import threading
import time
from array import array
from pathlib import Path

from midimon.plugins.errors import WorkerCrashed, WorkerError
from midimon.plugins.sandbox.wire import MAX_DATAGRAM, Wire

log = logging.getLogger("midimon.plugins.sandbox.worker")

REAP_SECONDS = 2.0  # how long a dead or SIGKILLed worker may take to be reaped
GRACE_SECONDS = 0.25  # how long a worker that hung up may take to exit on its own


def _dup_high(fd: int) -> int:
    """A close-on-exec duplicate of ``fd`` numbered 10 or more (clear of 0..3 in the child)."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def _poll_one(fd: int, events: int, seconds: float) -> bool:
    """Whether ``fd`` has ``events`` within ``seconds`` (poll: no FD_SETSIZE limit)."""
    poller = select.poll()
    poller.register(fd, events)
    try:
        return bool(poller.poll(seconds * 1000))
    except OSError:
        return False


class WorkerChild(abc.ABC):
    """One ``midimon-worker`` child process and its socket. Not thread-safe, except kill().

    Abstract: :class:`~midimon.plugins.sandbox.worker.WorkerProcess` says what a crash and a
    timeout are reported as."""

    def __init__(self, plugin_name: str, output_fd: int | None) -> None:
        self.plugin_name = plugin_name
        self.pid: int | None = None
        self.wait_status: int | None = None
        self._output_fd = output_fd
        self._sock: socket.socket | None = None
        self._pidfd: int | None = None
        self._poller: select.poll | None = None
        self._rx = bytearray(MAX_DATAGRAM + 1)
        self._rx_view = memoryview(self._rx)
        self._seq = 0
        self._call_timeout = 0.0
        self._exited = False  # the pidfd said so
        self._reaped = False
        self._killed = False
        self._dead: WorkerError | None = None
        self._lock = threading.Lock()  # reaping vs kill() from another thread

    @property
    def alive(self) -> bool:
        """True while the worker process runs (a dead one is reaped here)."""
        if self.pid is None or self._reaped:
            return False
        self._try_reap()
        return not self._reaped

    def kill(self) -> None:
        """SIGKILL the worker's whole process group. Safe from any thread; idempotent."""
        if self.pid is not None and not self._reaped:
            self._killed = True
        self._kill_group()

    def hang_up(self) -> None:
        """Shut the host's end of the channel down without a SHUTDOWN message: the worker reads
        EOF and exits, as when the daemon dies. Safe from any thread; the next call here then
        fails as a crash."""
        sock = self._sock
        if sock is not None:
            # Already closed or never connected: the worker has its EOF either way.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def rss_bytes(self) -> int | None:
        """Resident memory of the worker (VmRSS), or None when it is not running."""
        if not self.alive:
            return None
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    # -- what a failure is reported as (the subclass says) ---------------------------------------
    @abc.abstractmethod
    def _crashed(self, call: str, detail: str = "") -> WorkerCrashed:
        """The worker died or misbehaved: kill it, reap it, and say how (never returns normally
        without having finished the worker)."""

    @abc.abstractmethod
    def _timeout(self, call: str) -> None:
        """A call's deadline passed: kill the worker and raise WorkerTimeout."""

    # -- process ---------------------------------------------------------------------------------
    def _begin(self, timeout: float) -> float:
        self._call_timeout = timeout
        return time.monotonic() + timeout

    def _kill_group(self) -> None:
        with self._lock:
            if self.pid is None or self._reaped:
                return
            # Not reaped yet, so the group id cannot have been reused.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def _spawn(self, executable: Path) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for end in (parent, child):
            with contextlib.suppress(OSError):  # room for a 64 KiB datagram even if wmem is low
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        owned: list[int] = []
        try:
            sock_fd = _dup_high(child.fileno())
            owned.append(sock_fd)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                null_fd = _dup_high(null)
            finally:
                os.close(null)
            owned.append(null_fd)
            out_fd = null_fd if self._output_fd is None else _dup_high(self._output_fd)
            owned.append(out_fd)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
            if "TZ" in os.environ:
                env["TZ"] = os.environ["TZ"]
            try:
                self.pid = os.posix_spawn(
                    str(executable),
                    [str(executable), self.plugin_name],
                    env,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, null_fd, 0),
                        (os.POSIX_SPAWN_DUP2, out_fd, 1),
                        (os.POSIX_SPAWN_DUP2, out_fd, 2),
                        (os.POSIX_SPAWN_DUP2, sock_fd, Wire.SOCKET_FD),
                    ],
                    setsid=True,  # own session and process group: kill() takes all of it
                )
            except OSError as exc:
                parent.close()
                raise WorkerError(
                    f"{self.plugin_name}: cannot start {executable}: {exc.strerror or exc}"
                ) from None
        finally:
            for fd in dict.fromkeys(owned):
                os.close(fd)
            child.close()
        parent.setblocking(False)
        self._sock = parent
        self._poller = select.poll()
        self._poller.register(parent.fileno(), select.POLLIN)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None  # Linux < 5.3: the socket's EOF tells alone
        else:
            self._poller.register(self._pidfd, select.POLLIN)

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def _usable(self) -> bool:
        return self._sock is not None and self._dead is None and not self._reaped

    def _check_usable(self, call: str) -> None:
        if self._dead is not None:
            raise WorkerError(f"{self.plugin_name}: the worker is gone ({self._dead})")
        if not self._usable():
            raise WorkerError(f"{self.plugin_name}: {call}() on a worker that is not running")

    def _try_reap(self) -> None:
        with self._lock:
            if self._reaped or self.pid is None:
                return
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # someone else reaped it (a SIGCHLD handler)
                pid, status = self.pid, None
            if pid:
                self._reaped = True
                self.wait_status = status

    def _reap(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the (dying) worker to exit and reap it."""
        deadline = time.monotonic() + seconds
        while True:
            self._try_reap()
            if self._reaped:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error("%s: worker %s did not exit; left unreaped", self.plugin_name, self.pid)
                return
            pidfd = self._pidfd
            if pidfd is not None:
                _poll_one(pidfd, select.POLLIN, min(remaining, 0.1))
            else:
                time.sleep(min(remaining, 0.002))

    def _await_exit_unreaped(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the worker to exit, without reaping it (WNOWAIT)."""
        if self.pid is None or self._reaped:
            return
        deadline = time.monotonic() + seconds
        while True:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            remaining = deadline - time.monotonic()
            if info is not None or remaining <= 0:
                return
            if self._pidfd is not None:
                _poll_one(self._pidfd, select.POLLIN, min(remaining, 0.05))
            else:
                time.sleep(min(remaining, 0.002))

    def _wait_exit(self, deadline: float) -> None:
        self._reap(max(0.0, deadline - time.monotonic()))

    def _finish(self) -> None:
        """Make sure the worker and its group are gone, reaped, and the socket closed."""
        if self.pid is not None and not self._reaped:
            self._kill_group()
            self._reap(REAP_SECONDS)
        if self._pidfd is not None:
            if self._poller is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._poller.unregister(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._sock is not None:
            if self._poller is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._poller.unregister(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._dead is None:
            self._dead = WorkerError("shut down")

    # -- transport -------------------------------------------------------------------------------
    def _send(self, data: bytes, deadline: float, call: str, fds: list[int] | None = None) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                if fds:
                    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", fds))])
                else:
                    sock.send(data)
                return
            except (BlockingIOError, InterruptedError):
                self._wait(deadline, call, select.POLLOUT)
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                    raise self._crashed(call) from None
                raise

    def _wait(self, deadline: float, call: str, events: int) -> None:
        """Block until the socket has ``events`` or the worker exits; past deadline, time out."""
        sock, poller = self._sock, self._poller
        assert sock is not None and poller is not None
        fd = sock.fileno()
        if events != select.POLLIN:
            poller.modify(fd, events)
        try:
            while True:
                remaining = deadline - time.monotonic()
                ready = poller.poll(max(0.0, remaining) * 1000)
                for ready_fd, revents in ready:
                    if ready_fd == fd and revents:
                        return
                    if ready_fd == self._pidfd:
                        self._exited = True
                if remaining <= 0 and not self._exited:
                    self._timeout(call)
                if self._exited:
                    if events == select.POLLIN and self._readable_now():
                        return
                    raise self._crashed(call)
        finally:
            if self._sock is not None and events != select.POLLIN:
                poller.modify(fd, select.POLLIN)

    def _readable_now(self) -> bool:
        sock = self._sock
        return sock is not None and _poll_one(sock.fileno(), select.POLLIN, 0.0)
