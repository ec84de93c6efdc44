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

A request line may hold MAX_REQUEST_BYTES (64 KiB) before the HELLO and
MAX_AUTHENTICATED_REQUEST_BYTES (96 MiB) after it: PLUGIN_INSTALL carries a package in its line.

Errors after which the daemon closes the connection are listed in :data:`CLOSES_CONNECTION`
(REQUEST_TOO_LARGE, PERMISSION_DENIED, VERSION_MISMATCH, BUSY, UNAUTHENTICATED); after any other
error the connection stays usable. In particular a malformed JSON line is answered with BAD_JSON
(id null) and the next line is read normally, since line framing is intact.

This module holds no socket code: the transport is ``server.py``, ``connection.py`` and
``client.py``; streams are in ``control_streams.py``, the command registry (with the built-in
HELLO, PING and EVENTS) in ``command_registry.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from midimon.daemon.errors import CommandError  # defined there; importable here as before

PROTOCOL_VERSION = 2  # 2: HELLO carries the cookie, nothing is served before it
MAX_REQUEST_BYTES = 64 * 1024  # one request line, without its newline
# ... once the client presented the cookie: PLUGIN_INSTALL carries a package (up to 64 MiB,
# base64-encoded) in its line. A stranger's lines stay small.
MAX_AUTHENTICATED_REQUEST_BYTES = 96 * 1024 * 1024

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
            f"a request line may hold at most {MAX_REQUEST_BYTES} bytes before HELLO, "
            f"{MAX_AUTHENTICATED_REQUEST_BYTES} after it",
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


# --- framing ---------------------------------------------------------------------------------

RequestId = int | str
COMMAND_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
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
        if not isinstance(command, str) or not COMMAND_NAME.fullmatch(command):
            raise ValueError('"command" must be an upper-case name such as "PING"')
        args = obj.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ValueError('"args" must be a JSON object')
    except ValueError as exc:
        raise CommandError(ErrorCode.BAD_REQUEST, str(exc), request_id=rid) from None
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


def describe_error(exc: BaseException) -> str:
    """An exception's message, or its class name when it has none (for COMMAND_FAILED)."""
    text = str(exc)
    return text if text else type(exc).__name__
