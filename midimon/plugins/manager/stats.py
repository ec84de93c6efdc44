"""Per-plugin execution statistics: counts, last run, latency mean and percentiles."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

LATENCY_WINDOW = 10_000  # most recent calls kept for percentiles


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already-sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass
class PluginStats:
    """Counters for one plugin since the manager started."""

    executions: int = 0
    successes: int = 0
    failures: int = 0
    timeouts: int = 0
    crashes: int = 0
    denials: int = 0
    rate_limited: int = 0
    dropped: int = 0  # the call queue to its worker was full
    not_run: int = 0  # queued behind a call its worker crashed or timed out in
    last_execution: float | None = None  # wall clock, seconds
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_latency(self, seconds: float) -> None:
        """Record one completed call's latency."""
        with self._lock:
            self._latencies.append(seconds)

    def as_dict(self, dropped: dict[str, int] | None = None) -> dict[str, Any]:
        """Counters plus mean/p50/p99 latency in milliseconds; ``dropped``: the host-service
        counts of host_limits.LimitedHost (log lines, send_midi messages over the cap)."""
        with self._lock:
            values = sorted(self._latencies)
        mean = sum(values) / len(values) if values else 0.0
        return {
            "executions": self.executions,
            "successes": self.successes,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "crashes": self.crashes,
            "denials": self.denials,
            "rate_limited": self.rate_limited,
            "dropped": self.dropped,
            "not_run": self.not_run,
            "log_dropped": (dropped or {}).get("log", 0),
            "send_midi_dropped": (dropped or {}).get("send_midi", 0),
            "last_execution": self.last_execution,
            "latency_ms": {
                "samples": len(values),
                "mean": round(mean * 1000, 4),
                "p50": round(percentile(values, 0.50) * 1000, 4),
                "p99": round(percentile(values, 0.99) * 1000, 4),
            },
        }
