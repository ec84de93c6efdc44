"""Where the control socket lives: ``runtime_dir()/midimon.sock``."""

from __future__ import annotations

from pathlib import Path

from midimon.paths import runtime_dir

SOCKET_NAME = "midimon.sock"


def socket_path() -> Path:
    """The daemon's control socket (its folder is created 0700 by the server)."""
    return runtime_dir() / SOCKET_NAME
