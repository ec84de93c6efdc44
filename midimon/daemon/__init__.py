"""The daemon's control plane: a line-JSON protocol over a Unix socket, server and client.

``protocol`` holds the version, the error table, commands and streams; ``server`` the socket
and its threads; ``client`` what the CLI uses. No MIDI and no engine here: a daemon registers
its command handlers in a :class:`CommandRegistry` and serves it with a :class:`ControlServer`.
"""

from __future__ import annotations

from midimon.daemon.client import ControlClient, DaemonNotRunning, IpcError
from midimon.daemon.paths import socket_path
from midimon.daemon.protocol import (
    ERROR_TABLE,
    PROTOCOL_VERSION,
    CommandError,
    CommandRegistry,
    ErrorCode,
    EventHub,
    RequestContext,
    Stream,
    exit_status_for,
)
from midimon.daemon.server import AlreadyRunning, ControlServer, ControlServerError

__all__ = [
    "ERROR_TABLE",
    "PROTOCOL_VERSION",
    "AlreadyRunning",
    "CommandError",
    "CommandRegistry",
    "ControlClient",
    "ControlServer",
    "ControlServerError",
    "DaemonNotRunning",
    "ErrorCode",
    "EventHub",
    "IpcError",
    "RequestContext",
    "Stream",
    "exit_status_for",
    "socket_path",
]
