"""Caps on the host services a plugin calls: log lines and send_midi messages per second.

A plugin looping over ``log`` once wrote 240,000 lines into the daemon's log in 3 seconds. Each
plugin gets a token bucket per service (``log_rate_limit``/``log_rate_burst``,
``send_midi_rate_limit``/``send_midi_rate_burst`` in ``[plugins]`` or its override); what goes
past it is dropped (``send_midi`` answers MIDIMON_ERR_DENIED), counted, and reported by one log
line per plugin and service at most once a second. Isolated workers and in-process plugins go
through the same :class:`LimitedHost`, so the caps hold in both modes; one plugin's buckets
never slow another's calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.loader import HostServices, call_set_led
from midimon.plugins.manager.ratelimit import TokenBucket

log = logging.getLogger("midimon.plugins")

REPORT_INTERVAL = 1.0  # seconds between two "dropped" lines of one plugin's service
SERVICES = ("log", "send_midi")
_UNITS = {"log": "log lines", "send_midi": "send_midi messages"}


@dataclass(frozen=True)
class ServiceLimit:
    """One service's cap: ``rate`` per second, bursts of ``burst``."""

    rate: float
    burst: int


# (plugin, service, dropped since the last report, seconds it covers, dropped in all)
Reporter = Callable[[str, str, int, float, int], None]


class _Meter:
    """One plugin's bucket and counters for one service."""

    def __init__(self, limit: ServiceLimit, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.bucket = TokenBucket(limit.rate, limit.burst, clock)
        self.dropped = 0
        self.unreported = 0
        self.window_start = 0.0
        self.last_report = float("-inf")


class LimitedHost:
    """HostServices that caps each plugin's log lines and send_midi messages per second."""

    def __init__(
        self,
        inner: HostServices,
        limits_for: Callable[[str, str], ServiceLimit],
        *,
        on_report: Reporter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._limits_for = limits_for
        self._on_report = on_report
        self._clock = clock
        self._meters: dict[tuple[str, str], _Meter] = {}
        self._lock = threading.Lock()

    def log(self, plugin: str, level: int, message: str) -> None:
        """Forward one log line unless ``plugin`` is past its log cap (then count it)."""
        if self._admit(plugin, "log"):
            self.inner.log(plugin, level, message)

    def send_midi(self, plugin: str, data: bytes) -> int:
        """Forward unless ``plugin`` is past its send_midi cap: then MIDIMON_ERR_DENIED."""
        if self._admit(plugin, "send_midi"):
            return self.inner.send_midi(plugin, data)
        return abi_mod.constant("MIDIMON_ERR_DENIED")

    def set_led(self, plugin: str, pad: int, color: str) -> int:
        """Forward a pad LED request, counted against ``plugin``'s send_midi cap."""
        if self._admit(plugin, "send_midi"):
            return call_set_led(self.inner, plugin, pad, color)
        return abi_mod.constant("MIDIMON_ERR_DENIED")

    def dropped(self, plugin: str) -> dict[str, int]:
        """How many log lines and send_midi messages of ``plugin`` were dropped so far."""
        with self._lock:
            return {
                service: (meter.dropped if (meter := self._meters.get((plugin, service))) else 0)
                for service in SERVICES
            }

    def _meter(self, plugin: str, service: str) -> _Meter:
        limit = self._limits_for(plugin, service)
        with self._lock:
            meter = self._meters.get((plugin, service))
            if meter is None or meter.limit != limit:  # new, or the settings were reloaded
                fresh = _Meter(limit, self._clock)
                if meter is not None:
                    fresh.dropped = meter.dropped
                meter = self._meters[(plugin, service)] = fresh
            return meter

    def _admit(self, plugin: str, service: str) -> bool:
        meter = self._meter(plugin, service)
        allowed = meter.bucket.try_take()
        now = self._clock()
        report: tuple[int, float, int] | None = None
        with self._lock:
            if not allowed:
                if meter.unreported == 0:
                    meter.window_start = now
                meter.dropped += 1
                meter.unreported += 1
            if meter.unreported and now - meter.last_report >= REPORT_INTERVAL:
                report = (meter.unreported, now - meter.window_start, meter.dropped)
                meter.unreported = 0
                meter.last_report = now
                meter.window_start = now
        if report is not None:
            self._report(plugin, service, meter.limit, *report)
        return allowed

    def _report(
        self, plugin: str, service: str, limit: ServiceLimit, count: int, span: float, total: int
    ) -> None:
        log.warning(
            "%s: %d %s dropped in %.1f s (cap %g/s, bursts of %d; %d dropped in all)",
            plugin,
            count,
            _UNITS[service],
            span,
            limit.rate,
            limit.burst,
            total,
        )
        if self._on_report is not None:
            try:
                self._on_report(plugin, service, count, span, total)
            except Exception:
                log.exception("%s: reporting dropped %s failed", plugin, _UNITS[service])
