"""The audit log: append-only JSON lines recording every security-relevant plugin event.

Events: load, verify, grant, grant_refused, revoke, deny, crash, timeout, rate_limit, disable,
enable, unload, execute_failed, install, uninstall, repin, control_refused (a control-socket
client without the cookie; plugin "midimon"), host_service_limited (log lines or send_midi
messages dropped by the per-plugin cap), dropped (calls dropped because the plugin's call queue
was full; at most one line a second), not_run (calls queued behind one its worker crashed or
timed out in; one line for all of them), trigger_refused (a trigger plugin the config uses
could not start: not a trigger, disabled, unverified or not granted), trigger_rate_limited
(events a trigger plugin emitted past its cap; at most one line a second). Each line:
{"time": <unix seconds>, "event": ..., "plugin": ..., ...details}; an event recorded for a
control command also has "source" ("cli", or "ui" for the control panel).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

EVENTS = (
    "load",
    "load_failed",
    "verify",
    "grant",
    "grant_refused",  # a Filesystem path refused: at grant time, or again at worker start
    "revoke",
    "deny",
    "grant_denied",  # the user said no to a grant request (plugins deny, the panel)
    "grant_undenied",  # ... and took that back (plugins undeny)
    "crash",
    "timeout",
    "rate_limit",
    "disable",
    "enable",
    "unload",
    "execute_failed",
    "install",
    "uninstall",
    "repin",
    "control_refused",
    "host_service_limited",
    "dropped",
    "not_run",
    "trigger_refused",
    "trigger_rate_limited",
)


_context = threading.local()


@contextlib.contextmanager
def audit_source(source: str) -> Iterator[None]:
    """Within the block, every event this thread records says who asked for it
    (``"source": "cli"`` or ``"ui"``: the daemon's control commands set it)."""
    before = getattr(_context, "source", None)
    _context.source = source
    try:
        yield
    finally:
        _context.source = before


class AuditLog:
    """Appends events to one JSON-lines file; each event is one write() of one line."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()

    def record(self, event: str, plugin: str, **details: Any) -> dict[str, Any]:
        """Append one event and return it."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        entry = {"time": round(self._clock(), 6), "event": event, "plugin": plugin}
        source = getattr(_context, "source", None)
        if source is not None:
            entry["source"] = source
        entry.update(details)
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return entry

    def read(
        self, plugin: str | None = None, since: float | None = None, event: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Events in order, filtered; a torn or corrupt line is skipped, never fatal."""
        try:
            handle = self.path.open("r", encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(entry, dict):
                    continue
                if plugin is not None and entry.get("plugin") != plugin:
                    continue
                if event is not None and entry.get("event") != event:
                    continue
                if since is not None and float(entry.get("time", 0)) < since:
                    continue
                yield entry
