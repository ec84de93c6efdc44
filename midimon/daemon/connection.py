"""One control client's connection: read request lines, run them in order, write the answers
and stream events, in the connection's own thread, never blocking past the server's timeouts."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from midimon.daemon import control_protocol
from midimon.daemon.command_registry import PeerCredentials
from midimon.daemon.control_protocol import CLOSES_CONNECTION, ErrorCode
from midimon.daemon.control_streams import EMPTY, Stream, StreamEnded
from midimon.daemon.errors import CommandError

if TYPE_CHECKING:
    from midimon.daemon.server import ControlServer

log = logging.getLogger("midimon.daemon")

_STREAM_POLL = 0.2  # how often a streaming connection checks for hang-up and shutdown


class _Disconnect(Exception):
    """The client went away, or must be dropped. Internal control flow of this module, never
    seen by a user, so not a MidimonError (see midimon.daemon.errors)."""


class Connection:
    """One client: read lines, run them in order, write answers; its own thread."""

    def __init__(
        self,
        server: ControlServer,
        sock: socket.socket,
        conn_id: int,
        peer: PeerCredentials | None,
    ) -> None:
        self.server = server
        self.sock = sock
        self.id = conn_id
        self.peer = peer
        self.authenticated = False  # set by a HELLO with the daemon's cookie
        self.buffer = bytearray()
        self._scanned = 0  # bytes of buffer known to hold no newline (a long line is scanned once)
        self.stream: Stream | None = None
        self._state_lock = threading.Lock()
        self.thread = threading.Thread(
            target=self.run, name=f"midimon-client-{conn_id}", daemon=True
        )

    # called from stop(), another thread
    def interrupt(self, reason: CommandError) -> None:
        """Server stopping: end this client's stream (it hears why), or wake its read."""
        with self._state_lock:
            stream = self.stream
        if stream is not None:
            stream.close(reason)
        else:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)

    def hang_up(self) -> None:
        """Force the connection down (unblocks any read or write)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        try:
            self._serve()
        except _Disconnect:
            pass  # the client hung up: the thread just ends
        except Exception:  # never let one client's bug escape its thread silently
            log.exception("control connection %d failed", self.id)
        finally:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.server.forget(self)

    @property
    def request_limit(self) -> int:
        """The longest request line this client may send now (more once authenticated)."""
        if self.authenticated:
            return self.server.max_authenticated_request_bytes
        return self.server.max_request_bytes

    def _serve(self) -> None:
        line_started: float | None = None
        while True:
            limit = self.request_limit
            newline = self.buffer.find(b"\n", self._scanned)
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                self._scanned = 0
                line_started = time.monotonic() if self.buffer else None
                if len(line) > limit:
                    self._too_large()
                self._handle_line(line.rstrip(b"\r"))
                continue
            self._scanned = len(self.buffer)
            if len(self.buffer) > limit:
                self._too_large()
            if self.buffer:
                assert line_started is not None
                timeout = line_started + self.server.line_timeout - time.monotonic()
                if timeout <= 0:
                    raise _Disconnect("request line not finished in time")
            else:
                timeout = self.server.idle_timeout
            self.sock.settimeout(timeout)
            try:
                chunk = self.sock.recv(1 << 20 if self.authenticated else 65536)
            except (TimeoutError, OSError):
                raise _Disconnect from None
            if not chunk:
                raise _Disconnect
            if not self.buffer:
                line_started = time.monotonic()
            self.buffer += chunk

    def _too_large(self) -> None:
        self._send(
            control_protocol.error(
                None,
                ErrorCode.REQUEST_TOO_LARGE,
                f"request line longer than {self.request_limit} bytes",
            )
        )
        raise _Disconnect

    def _handle_line(self, line: bytes) -> None:
        if not line.strip():
            return  # blank lines are ignored (handy with socat)
        rid = None
        try:
            request = control_protocol.parse_request(line)
            rid = request.id
            if not self.authenticated:
                self.server.authenticate(request, self)
            result = self.server.run_command(request, self)
        except CommandError as exc:
            if exc.request_id is not None:
                rid = exc.request_id
            self._send(control_protocol.error(rid, exc.code, exc.message))
            if exc.code in CLOSES_CONNECTION:
                raise _Disconnect from None
            return
        if isinstance(result, Stream):
            self._run_stream(rid, result)
        else:
            self._send_result(rid, result)

    def _send_result(self, rid: Any, data: Any) -> None:
        try:
            line = control_protocol.encode(control_protocol.ok(rid, data))
        except (TypeError, ValueError) as exc:
            line = control_protocol.encode(
                control_protocol.error(rid, ErrorCode.COMMAND_FAILED, f"result is not JSON: {exc}")
            )
        self._write(line)

    def _send(self, message: dict[str, Any]) -> None:
        self._write(control_protocol.encode(message))

    def _write(self, data: bytes) -> None:
        self.sock.settimeout(self.server.write_timeout)
        try:
            self.sock.sendall(data)
        except (TimeoutError, OSError):
            raise _Disconnect from None

    def _run_stream(self, rid: Any, stream: Stream) -> None:
        with self._state_lock:
            self.stream = stream
        try:
            if self.server.stopping.is_set():
                stream.close(CommandError(ErrorCode.SHUTTING_DOWN, "midimon is shutting down"))
            while True:
                try:
                    item = stream.next_item(_STREAM_POLL)
                except StreamEnded as end:
                    if end.error is None:
                        self._send(control_protocol.ok(rid, None))
                    else:
                        self._send(control_protocol.error(rid, end.error.code, end.error.message))
                        if end.error.code in CLOSES_CONNECTION:
                            raise _Disconnect from None
                    return
                if item is not EMPTY:
                    try:
                        line = control_protocol.encode(control_protocol.event(rid, item))
                    except (TypeError, ValueError) as exc:
                        log.warning("dropping an event that is not JSON: %s", exc)
                    else:
                        self._write(line)
                self._check_hang_up()
        finally:
            with self._state_lock:
                self.stream = None
            stream.release()

    def _check_hang_up(self) -> None:
        """While streaming: notice a client that left; keep what it sent for afterwards."""
        poller = select.poll()  # not select(): daemon fds may be past FD_SETSIZE
        poller.register(self.sock, select.POLLIN)
        if not poller.poll(0):
            return
        self.sock.settimeout(0)
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            raise _Disconnect from None
        if not chunk:
            raise _Disconnect
        self.buffer += chunk
        if len(self.buffer) > self.request_limit:  # queued requests are bounded too
            self._too_large()
