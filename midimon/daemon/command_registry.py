"""The command registry: commands by name with their timeout, the context a handler gets, and
the built-ins HELLO (version and cookie check happen around it), PING and EVENTS."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from midimon import __version__
from midimon.daemon.control_protocol import COMMAND_NAME, PROTOCOL_VERSION, ErrorCode, RequestId
from midimon.daemon.control_streams import EventHub, Stream
from midimon.daemon.errors import CommandError


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
        if not COMMAND_NAME.fullmatch(name):
            raise ValueError(f"command name {name!r} must match {COMMAND_NAME.pattern}")
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
