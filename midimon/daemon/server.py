"""The control socket: a Unix-socket server running registered commands, one thread per client.

Threading model: one accept thread; one thread per accepted connection (``connection.py``),
which reads request lines, runs them in order and writes the answers; a shared, bounded pool
runs handlers that have a timeout (the connection thread waits at most that long, then answers
TIMEOUT and abandons the call). Built-ins (HELLO, PING, EVENTS) run inline. Nothing one client
does can block another: a partial line must complete within ``line_timeout``, every write must
finish within ``write_timeout`` (a client that never reads is dropped), streams are bounded
queues that end with BUSY when a subscriber falls behind, and at most ``max_connections``
clients are served.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import logging
import os
import select
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from midimon.daemon import control_protocol
from midimon.daemon.command_registry import CommandRegistry, PeerCredentials, RequestContext
from midimon.daemon.connection import Connection
from midimon.daemon.control_protocol import ErrorCode, Request
from midimon.daemon.control_streams import Stream
from midimon.daemon.cookie import cookie_matches, cookie_path, remove_cookie, write_cookie
from midimon.daemon.errors import (  # importable here as before
    AlreadyRunning,
    CommandError,
    ControlServerError,
    CookieError,
)

log = logging.getLogger("midimon.daemon")

_UCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> PeerCredentials | None:
    """The connected peer's pid, uid and gid, or None where SO_PEERCRED does not exist."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:  # pragma: no cover - not Linux: the 0700 directory is the only check
        return None
    pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, opt, _UCRED.size))
    return PeerCredentials(pid, uid, gid)


def _prepare_directory(directory: Path) -> None:
    """Create ``directory`` 0700, or check an existing one is a real dir of ours, not shared."""
    try:
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            directory.mkdir(mode=0o700)
            os.chmod(directory, 0o700)  # exactly, whatever the umask
        except FileExistsError:
            pass
        st = os.lstat(directory)
    except OSError as exc:
        raise ControlServerError(directory, f"cannot create the runtime dir: {exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ControlServerError(directory, "exists and is not a directory (or is a symlink)")
    if st.st_uid != os.geteuid():
        raise ControlServerError(
            directory, f"is owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
        )
    if st.st_mode & 0o077:
        raise ControlServerError(
            directory, f"has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0700"
        )


def _live_socket_pid(path: Path) -> int | None:
    """The pid listening on ``path``, or None when nobody is (a stale socket)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return None
            raise ControlServerError(path, f"cannot probe existing socket: {exc}") from None
        creds = peer_credentials(probe)
        return creds.pid if creds else 0


class ControlServer:
    """Serve ``registry`` on the Unix socket ``socket_path``; ``start()`` then ``stop()``."""

    def __init__(
        self,
        socket_path: os.PathLike[str] | str,
        registry: CommandRegistry,
        *,
        max_request_bytes: int = control_protocol.MAX_REQUEST_BYTES,
        max_authenticated_request_bytes: int = control_protocol.MAX_AUTHENTICATED_REQUEST_BYTES,
        max_connections: int = 64,
        line_timeout: float = 10.0,
        idle_timeout: float = 600.0,
        write_timeout: float = 5.0,
        handler_workers: int = 16,
        on_refused: Callable[[str, PeerCredentials | None], None] | None = None,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.cookie_path = cookie_path(self.socket_path)
        self._cookie = ""
        # Told (reason, peer) when a client fails authentication: the daemon audits it.
        self.on_refused = on_refused
        self.registry = registry
        self.max_request_bytes = max_request_bytes
        self.max_authenticated_request_bytes = max(
            max_request_bytes, max_authenticated_request_bytes
        )
        self.max_connections = max_connections
        self.line_timeout = line_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self._handler_workers = handler_workers
        self._listener: socket.socket | None = None
        self._lock_fd: int | None = None
        self._socket_id: tuple[int, int] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._accept_thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._connections: dict[int, Connection] = {}
        self._conn_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.stopping = threading.Event()
        self.started_at = 0.0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ControlServer:
        """Create the runtime dir and socket and start serving. Raises ControlServerError."""
        path = self.socket_path
        _prepare_directory(path.parent)
        self._take_lock()
        try:
            self._remove_stale_socket()
            # Rewritten at each start, only once the lock says no other daemon serves here.
            try:
                self._cookie = write_cookie(self.cookie_path)
            except CookieError as exc:
                raise ControlServerError(path, str(exc)) from None
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(str(path))
                # The directory is 0700, so the umask-dependent mode before this is never
                # reachable by anyone else.
                os.chmod(path, 0o600)
                listener.listen(min(self.max_connections, socket.SOMAXCONN))
            except OSError as exc:
                listener.close()
                raise ControlServerError(path, f"cannot listen: {exc}") from None
            st = os.lstat(path)
            self._socket_id = (st.st_dev, st.st_ino)
        except BaseException:
            self._release_lock()
            raise
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        self._executor = ThreadPoolExecutor(self._handler_workers, "midimon-handler")
        self.started_at = time.monotonic()
        self.stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="midimon-accept", daemon=True
        )
        self._accept_thread.start()
        log.info("control socket listening at %s", path)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, end streams (SHUTTING_DOWN), close clients, remove the socket file."""
        if self._listener is None or self.stopping.is_set():
            return
        self.stopping.set()
        os.write(self._wake_w, b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        self._listener.close()
        self._remove_own_socket()
        shutting = CommandError(ErrorCode.SHUTTING_DOWN, "midimon is shutting down")
        self.registry.events.close_all(shutting)
        with self._conn_lock:
            connections = list(self._connections.values())
        for conn in connections:
            conn.interrupt(shutting)
        deadline = time.monotonic() + timeout
        for conn in connections:
            conn.thread.join(max(0.0, deadline - time.monotonic()))
        for conn in connections:
            conn.hang_up()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._release_lock()
        log.info("control socket at %s closed", self.socket_path)

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connection_count(self) -> int:
        """Clients connected now."""
        with self._conn_lock:
            return len(self._connections)

    # --- socket file and lock ----------------------------------------------------------------

    def _take_lock(self) -> None:
        lock_path = Path(f"{self.socket_path}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ControlServerError(lock_path, f"cannot open lock file: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = int(os.pread(fd, 32, 0).decode("ascii").strip() or 0) or None
            except ValueError:
                pid = None
            os.close(fd)
            if pid is None:  # caught between its truncate and write: ask the socket instead
                with contextlib.suppress(ControlServerError):
                    pid = _live_socket_pid(self.socket_path) or None
            raise AlreadyRunning(self.socket_path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _remove_stale_socket(self) -> None:
        path = self.socket_path
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise ControlServerError(path, "is a symlink; refusing to use it")
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlServerError(path, "exists and is not a socket; refusing to replace it")
        pid = _live_socket_pid(path)
        if pid is not None:
            raise AlreadyRunning(path, pid)
        log.info("removing stale socket %s", path)
        os.unlink(path)

    def _remove_own_socket(self) -> None:
        """Unlink the socket file, unless it is no longer the one this server bound."""
        try:
            st = os.lstat(self.socket_path)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == self._socket_id:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            remove_cookie(self.cookie_path, self._cookie)

    def authenticate(self, request: Request, conn: Connection) -> None:
        """Let a HELLO with the right cookie through; refuse anything else (UNAUTHENTICATED).

        A HELLO with another protocol version passes, so that its handler can answer
        VERSION_MISMATCH: an old client hears that it is old, not that it is unwelcome.
        """
        if request.command == "HELLO":
            if request.args.get("protocol") != control_protocol.PROTOCOL_VERSION:
                return
            if cookie_matches(self._cookie, request.args.get("cookie")):
                conn.authenticated = True
                return
            reason = "HELLO without the right cookie"
        else:
            reason = f"{request.command} before HELLO"
        peer = conn.peer
        who = f"pid {peer.pid} uid {peer.uid}" if peer else "an unknown peer"
        log.warning("refused control connection from %s: %s", who, reason)
        if self.on_refused is not None:
            try:
                self.on_refused(reason, peer)
            except Exception:
                log.exception("auditing a refused control connection failed")
        raise CommandError(
            ErrorCode.UNAUTHENTICATED,
            f"{reason}: say HELLO with the cookie in {self.cookie_path} first (the midimon "
            "command does; only the user running the daemon can read it)",
        )

    # --- accepting ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        poller = select.poll()
        poller.register(self._listener, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self.stopping.is_set():
            try:
                ready = {fd for fd, _ in poller.poll()}
            except OSError:
                return
            if self._wake_r in ready or self.stopping.is_set():
                return
            try:
                sock, _ = self._listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    log.warning("cannot accept a client: %s", exc)
                    time.sleep(0.1)
                continue
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        """Check the peer and the connection limit, then hand the client to its own thread."""
        try:
            peer = peer_credentials(sock)
        except OSError:
            sock.close()
            return
        if peer is not None and peer.uid not in (os.geteuid(), 0):
            log.warning("refused control connection from uid %d pid %d", peer.uid, peer.pid)
            _refuse(
                sock,
                ErrorCode.PERMISSION_DENIED,
                f"uid {peer.uid} may not control this midimon (run by uid {os.geteuid()})",
            )
            return
        with self._conn_lock:
            conn = None
            if len(self._connections) < self.max_connections:
                conn = Connection(self, sock, next(self._ids), peer)
                self._connections[conn.id] = conn
        if conn is None:
            _refuse(sock, ErrorCode.BUSY, f"too many clients ({self.max_connections})")
            return
        try:
            conn.thread.start()
        except RuntimeError:  # no more threads: refuse this client, keep accepting
            self.forget(conn)
            _refuse(sock, ErrorCode.BUSY, "cannot start a thread for this client")

    def forget(self, conn: Connection) -> None:
        """Drop a finished connection from the table (called from its own thread)."""
        with self._conn_lock:
            self._connections.pop(conn.id, None)

    # --- running commands --------------------------------------------------------------------

    def run_command(self, request: Request, conn: Connection) -> Any:
        """Run one request's handler; returns its data or a Stream, or raises CommandError."""
        if self.stopping.is_set():
            raise CommandError(ErrorCode.SHUTTING_DOWN, "midimon is shutting down")
        command = self.registry.get(request.command)
        if command is None:
            raise CommandError(
                ErrorCode.UNKNOWN_COMMAND,
                f"unknown command {request.command!r} (known: {', '.join(self.registry.names())})",
            )
        ctx = RequestContext(request.id, request.command, conn.id, conn.peer, self.started_at)
        if command.timeout is None:
            return _call(command.handler, request.args, ctx)
        assert self._executor is not None
        try:
            future = self._executor.submit(_call, command.handler, request.args, ctx)
        except RuntimeError:  # the pool was shut down
            raise CommandError(ErrorCode.SHUTTING_DOWN, "midimon is shutting down") from None
        try:
            return future.result(timeout=command.timeout)
        except FutureTimeout:
            ctx.cancelled.set()
            future.add_done_callback(_release_orphan_stream)
            raise CommandError(
                ErrorCode.TIMEOUT, f"{request.command} did not finish within {command.timeout} s"
            ) from None


def _call(handler: Any, args: dict[str, Any], ctx: RequestContext) -> Any:
    """Run a handler, turning anything but CommandError into COMMAND_FAILED with its message."""
    try:
        return handler(args, ctx)
    except CommandError:
        raise
    except Exception as exc:
        log.exception("command %s failed", ctx.command)
        raise CommandError(ErrorCode.COMMAND_FAILED, control_protocol.describe_error(exc)) from None


def _release_orphan_stream(future: Future[Any]) -> None:
    """A handler that timed out but later returned a Stream: nobody will read it; end it."""
    if not future.cancelled() and future.exception() is None:
        result = future.result()
        if isinstance(result, Stream):
            result.release()


def _refuse(sock: socket.socket, code: ErrorCode, message: str) -> None:
    """Send one error line without ever blocking, then close."""
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(control_protocol.encode(control_protocol.error(None, code, message)))
    sock.close()
