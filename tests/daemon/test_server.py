"""The control plane over real Unix sockets and real threads: protocol, limits, streams, safety."""

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
from helpers import IN_CI

from midimon.daemon import (
    ERROR_TABLE,
    PROTOCOL_VERSION,
    AlreadyRunning,
    CommandError,
    CommandRegistry,
    ControlClient,
    ControlServer,
    ControlServerError,
    DaemonNotRunning,
    ErrorCode,
    IpcError,
    Stream,
    exit_status_for,
    socket_path,
)
from midimon.daemon.cookie import cookie_path, read_cookie


def _echo(args: dict[str, Any], ctx: Any) -> Any:
    return {"args": args, "id": ctx.request_id}


def _fail(args: dict[str, Any], ctx: Any) -> Any:
    raise RuntimeError("the disk is on fire")


def _refuse(args: dict[str, Any], ctx: Any) -> Any:
    raise CommandError(ErrorCode.BAD_ARGS, "velocity must be in 0..127")


def _slow(args: dict[str, Any], ctx: Any) -> Any:
    ctx.cancelled.wait(5)
    return "late"


def _count(args: dict[str, Any], ctx: Any) -> Stream:
    return Stream(range(args.get("n", 3)))


@pytest.fixture
def registry() -> CommandRegistry:
    """Built-ins plus ECHO, FAIL, REFUSE, SLOW (0.3 s timeout) and COUNT (an iterator stream)."""
    reg = CommandRegistry()
    reg.register("ECHO", _echo)
    reg.register("FAIL", _fail)
    reg.register("REFUSE", _refuse)
    reg.register("SLOW", _slow, timeout=0.3)
    reg.register("COUNT", _count)
    return reg


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    """A socket path in a runtime dir that does not exist yet."""
    return tmp_path / "run" / "midimon" / "midimon.sock"


@pytest.fixture
def server(sock_path: Path, registry: CommandRegistry) -> Iterator[ControlServer]:
    """A running server with short timeouts."""
    srv = ControlServer(sock_path, registry, line_timeout=1.0, write_timeout=0.5)
    srv.start()
    yield srv
    srv.stop()


class Raw:
    """A bare socket speaking the line protocol, for what ControlClient would never send.

    ``hello=True`` first says HELLO with the daemon's cookie, as every real client must.
    """

    def __init__(self, path: Path, timeout: float = 5.0, *, hello: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")
        if hello:
            cookie = read_cookie(cookie_path(path))
            self.send({"id": "hello", "command": "HELLO", "args": _hello_args(cookie)})
            answer = self.recv()
            assert answer is not None and answer["status"] == "ok", answer

    def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.sock.sendall(data)

    def recv(self) -> dict[str, Any] | None:
        line = self.reader.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _hello_args(cookie: Any) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "cookie": cookie}


def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_ping_and_hello(server: ControlServer, sock_path: Path) -> None:
    """HELLO on connect records the daemon's identity; PING returns version, pid and uptime."""
    with ControlClient(sock_path) as client:
        data = client.request("PING")
        assert client.server_info is not None
        assert client.server_info["protocol"] == PROTOCOL_VERSION
    assert data["protocol"] == PROTOCOL_VERSION
    assert data["pid"] == os.getpid()
    assert isinstance(data["version"], str) and data["version"]
    assert data["uptime"] >= 0


def test_version_mismatch(server: ControlServer, sock_path: Path) -> None:
    """HELLO with another protocol version gets error 7 and the daemon hangs up."""
    raw = Raw(sock_path)
    raw.send({"id": "h", "command": "HELLO", "args": {"protocol": PROTOCOL_VERSION + 1}})
    answer = raw.recv()
    assert answer is not None and answer["id"] == "h" and answer["status"] == "error"
    assert answer["error"]["code"] == ErrorCode.VERSION_MISMATCH == 7
    assert "protocol 2" in answer["error"]["message"]
    assert raw.recv() is None
    raw.close()


def test_cookie_file_is_private_and_new_at_each_start(
    sock_path: Path, registry: CommandRegistry
) -> None:
    """The cookie is 32 random bytes in hex, 0600, rewritten at each start, removed at stop."""
    path = cookie_path(sock_path)
    with ControlServer(sock_path, registry):
        first = read_cookie(path)
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
        assert len(bytes.fromhex(first)) == 32
    assert not path.exists()
    with ControlServer(sock_path, registry):
        assert read_cookie(path) != first


@pytest.mark.parametrize(
    "hello",
    [
        None,  # no HELLO at all: PING first
        {"protocol": PROTOCOL_VERSION},
        {"protocol": PROTOCOL_VERSION, "cookie": ""},
        {"protocol": PROTOCOL_VERSION, "cookie": "0" * 64},
        {"protocol": PROTOCOL_VERSION, "cookie": 12},
    ],
)
def test_without_the_cookie_nothing_is_served(
    server: ControlServer, sock_path: Path, hello: dict[str, Any] | None
) -> None:
    """A missing or wrong cookie, or a command before HELLO: error 12, hung up, logged."""
    audited: list[tuple[str, Any]] = []
    server.on_refused = lambda reason, peer: audited.append((reason, peer))
    raw = Raw(sock_path, hello=False)
    lines = [{"id": 1, "command": "ECHO", "args": {"x": 1}}]
    if hello is not None:
        lines.insert(0, {"id": "h", "command": "HELLO", "args": hello})
    raw.send(b"".join(json.dumps(line).encode() + b"\n" for line in lines))  # one write
    answer = raw.recv()
    assert answer is not None and answer["status"] == "error"
    assert answer["error"]["code"] == ErrorCode.UNAUTHENTICATED == 12
    assert str(cookie_path(sock_path)) in answer["error"]["message"]
    assert raw.recv() is None  # hung up: the ECHO never ran
    raw.close()
    assert len(audited) == 1 and audited[0][1].pid == os.getpid()
    assert ("HELLO without" in audited[0][0]) == (hello is not None)
    assert exit_status_for(ErrorCode.UNAUTHENTICATED) == 4


def test_client_without_a_readable_cookie(server: ControlServer, sock_path: Path) -> None:
    """ControlClient names the cookie file it could not read (exit status 4)."""
    cookie_path(sock_path).unlink()
    with pytest.raises(IpcError) as info:
        ControlClient(sock_path).request("PING")
    assert info.value.code == ErrorCode.UNAUTHENTICATED
    assert str(cookie_path(sock_path)) in info.value.message and info.value.exit_status == 4


def test_unknown_command(server: ControlServer, sock_path: Path) -> None:
    """An unknown command is error 3 (exit status 2) and the connection stays usable."""
    with ControlClient(sock_path) as client:
        with pytest.raises(IpcError) as info:
            client.request("FROBNICATE")
        assert info.value.code == ErrorCode.UNKNOWN_COMMAND
        assert info.value.exit_status == 2
        assert "PING" in info.value.message  # lists what is known
        assert client.request("PING")["protocol"] == PROTOCOL_VERSION


def test_malformed_json_keeps_connection(server: ControlServer, sock_path: Path) -> None:
    """Bad JSON, bad UTF-8 or absurd nesting get error 1 (id null); the next line still works."""
    raw = Raw(sock_path)
    nested = b"[" * 60000 + b"\n"
    for bad in (b"{not json\n", b'{"id": 1, "command": "PING", "x": \xff}\n', b"[NaN]\n", nested):
        raw.send(bad)
        answer = raw.recv()
        assert answer is not None
        assert answer == {"id": None, "status": "error", "error": answer["error"]}
        assert answer["error"]["code"] == ErrorCode.BAD_JSON
    raw.send({"id": 5, "command": "PING"})
    answer = raw.recv()
    assert answer is not None and answer["id"] == 5 and answer["status"] == "ok"
    raw.close()


def test_bad_request_shape(server: ControlServer, sock_path: Path) -> None:
    """A wrong request shape is error 2, naming the id when it could be read."""
    raw = Raw(sock_path)
    cases: list[tuple[Any, Any]] = [
        ([1, 2], None),
        ({"command": "PING"}, None),
        ({"id": True, "command": "PING"}, None),
        ({"id": 3, "command": "ping"}, 3),
        ({"id": 4, "command": "PING", "args": [1]}, 4),
        ({"id": "x", "command": "PING", "extra": 1}, "x"),
    ]
    for request, rid in cases:
        raw.send(json.dumps(request).encode() + b"\n")
        answer = raw.recv()
        assert answer is not None and answer["id"] == rid, request
        assert answer["error"]["code"] == ErrorCode.BAD_REQUEST, request
    raw.close()


def test_oversized_request(server: ControlServer, sock_path: Path) -> None:
    """A request line over 64 KiB gets error 5 and the connection is closed."""
    for payload in (b"x" * (70 * 1024), b'{"id":1,"command":"PING","args":{"a":"' + b"y" * 70000):
        raw = Raw(sock_path)
        raw.sock.sendall(payload)
        answer = raw.recv()
        assert answer is not None and answer["error"]["code"] == ErrorCode.REQUEST_TOO_LARGE
        assert raw.recv() is None
        raw.close()


def test_request_just_under_limit(server: ControlServer, sock_path: Path) -> None:
    """A request line close to the limit is served normally."""
    with ControlClient(sock_path) as client:
        blob = "z" * (60 * 1024)
        assert client.request("ECHO", {"blob": blob})["args"]["blob"] == blob


def test_handler_raising(server: ControlServer, sock_path: Path) -> None:
    """A handler raising is error 8 with its message; a CommandError keeps its own code."""
    with ControlClient(sock_path) as client:
        with pytest.raises(IpcError) as info:
            client.request("FAIL")
        assert info.value.code == ErrorCode.COMMAND_FAILED
        assert info.value.message == "the disk is on fire"
        assert info.value.exit_status == 1
        with pytest.raises(IpcError) as info:
            client.request("REFUSE")
        assert (info.value.code, info.value.message) == (4, "velocity must be in 0..127")


def test_result_not_json(server: ControlServer, sock_path: Path, registry: CommandRegistry) -> None:
    """A handler returning something JSON cannot carry is error 8, not a dropped connection."""
    registry.register("BYTES", lambda args, ctx: b"raw")
    with ControlClient(sock_path) as client:
        with pytest.raises(IpcError) as info:
            client.request("BYTES")
        assert info.value.code == ErrorCode.COMMAND_FAILED
        assert "not JSON" in info.value.message
        assert client.request("PING")["protocol"] == PROTOCOL_VERSION


def test_handler_timeout(server: ControlServer, sock_path: Path) -> None:
    """A handler past its timeout is answered with error 9 and its context is cancelled."""
    with ControlClient(sock_path) as client:
        started = time.monotonic()
        with pytest.raises(IpcError) as info:
            client.request("SLOW")
        assert info.value.code == ErrorCode.TIMEOUT
        assert time.monotonic() - started < 2
        assert client.request("PING")["pid"] == os.getpid()


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


def test_concurrent_control_clients(server: ControlServer, sock_path: Path) -> None:
    """20 ControlClients each doing 50 sequential requests get the right answers."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with ControlClient(sock_path, timeout=20) as client:
                for i in range(50):
                    assert client.request("ECHO", {"n": n, "i": i})["args"] == {"n": n, "i": i}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors[0]


def _timed_ping(sock_path: Path) -> float:
    started = time.monotonic()
    with ControlClient(sock_path, timeout=2) as client:
        client.request("PING")
    return time.monotonic() - started


def test_slowloris_and_non_reader_do_not_block_others(
    server: ControlServer, sock_path: Path, registry: CommandRegistry
) -> None:
    """A client that never finishes a line and clients that never read leave PING under 1 s."""
    slowloris = Raw(sock_path)
    slowloris.send(b'{"id": 1, "comm')
    dripping = time.monotonic()
    # Pipelines requests and never reads the answers.
    flooder = Raw(sock_path).sock  # authenticated, so its requests run
    flooder.setblocking(False)
    request = b'{"id": 1, "command": "ECHO", "args": {"pad": "' + b"p" * 2000 + b'"}}\n'
    sent = 0
    for _ in range(2000):
        try:
            sent += flooder.send(request)
        except BlockingIOError:
            break
    assert sent > 0
    # Subscribes to events and never reads them.
    listener = Raw(sock_path)
    listener.send({"id": "e", "command": "EVENTS"})
    _wait_for(lambda: registry.events.subscriber_count == 1)
    started = time.monotonic()
    for i in range(5000):
        registry.events.publish({"n": i, "pad": "q" * 500})
    assert time.monotonic() - started < 1, "publish blocked on a slow subscriber"

    assert _timed_ping(sock_path) < 1
    # The slowloris keeps dripping bytes; it is cut off after line_timeout (1 s) all the same.
    slowloris.sock.sendall(b"m")
    assert _timed_ping(sock_path) < 1
    assert slowloris.recv() is None  # the daemon hung up without answering
    assert time.monotonic() - dripping < 2.5
    assert _timed_ping(sock_path) < 1
    # The non-readers are dropped once a write stalls past write_timeout (0.5 s).
    _wait_for(lambda: server.connection_count == 0, timeout=5)
    assert registry.events.subscriber_count == 0
    assert _timed_ping(sock_path) < 1
    for sock in (flooder, listener.sock):
        sock.close()
    slowloris.close()


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
    _wait_for(lambda: registry.events.subscriber_count == 2)

    for i in range(5):
        assert registry.events.publish({"n": i}) == 2
    for i in range(5):
        assert leaver.recv() == {"id": "ev", "status": "event", "data": {"n": i}}
    leaver.close()
    _wait_for(lambda: registry.events.subscriber_count == 1)
    for i in range(5, 10):
        registry.events.publish({"n": i})
    _wait_for(lambda: len(kept) == 10)
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
    assert _timed_ping(sock_path) < 1  # the first one is untouched


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


def test_stop_removes_socket_and_client_says_not_running(
    sock_path: Path, registry: CommandRegistry
) -> None:
    """stop() removes the socket; a client then gets the 'start it with' message."""
    srv = ControlServer(sock_path, registry).start()
    srv.stop()
    assert not sock_path.exists()
    with pytest.raises(DaemonNotRunning) as info:
        ControlClient(sock_path).request("PING")
    assert str(info.value) == (
        f"midimon is not running (no socket at {sock_path}); start it with: midimon run"
    )
    assert info.value.exit_status == 3
    srv2 = ControlServer(sock_path, registry).start()  # the lock was released
    srv2.stop()


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
        _wait_for(lambda: srv.connection_count == 0)
        assert _timed_ping(sock_path) < 1


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
            assert _timed_ping(path) < 1
    finally:
        shutil.rmtree(base)


def test_error_table_is_complete() -> None:
    """Every error code has one table entry with an exit status; unknown codes exit 1."""
    assert set(ERROR_TABLE) == set(ErrorCode)
    assert [int(c) for c in ErrorCode][:10] == list(range(1, 11))
    for code, info in ERROR_TABLE.items():
        assert info.code is code and info.meaning
        assert exit_status_for(code) == info.exit_status != 0
    assert exit_status_for(999) == 1


def test_default_socket_path(isolated_dirs: dict[str, str]) -> None:
    """The default socket is runtime_dir()/midimon.sock, under XDG_RUNTIME_DIR."""
    assert socket_path() == Path(isolated_dirs["XDG_RUNTIME_DIR"]) / "midimon" / "midimon.sock"
