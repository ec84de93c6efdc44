"""The client side of the control socket: ``ControlClient(path).request("PING")``."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from midimon.daemon import control_protocol
from midimon.daemon.control_protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
)
from midimon.daemon.cookie import cookie_path, read_cookie
from midimon.daemon.errors import (  # importable here as before
    CookieError,
    DaemonNotRunning,
    IpcError,
)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class _Connection:
    """One socket with line framing; HELLO done on open."""

    def __init__(self, path: Path, timeout: float | None) -> None:
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, NotADirectoryError):
            sock.close()
            raise DaemonNotRunning(path) from None
        except ConnectionRefusedError:
            sock.close()
            raise DaemonNotRunning(path, stale=True) from None
        except PermissionError as exc:
            sock.close()
            raise IpcError(
                ErrorCode.PERMISSION_DENIED, f"cannot connect to {path}: {exc.strerror}"
            ) from None
        except TimeoutError:
            sock.close()
            raise IpcError(ErrorCode.TIMEOUT, f"daemon at {path} did not accept in time") from None
        except OSError as exc:
            sock.close()
            raise IpcError(ErrorCode.CONNECTION_LOST, f"cannot connect to {path}: {exc}") from None
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.ids = itertools.count(1)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, command: str, args: dict[str, Any] | None, timeout: float | None) -> int:
        rid = next(self.ids)
        message = {"id": rid, "command": command, "args": args or {}}
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(control_protocol.encode(message))
        except TimeoutError:
            raise IpcError(ErrorCode.TIMEOUT, f"daemon did not take {command} in time") from None
        except OSError as exc:
            self._raise_parting_error()  # the daemon may have said why it hung up (BUSY, ...)
            raise IpcError(ErrorCode.CONNECTION_LOST, f"sending {command}: {exc}") from None
        return rid

    def _raise_parting_error(self) -> None:
        """Raise the error the daemon sent before closing, if one is waiting to be read."""
        try:
            self.sock.settimeout(0.5)
            message = json.loads(self.reader.readline(64 * 1024))
            err = message["error"]
            code, text = int(err["code"]), str(err["message"])
        except (OSError, ValueError, TypeError, KeyError):
            return
        raise IpcError(code, text)

    def receive(self, rid: int, command: str, timeout: float | None) -> dict[str, Any]:
        """The next message for ``rid``; raises IpcError for error answers and failures."""
        self.sock.settimeout(timeout)
        try:
            line = self.reader.readline(MAX_RESPONSE_BYTES + 1)
        except TimeoutError:
            raise IpcError(
                ErrorCode.TIMEOUT, f"no answer to {command} within {timeout} s"
            ) from None
        except OSError as exc:
            raise IpcError(ErrorCode.CONNECTION_LOST, f"waiting for {command}: {exc}") from None
        if not line:
            raise IpcError(ErrorCode.CONNECTION_LOST, f"daemon hung up during {command}")
        if not line.endswith(b"\n"):
            raise IpcError(ErrorCode.BAD_RESPONSE, f"answer to {command} too long or cut off")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise IpcError(ErrorCode.BAD_RESPONSE, f"answer to {command}: {exc}") from None
        if not isinstance(message, dict) or message.get("status") not in {"ok", "error", "event"}:
            raise IpcError(ErrorCode.BAD_RESPONSE, f"answer to {command} has no valid status")
        if message["status"] == "error":
            err = message.get("error")
            if not isinstance(err, dict) or not isinstance(err.get("code"), int):
                raise IpcError(ErrorCode.BAD_RESPONSE, f"malformed error answer to {command}")
            if message.get("id") not in (rid, None):
                raise IpcError(ErrorCode.BAD_RESPONSE, f"answer to {command} has another id")
            raise IpcError(err["code"], str(err.get("message", "")))
        if message.get("id") != rid:
            raise IpcError(ErrorCode.BAD_RESPONSE, f"answer to {command} has another id")
        return message


class ControlClient:
    """Talks to the daemon at ``socket_path`` (default: ``midimon.paths.socket_path()``).

    Connects on first use and says HELLO with PROTOCOL_VERSION and the daemon's cookie (read
    from the file beside the socket); every failure is an IpcError
    (DaemonNotRunning when there is no daemon). Thread-safe: requests are serialised.
    """

    def __init__(
        self, socket_path: os.PathLike[str] | str | None = None, *, timeout: float = 5.0
    ) -> None:
        if socket_path is None:
            from midimon.paths import socket_path as default_path

            socket_path = default_path()
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.server_info: dict[str, Any] | None = None
        self._conn: _Connection | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next request reconnects)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _open(self, timeout: float | None) -> _Connection:
        conn = _Connection(self.socket_path, timeout)
        try:
            try:
                cookie = read_cookie(cookie_path(self.socket_path))
            except CookieError as exc:
                raise IpcError(ErrorCode.UNAUTHENTICATED, str(exc)) from None
            hello = {"protocol": PROTOCOL_VERSION, "cookie": cookie}
            rid = conn.send("HELLO", hello, timeout)
            info = conn.receive(rid, "HELLO", timeout).get("data")
            if not isinstance(info, dict) or info.get("protocol") != PROTOCOL_VERSION:
                found = info.get("protocol") if isinstance(info, dict) else None
                raise IpcError(
                    ErrorCode.VERSION_MISMATCH,
                    f"daemon speaks protocol {found}, this client {PROTOCOL_VERSION}",
                )
        except BaseException:
            conn.close()
            raise
        self.server_info = info
        return conn

    def request(
        self, command: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Run ``command`` and return its data; raises IpcError."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            if self._conn is None:
                self._conn = self._open(timeout)
            conn = self._conn
            try:
                rid = conn.send(command, args, timeout)
                message = conn.receive(rid, command, timeout)
            except IpcError as exc:
                if exc.code not in _KEEPS_CONNECTION:
                    conn.close()
                    self._conn = None
                raise
            if message["status"] != "ok":
                conn.close()
                self._conn = None
                raise IpcError(ErrorCode.BAD_RESPONSE, f"{command} is a streaming command")
            return message.get("data")

    def stream(
        self, command: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Iterator[Any]:
        """Yield each event of a streaming command on a connection of its own.

        Ends when the daemon ends the stream; raises IpcError for an error end. ``timeout``
        bounds the wait for each event (default: wait forever). Closing the generator hangs up.
        """
        conn = self._open(self.timeout)
        try:
            rid = conn.send(command, args, self.timeout)
            while True:
                message = conn.receive(rid, command, timeout)
                if message["status"] == "ok":
                    return
                yield message.get("data")
        finally:
            conn.close()


# Errors after which the connection can carry more requests. Not TIMEOUT: a late answer
# could still arrive on it.
_KEEPS_CONNECTION = frozenset(
    {
        ErrorCode.BAD_JSON,
        ErrorCode.BAD_REQUEST,
        ErrorCode.UNKNOWN_COMMAND,
        ErrorCode.BAD_ARGS,
        ErrorCode.COMMAND_FAILED,
    }
)
