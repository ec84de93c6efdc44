"""The control protocol: version, error table, message framing, commands and streams.

One JSON object per line, UTF-8, ``\\n``-terminated, in both directions.

Request::

    {"id": <int|str>, "command": "NAME", "args": {...}}          (args optional)

Responses, each carrying the request's id (``null`` when the request had none readable)::

    {"id": ..., "status": "ok", "data": ...}
    {"id": ..., "status": "error", "error": {"code": <int>, "message": "..."}}
    {"id": ..., "status": "event", "data": ...}                 (streams only)

Every request gets exactly one final response (``ok`` or ``error``). A command whose handler
returns a :class:`Stream` first sends zero or more ``event`` lines, then the final response when
the stream ends (``ok`` with ``data`` null, or an error such as SHUTTING_DOWN).

The client sends ``HELLO {"protocol": N, "cookie": "<hex>"}`` first; the daemon answers with its
own version or, when they differ, error VERSION_MISMATCH and closes the connection. The cookie is
the content of the file beside the socket (``midimon.sock`` -> ``midimon.cookie``, 0600, new at
each daemon start; ``cookie.py``): a wrong or missing cookie, or any command before a successful
HELLO, is answered with UNAUTHENTICATED and the connection is closed. With ``socat``::

    (printf '{"id":1,"command":"HELLO","args":{"protocol":2,"cookie":"%s"}}\n' \
        "$(cat "$XDG_RUNTIME_DIR/midimon/midimon.cookie")"; echo '{"id":2,"command":"PING"}') \
        | socat - UNIX-CONNECT:"$XDG_RUNTIME_DIR/midimon/midimon.sock"

Protocol 2 added the cookie (protocol 1 had none and let any process of the user in).

Errors after which the daemon closes the connection are listed in :data:`CLOSES_CONNECTION`
(REQUEST_TOO_LARGE, PERMISSION_DENIED, VERSION_MISMATCH, BUSY, UNAUTHENTICATED); after any other
error the connection stays usable. In particular a malformed JSON line is answered with BAD_JSON
(id null) and the next line is read normally, since line framing is intact.

This module holds no socket code: the transport is ``server.py`` and ``client.py``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from midimon import __version__

PROTOCOL_VERSION = 2  # 2: HELLO carries the cookie, nothing is served before it
MAX_REQUEST_BYTES = 64 * 1024  # one request line, without its newline

# CLI exit statuses. 0-2 are the ones midimon.cli.common already uses.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and failed
EXIT_USAGE = 2  # bad arguments, or a command this daemon does not know
EXIT_UNAVAILABLE = 3  # daemon not running, busy, timed out, shutting down, connection lost
EXIT_DENIED = 4  # not allowed to talk to this daemon
EXIT_PROTOCOL = 5  # CLI and daemon do not understand each other (version skew or a bug)


class ErrorCode(IntEnum):
    """Numbered errors. Never renumber; add at the end. Details in :data:`ERROR_TABLE`."""

    BAD_JSON = 1
    BAD_REQUEST = 2
    UNKNOWN_COMMAND = 3
    BAD_ARGS = 4
    REQUEST_TOO_LARGE = 5
    PERMISSION_DENIED = 6
    VERSION_MISMATCH = 7
    COMMAND_FAILED = 8
    TIMEOUT = 9
    SHUTTING_DOWN = 10
    BUSY = 11
    UNAUTHENTICATED = 12
    # Raised by the client only; the daemon never sends these.
    NOT_RUNNING = 20
    CONNECTION_LOST = 21
    BAD_RESPONSE = 22


@dataclass(frozen=True)
class ErrorInfo:
    """What an error code means, and how the CLI reports it."""

    code: ErrorCode
    exit_status: int
    meaning: str  # a sentence the CLI can print after the daemon's message
    closes_connection: bool = False  # the daemon hangs up after sending it
    client_side: bool = False  # raised by the client, never on the wire


ERROR_TABLE: dict[ErrorCode, ErrorInfo] = {
    info.code: info
    for info in (
        ErrorInfo(ErrorCode.BAD_JSON, EXIT_PROTOCOL, "the request line was not UTF-8 JSON"),
        ErrorInfo(ErrorCode.BAD_REQUEST, EXIT_PROTOCOL, "the request was not a valid request"),
        ErrorInfo(ErrorCode.UNKNOWN_COMMAND, EXIT_USAGE, "the daemon has no such command"),
        ErrorInfo(ErrorCode.BAD_ARGS, EXIT_USAGE, "the command's arguments were refused"),
        ErrorInfo(
            ErrorCode.REQUEST_TOO_LARGE,
            EXIT_PROTOCOL,
            f"a request line may hold at most {MAX_REQUEST_BYTES} bytes",
            closes_connection=True,
        ),
        ErrorInfo(
            ErrorCode.PERMISSION_DENIED,
            EXIT_DENIED,
            "only the user running the daemon (or root) may control it",
            closes_connection=True,
        ),
        ErrorInfo(
            ErrorCode.VERSION_MISMATCH,
            EXIT_PROTOCOL,
            "the midimon command and the running daemon differ; restart the daemon",
            closes_connection=True,
        ),
        ErrorInfo(ErrorCode.COMMAND_FAILED, EXIT_FAILED, "the command failed"),
        ErrorInfo(ErrorCode.TIMEOUT, EXIT_UNAVAILABLE, "the command did not finish in time"),
        ErrorInfo(ErrorCode.SHUTTING_DOWN, EXIT_UNAVAILABLE, "the daemon is shutting down"),
        ErrorInfo(
            ErrorCode.BUSY,
            EXIT_UNAVAILABLE,
            "the daemon is at its connection limit, or the client fell too far behind",
            closes_connection=True,
        ),
        ErrorInfo(
            ErrorCode.UNAUTHENTICATED,
            EXIT_DENIED,
            "the client did not present the daemon's cookie (midimon.cookie beside the socket, "
            "readable only by the user running the daemon)",
            closes_connection=True,
        ),
        ErrorInfo(
            ErrorCode.NOT_RUNNING, EXIT_UNAVAILABLE, "start it with: midimon run", client_side=True
        ),
        ErrorInfo(
            ErrorCode.CONNECTION_LOST,
            EXIT_UNAVAILABLE,
            "the daemon closed the connection",
            client_side=True,
        ),
        ErrorInfo(
            ErrorCode.BAD_RESPONSE,
            EXIT_PROTOCOL,
            "the daemon's answer could not be understood",
            client_side=True,
        ),
    )
}

CLOSES_CONNECTION = frozenset(c for c, info in ERROR_TABLE.items() if info.closes_connection)


def exit_status_for(code: int) -> int:
    """The CLI exit status for an error code (unknown codes from a newer daemon: EXIT_FAILED)."""
    try:
        return ERROR_TABLE[ErrorCode(code)].exit_status
    except ValueError:
        return EXIT_FAILED


class CommandError(Exception):
    """Raised by a handler to answer with a numbered error: ``CommandError(code, message)``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` member of a response."""
        return {"code": self.code, "message": self.message}


# --- framing ---------------------------------------------------------------------------------

RequestId = int | str
_COMMAND_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_REQUEST_KEYS = frozenset({"id", "command", "args"})


@dataclass(frozen=True)
class Request:
    """One parsed request line."""

    id: RequestId
    command: str
    args: dict[str, Any]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_request(line: bytes) -> Request:
    """Parse one request line (without its newline).

    Raises CommandError BAD_JSON or BAD_REQUEST; a BAD_REQUEST raised after the id was read
    carries it as ``request_id`` so the answer can name it.
    """
    try:
        obj = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandError(ErrorCode.BAD_JSON, f"request is not UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise CommandError(ErrorCode.BAD_JSON, "request is nested too deeply") from None
    if not isinstance(obj, dict):
        raise CommandError(ErrorCode.BAD_REQUEST, "a request must be a JSON object")
    rid = obj.get("id")
    if isinstance(rid, bool) or not isinstance(rid, int | str):
        raise CommandError(ErrorCode.BAD_REQUEST, '"id" must be an integer or a string')
    try:
        extra = sorted(set(obj) - _REQUEST_KEYS)
        if extra:
            raise ValueError(f"unknown request member(s): {', '.join(extra)}")
        command = obj.get("command")
        if not isinstance(command, str) or not _COMMAND_NAME.fullmatch(command):
            raise ValueError('"command" must be an upper-case name such as "PING"')
        args = obj.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ValueError('"args" must be a JSON object')
    except ValueError as exc:
        error = CommandError(ErrorCode.BAD_REQUEST, str(exc))
        error.request_id = rid  # type: ignore[attr-defined]
        raise error from None
    return Request(rid, command, args)


def encode(message: dict[str, Any]) -> bytes:
    """One wire line: compact JSON, UTF-8, newline-terminated. Raises TypeError/ValueError."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def ok(rid: RequestId | None, data: Any) -> dict[str, Any]:
    """A success response."""
    return {"id": rid, "status": "ok", "data": data}


def event(rid: RequestId | None, data: Any) -> dict[str, Any]:
    """One streamed item."""
    return {"id": rid, "status": "event", "data": data}


def error(rid: RequestId | None, code: int, message: str) -> dict[str, Any]:
    """An error response."""
    return {"id": rid, "status": "error", "error": {"code": int(code), "message": message}}


# --- streams ---------------------------------------------------------------------------------

_EMPTY = object()


class StreamEnded(Exception):
    """Internal: the stream has no more items (``error`` None) or ended with an error."""

    def __init__(self, error: CommandError | None = None) -> None:
        super().__init__(error.message if error else "stream ended")
        self.error = error


class Stream:
    """Items a handler sends back one ``event`` line each, until the stream or the client ends.

    Two forms. ``Stream(iterable)`` pulls items from an iterator in the connection's thread
    (a blocking iterator delays only that client, but is noticed to be abandoned only when it
    next yields). ``Stream()`` is queue-backed: any thread calls :meth:`put`, which never blocks;
    when a slow client lets ``maxsize`` items pile up the stream ends with error BUSY.
    ``on_close`` runs once, in the connection's thread, however the stream ends.
    """

    def __init__(
        self,
        items: Iterable[Any] | None = None,
        *,
        maxsize: int = 1024,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._iterator: Iterator[Any] | None = iter(items) if items is not None else None
        self._queue: deque[Any] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self._error: CommandError | None = None
        self._on_close = on_close
        self._released = False

    @property
    def closed(self) -> bool:
        """True once the stream was closed (items already queued are still delivered)."""
        return self._closed

    def put(self, item: Any) -> bool:
        """Queue one item without blocking; False when closed or now overflowed (and closed)."""
        if self._iterator is not None:
            raise TypeError("put() is for queue-backed streams, not Stream(iterable)")
        with self._cond:
            if self._closed:
                return False
            if len(self._queue) >= self._maxsize:
                self._close_locked(
                    CommandError(
                        ErrorCode.BUSY,
                        f"event stream dropped: client fell {self._maxsize} events behind",
                    )
                )
                return False
            self._queue.append(item)
            self._cond.notify()
            return True

    def close(self, error: CommandError | None = None) -> None:
        """End the stream (any thread): the client gets the queued items, then the end."""
        with self._cond:
            self._close_locked(error)

    def _close_locked(self, error: CommandError | None) -> None:
        if not self._closed:
            self._closed = True
            self._error = error
            self._cond.notify_all()

    def next_item(self, timeout: float) -> Any:
        """Server side: the next item, ``_EMPTY`` after ``timeout`` s, or raise StreamEnded."""
        if self._iterator is not None:
            if self._closed:
                raise StreamEnded(self._error)
            try:
                return next(self._iterator)
            except StopIteration:
                raise StreamEnded() from None
            except CommandError as exc:
                raise StreamEnded(exc) from None
            except Exception as exc:
                raise StreamEnded(CommandError(ErrorCode.COMMAND_FAILED, _describe(exc))) from None
        with self._cond:
            if not self._queue and not self._closed:
                self._cond.wait(timeout)
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StreamEnded(self._error)
            return _EMPTY

    def release(self) -> None:
        """Server side, connection thread: close the source and run ``on_close`` (once)."""
        self.close()
        if self._released:
            return
        self._released = True
        close_iter = getattr(self._iterator, "close", None)
        try:
            if close_iter is not None:
                close_iter()
        finally:
            if self._on_close is not None:
                self._on_close()


class EventHub:
    """Fan-out of daemon events to every ``EVENTS`` subscriber; :meth:`publish` never blocks.

    A subscriber may ask for some event types only (``{"type": ...}`` of each event): it is
    then never woken for the others, and :meth:`wants` lets the daemon skip building events
    nobody asked for (the MIDI hot path publishes two per message).
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Stream, frozenset[str] | None]] = []
        self._wanted: frozenset[str] | None = frozenset()  # None: some subscriber wants all

    def subscribe(self, types: Iterable[str] | None = None) -> Stream:
        """A new queue-backed stream receiving every event published from now on (of
        ``types`` only, when given)."""
        stream: Stream
        wanted = None if types is None else frozenset(types)

        def remove() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s[0] is not stream]
                self._update_wanted()

        stream = Stream(maxsize=self._maxsize, on_close=remove)
        with self._lock:
            self._subscribers = [*self._subscribers, (stream, wanted)]
            self._update_wanted()
        return stream

    def _update_wanted(self) -> None:
        union: set[str] = set()
        for _, types in self._subscribers:
            if types is None:
                self._wanted = None
                return
            union |= types
        self._wanted = frozenset(union)

    def wants(self, event_type: str) -> bool:
        """Whether any subscriber would receive an event of this type (lock-free, may be
        stale by one subscription: a new subscriber misses at most the event being built)."""
        wanted = self._wanted
        return wanted is None or event_type in wanted

    def publish(self, item: Any) -> int:
        """Give ``item`` to every subscriber that wants its type; returns how many took it."""
        subscribers = self._subscribers  # replaced, never mutated: safe to read without a lock
        if not subscribers:
            return 0
        kind = item.get("type") if isinstance(item, dict) else None
        return sum(
            stream.put(item) for stream, types in subscribers if types is None or kind in types
        )

    def close_all(self, error: CommandError | None = None) -> None:
        """End every subscription."""
        with self._lock:
            subscribers = list(self._subscribers)
        for stream, _ in subscribers:
            stream.close(error)

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        with self._lock:
            return len(self._subscribers)


# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerCredentials:
    """Who is on the other end of a connection (from SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


@dataclass(frozen=True)
class RequestContext:
    """What a handler knows about the request besides its args."""

    request_id: RequestId
    command: str
    connection_id: int
    peer: PeerCredentials | None
    server_started: float  # time.monotonic() when the server started
    # Set when the daemon stopped waiting for the handler (its timeout passed): give up early.
    cancelled: threading.Event = field(default_factory=threading.Event)


Handler = Callable[[dict[str, Any], RequestContext], Any]
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Command:
    """A registered command. ``timeout`` None: run inline in the connection's thread."""

    name: str
    handler: Handler
    timeout: float | None
    description: str


class CommandRegistry:
    """Commands by name. Built-ins: HELLO, PING and EVENTS (subscribes to :attr:`events`)."""

    def __init__(self, *, daemon_version: str = __version__, builtins: bool = True) -> None:
        self.daemon_version = daemon_version
        self.events = EventHub()
        self._commands: dict[str, Command] = {}
        self._lock = threading.Lock()
        if builtins:
            self.register("HELLO", self._hello, timeout=None, description="agree on a version")
            self.register("PING", self._ping, timeout=None, description="is the daemon alive")
            self.register("EVENTS", self._events, timeout=None, description="stream daemon events")

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        description: str = "",
    ) -> Command:
        """Add a command; ``handler(args, ctx)`` returns JSON data or a Stream."""
        if not _COMMAND_NAME.fullmatch(name):
            raise ValueError(f"command name {name!r} must match {_COMMAND_NAME.pattern}")
        command = Command(name, handler, timeout, description)
        with self._lock:
            if name in self._commands:
                raise ValueError(f"command {name!r} is already registered")
            self._commands[name] = command
        return command

    def get(self, name: str) -> Command | None:
        """The command called ``name``, or None."""
        with self._lock:
            return self._commands.get(name)

    def names(self) -> list[str]:
        """Registered command names, sorted."""
        with self._lock:
            return sorted(self._commands)

    def _identity(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "version": self.daemon_version, "pid": os.getpid()}

    def _hello(self, args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        version = args.get("protocol")
        if isinstance(version, bool) or not isinstance(version, int):
            raise CommandError(ErrorCode.BAD_ARGS, 'HELLO needs {"protocol": <integer>}')
        if version != PROTOCOL_VERSION:
            raise CommandError(
                ErrorCode.VERSION_MISMATCH,
                f"client speaks protocol {version}, daemon (midimon {self.daemon_version}, "
                f"pid {os.getpid()}) speaks protocol {PROTOCOL_VERSION}",
            )
        return self._identity()

    def _ping(self, args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {**self._identity(), "uptime": round(time.monotonic() - ctx.server_started, 3)}

    def _events(self, args: dict[str, Any], ctx: RequestContext) -> Stream:
        types = args.get("types")
        if types is not None and (
            not isinstance(types, list) or not all(isinstance(t, str) for t in types)
        ):
            raise CommandError(ErrorCode.BAD_ARGS, "types must be a list of event type names")
        return self.events.subscribe(types)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__
