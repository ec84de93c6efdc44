"""Where midimon keeps things: the XDG folders, the runtime dir and the control socket."""

from __future__ import annotations

from pathlib import Path

from midimon.daemon import (
    socket_path,
)


def test_default_socket_path(isolated_dirs: dict[str, str]) -> None:
    """The default socket is runtime_dir()/midimon.sock, under XDG_RUNTIME_DIR."""
    assert socket_path() == Path(isolated_dirs["XDG_RUNTIME_DIR"]) / "midimon" / "midimon.sock"
