"""Action failures in the log: the first of a kind at once, its repeats summed up.

A pad on a plugin that lacks a grant fails the same way on every press, with a long fix line
the daemon's start-up check has already printed once. Logging each press buried everything else
in the log, so a failure whose text was logged less than ``interval`` seconds ago is only
counted, and the next time it is logged says how many were held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

MAX_REMEMBERED = 1024  # distinct failure texts kept; past that the memory starts afresh


class FailureLog:
    """Logs ``"<kind> action failed: <detail>"`` as a warning, repeats at most once per
    ``interval`` seconds. Thread-safe: the daemon's action threads share one."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # text -> (logged at, held back since)

    def failed(self, kind: str, detail: str) -> bool:
        """Record one failure; True when it was written to the log."""
        text = f"{kind} action failed: {detail}"
        now = self._clock()
        with self._lock:
            seen = self._last.get(text)
            if seen is not None and now - seen[0] < self._interval:
                self._last[text] = (seen[0], seen[1] + 1)
                return False
            held = seen[1] if seen is not None else 0
            if len(self._last) >= MAX_REMEMBERED:
                self._last.clear()
            self._last[text] = (now, 0)
        if held:
            self._logger.warning(
                "%s (%d more time%s since it was last logged)", text, held, "" if held == 1 else "s"
            )
        else:
            self._logger.warning("%s", text)
        return True
