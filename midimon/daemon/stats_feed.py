"""The STATS command and the ``stats`` event: daemon and per-plugin figures in one object.

While some EVENTS subscriber names the type ``"stats"`` a thread publishes the object once a
second; with no such subscriber it only checks :meth:`EventHub.wants` once a second and
computes nothing. Nothing here runs on the MIDI thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between two stats events
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pid: int | str = "self") -> int | None:
    """Resident memory of a process from /proc, without shared memory (None where there is no
    /proc or it exited): JACK maps its ~200 MiB of engine and port buffers (tmpfs) into every
    client, which is JACK's memory, not the process's."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        return sum(int(fields[k].split()[0]) for k in ("RssAnon", "RssFile")) * 1024
    except (OSError, ValueError, IndexError, KeyError):
        return None


def _plugin_row(data: dict[str, Any]) -> dict[str, Any]:
    latency = data.get("latency_ms") or {}
    return {
        "executions": data["executions"],
        "ok": data["successes"],
        "failed": data["failures"],
        "timeouts": data["timeouts"],
        "crashes": data["crashes"],
        "denials": data["denials"],
        "rate_limited": data["rate_limited"],
        "p50_us": round(float(latency.get("p50", 0.0)) * 1000, 1),
        "p99_us": round(float(latency.get("p99", 0.0)) * 1000, 1),
        "last_run": data["last_execution"],
        "loaded": data["loaded"],
        "worker_pid": data.get("worker_pid"),
        "worker_rss_bytes": data.get("rss_bytes"),
    }


class StatsFeed:
    """Builds the STATS object of one daemon and publishes it while someone listens."""

    def __init__(self, daemon: Daemon, interval: float = INTERVAL) -> None:
        self._daemon = daemon
        self._interval = interval
        self._lock = threading.Lock()
        self._sample: tuple[float, int] | None = None  # (monotonic, events) at the last snapshot
        self._rate = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _events_per_s(self, events: int, uptime: float) -> float:
        """Events per second since the previous snapshot (at most ~1 s ago while the stream
        runs); the average since start for the first one."""
        now = time.monotonic()
        with self._lock:
            previous = self._sample
            if previous is None:
                self._rate = events / uptime if uptime > 0 else 0.0
                self._sample = (now, events)
            elif now - previous[0] >= 0.5 * self._interval:
                self._rate = (events - previous[1]) / (now - previous[0])
                self._sample = (now, events)
            return round(self._rate, 2)

    def snapshot(self) -> dict[str, Any]:
        """``{daemon: {...}, plugins: {NAME: {...}}}`` as STATS returns it."""
        daemon = self._daemon
        counters = daemon.counters
        uptime = time.time() - counters.started
        events = counters.midi_in
        manager = daemon.manager
        names = {p.name for p in manager.list_available()} | set(manager.list_loaded())
        return {
            "daemon": {
                "uptime_s": round(uptime, 3),
                "events": events,
                "events_per_s": self._events_per_s(events, uptime),
                "dropped": counters.dropped,
                "rss_bytes": rss_bytes(),
            },
            "plugins": {name: _plugin_row(manager.stats(name)) for name in sorted(names)},
        }

    def start(self) -> None:
        """Start the publishing thread."""
        self._thread = threading.Thread(target=self._run, name="midimon-stats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the publishing thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def _run(self) -> None:
        events = self._daemon.registry.events
        while not self._stop.wait(self._interval):
            if not events.wants("stats"):
                continue  # nobody listens: compute nothing
            try:
                events.publish({"type": "stats", **self.snapshot()})
            except Exception:  # a stats hiccup must never end the feed
                log.exception("stats event not built")
