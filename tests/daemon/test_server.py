"""The control server over real Unix sockets: many clients, event streams, the socket and its
folder kept private and single, the connection limit and the peer's uid."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_raw import Raw, timed_ping, wait_until
from helpers import IN_CI

from midimon.daemon import (
    AlreadyRunning,
    CommandRegistry,
    ControlClient,
    ControlServer,
    ControlServerError,
    DaemonNotRunning,
    ErrorCode,
    IpcError,
    Stream,
)


def test_concurrent_clients(server: ControlServer, sock_path: Path) -> None:
    """20 clients pipelining 50 requests each all get their own ids and data back, in order."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            raw = Raw(sock_path, timeout=20)
            ids = [f"c{n}-{i}" if i % 2 else n * 1000 + i for i in range(50)]
            raw.send(
                b"".join(
                    json.dumps({"id": rid, "command": "ECHO", "args": {"n": n, "i": i}}).encode()
                    + b"\n"
                    for i, rid in enumerate(ids)
                )
            )
            for i, rid in enumerate(ids):
                answer = raw.recv()
                assert answer is not None and answer["status"] == "ok"
                assert answer["id"] == rid
                assert answer["data"] == {"args": {"n": n, "i": i}, "id": rid}
            raw.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors[0]


def _collect(
    client: ControlClient, out: list[Any], done: threading.Event, errors: list[BaseException]
) -> None:
    try:
        for item in client.stream("EVENTS", timeout=10):
            out.append(item)
    except BaseException as exc:
        errors.append(exc)
    finally:
        done.set()


def test_events_two_subscribers(
    server: ControlServer, sock_path: Path, registry: CommandRegistry
) -> None:
    """EVENTS reaches two subscribers; one hanging up leaves the other's stream intact."""
    kept: list[Any] = []
    kept_errors: list[BaseException] = []
    kept_done = threading.Event()
    thread = threading.Thread(
        target=_collect, args=(ControlClient(sock_path), kept, kept_done, kept_errors)
    )
    thread.start()
    leaver = Raw(sock_path)
    leaver.send({"id": "ev", "command": "EVENTS"})
    wait_until(lambda: registry.events.subscriber_count == 2)

    for i in range(5):
        assert registry.events.publish({"n": i}) == 2
    for i in range(5):
        assert leaver.recv() == {"id": "ev", "status": "event", "data": {"n": i}}
    leaver.close()
    wait_until(lambda: registry.events.subscriber_count == 1)
    for i in range(5, 10):
        registry.events.publish({"n": i})
    wait_until(lambda: len(kept) == 10)
    assert kept == [{"n": i} for i in range(10)]

    server.stop()  # ends the remaining stream with SHUTTING_DOWN
    assert kept_done.wait(5)
    thread.join(5)
    assert len(kept_errors) == 1 and isinstance(kept_errors[0], IpcError)
    assert kept_errors[0].code == ErrorCode.SHUTTING_DOWN == 10


def test_iterator_stream_ends_normally(server: ControlServer, sock_path: Path) -> None:
    """A Stream over an iterator sends every item, then an ok; the connection then goes on."""
    with ControlClient(sock_path) as client:
        assert list(client.stream("COUNT", {"n": 4})) == [0, 1, 2, 3]
    raw = Raw(sock_path)
    raw.send({"id": 1, "command": "COUNT", "args": {"n": 2}})
    raw.send({"id": 2, "command": "PING"})
    assert [raw.recv() for _ in range(3)] == [
        {"id": 1, "status": "event", "data": 0},
        {"id": 1, "status": "event", "data": 1},
        {"id": 1, "status": "ok", "data": None},
    ]
    assert raw.recv()["id"] == 2  # type: ignore[index]
    raw.close()


def test_stop_with_a_stuck_stream(sock_path: Path, registry: CommandRegistry) -> None:
    """stop() returns within its timeout even when a stream's iterator never yields."""
    release = threading.Event()

    def stuck() -> Iterator[int]:
        yield 1
        release.wait(10)

    registry.register("STUCK", lambda args, ctx: Stream(stuck()))
    srv = ControlServer(sock_path, registry).start()
    raw = Raw(sock_path)
    raw.send({"id": 1, "command": "STUCK"})
    assert raw.recv() == {"id": 1, "status": "event", "data": 1}
    started = time.monotonic()
    srv.stop(timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert not sock_path.exists()
    assert raw.recv() is None  # hung up
    raw.close()
    release.set()


def test_socket_and_dir_permissions(server: ControlServer, sock_path: Path) -> None:
    """The runtime dir is created 0700 and the socket is 0600, whatever the umask."""
    assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700
    st = os.lstat(sock_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600


def test_shared_dir_refused(sock_path: Path, registry: CommandRegistry) -> None:
    """An existing runtime dir others can enter is refused, not silently used."""
    sock_path.parent.mkdir(parents=True)
    os.chmod(sock_path.parent, 0o755)
    with pytest.raises(ControlServerError, match="must be 0700"):
        ControlServer(sock_path, registry).start()


def test_symlinked_dir_refused(tmp_path: Path, sock_path: Path, registry: CommandRegistry) -> None:
    """A runtime dir that is a symlink is refused."""
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    sock_path.parent.parent.mkdir(parents=True)
    sock_path.parent.symlink_to(real)
    with pytest.raises(ControlServerError, match="symlink"):
        ControlServer(sock_path, registry).start()


def test_symlinked_socket_refused(
    tmp_path: Path, sock_path: Path, registry: CommandRegistry
) -> None:
    """A symlink at the socket path is refused and left alone."""
    sock_path.parent.mkdir(parents=True, mode=0o700)
    target = tmp_path / "victim"
    target.write_text("keep me")
    sock_path.symlink_to(target)
    with pytest.raises(ControlServerError, match="symlink"):
        ControlServer(sock_path, registry).start()
    assert sock_path.is_symlink() and target.read_text() == "keep me"


def test_non_socket_file_refused(sock_path: Path, registry: CommandRegistry) -> None:
    """A regular file at the socket path is not deleted."""
    sock_path.parent.mkdir(parents=True, mode=0o700)
    sock_path.write_text("not a socket")
    with pytest.raises(ControlServerError, match="not a socket"):
        ControlServer(sock_path, registry).start()
    assert sock_path.read_text() == "not a socket"


def test_stale_socket_replaced(sock_path: Path, registry: CommandRegistry) -> None:
    """A socket file left by a dead daemon (nobody listening) is replaced."""
    sock_path.parent.mkdir(parents=True, mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()
    assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    with pytest.raises(DaemonNotRunning, match="stale socket"):
        ControlClient(sock_path).request("PING")
    with ControlServer(sock_path, registry), ControlClient(sock_path) as client:
        assert client.request("PING")["pid"] == os.getpid()


def test_second_server_refused_with_pid(server: ControlServer, sock_path: Path) -> None:
    """A second server on a live daemon's socket fails with 'already running, pid N'."""
    with pytest.raises(AlreadyRunning, match=f"already running, pid {os.getpid()}") as info:
        ControlServer(sock_path, CommandRegistry()).start()
    assert info.value.pid == os.getpid()
    assert timed_ping(sock_path) < 1  # the first one is untouched


def test_foreign_live_socket_refused(sock_path: Path, registry: CommandRegistry) -> None:
    """A live listener without the lock file is not replaced either; its pid is named."""
    sock_path.parent.mkdir(parents=True, mode=0o700)
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(sock_path))
    other.listen()
    try:
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            ControlServer(sock_path, registry).start()
    finally:
        other.close()


def test_connection_limit(sock_path: Path, registry: CommandRegistry) -> None:
    """Past max_connections a client gets error 11 (busy) and is closed."""
    with ControlServer(sock_path, registry, max_connections=1) as srv:
        first = Raw(sock_path)
        first.send({"id": 1, "command": "PING"})
        assert first.recv()["status"] == "ok"  # type: ignore[index]
        with pytest.raises(IpcError) as info:
            ControlClient(sock_path).request("PING")
        assert info.value.code == ErrorCode.BUSY
        first.close()
        wait_until(lambda: srv.connection_count == 0)
        assert timed_ping(sock_path) < 1


def _connect_as_nobody(path: Path) -> bytes:
    """Fork a child that drops to uid 65534, connects and says HELLO; its answer or errno."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: only raw syscalls, then _exit
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(str(path))
                # A refused peer may be answered and hung up on before it gets to write.
                with contextlib.suppress(OSError):
                    sock.sendall(b'{"id": 1, "command": "HELLO", "args": {"protocol": 1}}\n')
                answer = sock.recv(4096)
            except OSError as exc:
                answer = f"errno {exc.errno}".encode()
            os.write(write_fd, answer)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def test_wrong_uid_refused(registry: CommandRegistry) -> None:
    """Another uid is stopped by the 0700 dir, and, with the dir opened up, by SO_PEERCRED."""
    if os.geteuid() != 0:  # switching to another uid needs root; CI runs as root
        if IN_CI:
            pytest.fail("CI must run as root to test the wrong-uid refusal")
        pytest.skip("needs root to switch to another uid")
    import errno
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="midimon-uid-"))  # pytest's tmp dirs are root-only
    try:
        os.chmod(base, 0o711)
        path = base / "midimon" / "midimon.sock"
        with ControlServer(path, registry) as srv:
            assert _connect_as_nobody(path) == f"errno {errno.EACCES}".encode()
            os.chmod(path.parent, 0o711)  # deliberately weaken the first barrier
            os.chmod(path, 0o666)
            answer = json.loads(_connect_as_nobody(path))
            assert answer["status"] == "error" and answer["id"] is None
            assert answer["error"]["code"] == ErrorCode.PERMISSION_DENIED == 6
            assert "uid 65534" in answer["error"]["message"]
            assert srv.connection_count == 0
            assert timed_ping(path) < 1
    finally:
        shutil.rmtree(base)
