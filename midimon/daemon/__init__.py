"""The daemon's control plane: a line-JSON protocol over a Unix socket, server and client.

``control_protocol`` holds the version, the error table and the framing, ``control_streams``
streams, ``command_registry`` the commands; ``server`` the socket, ``connection`` each client's
thread; ``client`` what the CLI uses. No MIDI and no engine here: a daemon registers
its command handlers in a :class:`CommandRegistry` and serves it with a :class:`ControlServer`.
"""

from __future__ import annotations

from midimon.daemon.client import ControlClient
from midimon.daemon.command_registry import CommandRegistry, RequestContext
from midimon.daemon.control_protocol import (
    ERROR_TABLE,
    PROTOCOL_VERSION,
    ErrorCode,
    exit_status_for,
)
from midimon.daemon.control_streams import EventHub, Stream
from midimon.daemon.errors import (
    AlreadyRunning,
    CommandError,
    ControlServerError,
    DaemonNotRunning,
    IpcError,
)
from midimon.daemon.server import ControlServer
from midimon.paths import socket_path

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
