"""A token bucket per plugin: excess calls are refused (and counted), never queued."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class TokenBucket:
    """``rate`` tokens per second, up to ``burst`` saved; ``try_take`` never waits."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()
        self._lock = threading.Lock()
        self._native: Any = None  # fastpath.h's twin, once the native dispatch shares it
        self._native_take: Any = None

    def native(self, ffi: Any, lib: Any) -> Any:
        """This bucket as fastpath.h's ``fp_bucket *`` (made once, from the tokens saved now),
        which from then on holds its state for both paths; None with a clock other than
        ``time.monotonic`` (the C side reads CLOCK_MONOTONIC)."""
        with self._lock:
            if self._native is None:
                if self._clock is not time.monotonic:
                    return None
                made = lib.fp_bucket_new(self.rate, self.burst, self._tokens, self._stamp)
                self._native = ffi.gc(made, lib.fp_bucket_free)
                self._native_take = lib.fp_bucket_take
            return self._native

    def try_take(self) -> bool:
        """Take one token if there is one; False means: refuse this call."""
        native = self._native
        if native is not None:
            return bool(self._native_take(native, self._clock()))
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
