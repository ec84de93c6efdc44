"""The control plane's exceptions: a command's numbered error, the client's errors, the server's
and the cookie's.

Each is a :class:`~midimon.errors.MidimonError`; the modules that raise them re-export them, so
the old import paths (``midimon.daemon.client.IpcError``, ...) keep working. The numbered codes
and their exit statuses are the table in ``control_protocol`` (imported on use: that module
imports this one). Two internal signals stay beside their code, since no user sees them:
``control_streams.StreamEnded`` and ``connection``'s disconnect.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from midimon.errors import MidimonError


class CommandError(MidimonError):
    """Raised by a handler to answer with a numbered error: ``CommandError(code, message)``."""

    def __init__(self, code: int, message: str, request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.request_id = request_id  # the id of the request at fault, when it was read

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` member of a response."""
        return {"code": self.code, "message": self.message}


class IpcError(MidimonError):
    """An error answer from the daemon, or a client-side failure, with its numbered code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message

    @property
    def name(self) -> str:
        """The code's name, like ``UNKNOWN_COMMAND`` (``ERROR_<n>`` for unknown codes)."""
        from midimon.daemon.control_protocol import ErrorCode

        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"ERROR_{self.code}"

    @property
    def exit_status(self) -> int:
        """The CLI exit status for this error (see control_protocol.ERROR_TABLE)."""
        from midimon.daemon.control_protocol import exit_status_for

        return exit_status_for(self.code)

    @property
    def hint(self) -> str:
        """What the code means in general, for the line after the message."""
        from midimon.daemon.control_protocol import ERROR_TABLE, ErrorCode

        try:
            return ERROR_TABLE[ErrorCode(self.code)].meaning
        except ValueError:
            return "an error this midimon command does not know (is the daemon newer?)"


class DaemonNotRunning(IpcError):
    """No daemon listens on the socket."""

    def __init__(self, path: os.PathLike[str] | str, stale: bool = False) -> None:
        from midimon.daemon.control_protocol import ErrorCode

        what = "stale socket" if stale else "no socket"
        super().__init__(
            ErrorCode.NOT_RUNNING,
            f"midimon is not running ({what} at {path}); start it with: midimon run",
        )
        self.path = Path(path)


class CookieError(MidimonError):
    """The cookie file cannot be written or read; names the file and the fix."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class ControlServerError(MidimonError):
    """The control socket cannot be set up at ``path``."""

    def __init__(self, path: os.PathLike[str] | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


class AlreadyRunning(ControlServerError):
    """Another daemon already serves this socket."""

    def __init__(self, path: os.PathLike[str] | str, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(path, f"midimon is already running, {who}")
        self.pid = pid


__all__ = [
    "AlreadyRunning",
    "CommandError",
    "ControlServerError",
    "CookieError",
    "DaemonNotRunning",
    "IpcError",
]
