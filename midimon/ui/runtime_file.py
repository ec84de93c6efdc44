"""The running panel's record: URL, port, pid and token in ``runtime_dir()/panel.json`` (0600),
so ``midimon ui --url`` can find it; a record whose process or port is gone is stale."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from midimon.paths import runtime_dir

RECORD_NAME = "panel.json"


@dataclass(frozen=True)
class PanelRecord:
    """What a running panel writes about itself. ``url`` carries the login token."""

    url: str
    port: int
    pid: int
    token: str

    def as_public_dict(self) -> dict[str, object]:
        """The record for ``--json`` output (the URL holds the token: the user asked for it)."""
        return {"url": self.url, "port": self.port, "pid": self.pid}


def record_path() -> Path:
    """Where the record lives: beside the daemon's socket and cookie, where no plugin worker may
    read (the sandbox keeps midimon's runtime folder out of every grant)."""
    return runtime_dir() / RECORD_NAME


def write_record(record: PanelRecord, path: Path | None = None) -> Path:
    """Write ``record`` atomically with mode 0600 (created so, never widened); returns the
    path. The folder is created 0700 when the daemon has not made it."""
    path = path or record_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(record), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def remove_record(pid: int, path: Path | None = None) -> None:
    """Remove the record if it is still the one process ``pid`` wrote."""
    path = path or record_path()
    found = _load(path)
    if found is not None and found.pid == pid:
        with contextlib.suppress(OSError):
            path.unlink()


def _load(path: Path) -> PanelRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PanelRecord(
            url=str(data["url"]), port=int(data["port"]), pid=int(data["pid"]),
            token=str(data["token"]),
        )  # fmt: skip
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1.0):
        return True
    return False


def read_running_panel(path: Path | None = None) -> PanelRecord | None:
    """The record of a panel that is running now, or None (no record, or a stale one: its
    process is gone or its port no longer accepts; a stale record is removed)."""
    path = path or record_path()
    found = _load(path)
    if found is None:
        return None
    if _pid_alive(found.pid) and _port_open(found.port):
        return found
    with contextlib.suppress(OSError):
        path.unlink()
    return None
