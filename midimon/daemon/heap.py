"""Keep CPython's cycle collector from stopping the event path for long.

A full collection walks every object the collector tracks while it holds the GIL. In a daemon
whose 500-mapping config is reloaded back to back that took 50-146 ms each time
(``benchmarks/reload_jack.py``), and no Python-path event (an isolated plugin's call) moved
meanwhile. ``gc.freeze()`` moves every object alive into a generation the collector never
walks: the modules and classes once the daemon has started, the running config after each
reload. Full collections then walk only what was made since.

Frozen objects are freed by reference counting alone, so the config must hold no reference
cycles (``tests/daemon/test_heap.py`` checks that a replaced config is freed with the collector
off). Anything else that was alive at a freeze and later dies inside a cycle (a client's
connection, say) is reclaimed by a sweep once the input has been quiet for a while: unfreeze,
collect, freeze again; that one pause lands where no note is waiting for it.

While a reload builds the new config the collector does not run at all (``building``): what a
reload makes holds no cycle, so the young collections it would trigger (up to 3 ms each with
the GIL held) would find nothing; the freeze that follows takes it all out of their way.

Off unless enabled (``midimon run`` enables it): a library user or a test process keeps the
collector as Python sets it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

QUIET_BEFORE_SWEEP_S = 10.0  # no input for this long after a freeze: sweep the frozen heap


class HeapKeeper:
    """When to freeze the heap and when to sweep it. Thread-safe enough: each call is a few
    interpreter operations and a gc call (the GIL orders them)."""

    def __init__(
        self,
        quiet_s: float = QUIET_BEFORE_SWEEP_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = False
        self.quiet_s = quiet_s
        self._clock = clock
        self._unswept = False  # a freeze happened since the last sweep
        self._seen_events = -1  # the input count at the last look
        self._quiet_since = clock()
        self.freezes = 0
        self.sweeps = 0
        self.swept_objects = 0  # what sweeps found unreachable (frozen, then died in a cycle)
        self._builders = 0  # reloads building now (the collector is off while any is)
        self._was_on = True  # whether the collector ran before the first of them
        self._lock = threading.Lock()

    def enable(self) -> None:
        """Freeze from now on, and freeze what is alive now (call once started)."""
        self.enabled = True
        self.settle()

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """No collection while the body runs (a reload's parse and build), when enabled and the
        collector was on; two reloads at once turn it back on when the last one ends."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._builders += 1
            if self._builders == 1:
                self._was_on = gc.isenabled()
                gc.disable()
        try:
            yield
        finally:
            with self._lock:
                self._builders -= 1
                if self._builders == 0 and self._was_on:
                    gc.enable()

    def settle(self) -> None:
        """Everything alive now stays: move it out of the collector's walks (after start-up
        and after a reload swapped a new config in). Nothing when not enabled."""
        if not self.enabled:
            return
        gc.freeze()
        self.freezes += 1
        self._unswept = True
        self._quiet_since = self._clock()  # a reload is activity too: quiet counts from here

    def sweep_if_quiet(self, events: int) -> int | None:
        """Sweep the frozen heap when ``events`` (a count of input seen: MIDI messages and
        trigger plugins' events) has not moved for ``quiet_s`` since the last freeze; returns
        the objects reclaimed, or None when no sweep ran. The timer thread calls this about
        twice a second."""
        if not (self.enabled and self._unswept):
            return None
        now = self._clock()
        if events != self._seen_events:
            self._seen_events = events
            self._quiet_since = now
            return None
        if now - self._quiet_since < self.quiet_s:
            return None
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self._unswept = False
        self.sweeps += 1
        self.swept_objects += found
        log.debug(
            "heap sweep: %d unreachable objects in %.1f ms",
            found,
            (time.perf_counter() - started) * 1000,
        )
        return found

    def status(self) -> dict[str, int | bool]:
        """For STATUS: whether the heap is kept, objects frozen now, freezes and sweeps."""
        return {
            "enabled": self.enabled,
            "frozen": gc.get_freeze_count(),
            "freezes": self.freezes,
            "sweeps": self.sweeps,
            "swept_objects": self.swept_objects,
        }
