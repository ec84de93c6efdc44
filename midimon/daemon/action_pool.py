"""ActionPool: a few threads that carry out actions handed over by the processing thread.

Leaner than ``concurrent.futures.ThreadPoolExecutor`` on the hot path: a submit is one
``SimpleQueue.put`` (C code, no Future, no lock of ours), which is measurable in the
MIDI-callback-to-plugin latency (see benchmarks/dispatch.py). Nothing waits on results: the
daemon reports outcomes through its event stream.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ActionPool:
    """``threads`` daemon threads running ``work(*args)`` for each submitted job, in order."""

    def __init__(self, threads: int, work: Callable[..., None], name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._work = work
        self._count_lock = threading.Lock()
        self._submitted = self._finished = 0
        self._native: tuple[Any, Any, Any] | None = None  # (lib, submitted, finished) in C
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def native_counts(self, ffi: Any, lib: Any) -> tuple[Any, Any]:
        """The pool's submitted and finished counts as two C counters (fastpath.h's
        fp_counter), kept from now on: the native dispatch sends a plugin's call itself only
        while its lane is idle (both equal), so the call cannot overtake one queued here."""
        with self._count_lock:
            if self._native is None:
                submitted = ffi.gc(lib.fp_counter_new(), lib.fp_counter_free)
                finished = ffi.gc(lib.fp_counter_new(), lib.fp_counter_free)
                if submitted == ffi.NULL or finished == ffi.NULL:
                    raise MemoryError("fp_counter_new")
                for _ in range(self._submitted - self._finished):  # jobs under way now
                    lib.fp_counter_bump(submitted)
                self._native = (lib, submitted, finished)
            return self._native[1], self._native[2]

    def submit(self, *args: Any) -> None:
        """Queue one job (any thread; never blocks)."""
        with self._count_lock:
            self._submitted += 1
            if self._native is not None:
                self._native[0].fp_counter_bump(self._native[1])
        self._jobs.put(args)

    @property
    def pending(self) -> int:
        """Jobs queued and not yet started."""
        return self._jobs.qsize()

    @property
    def idle(self) -> bool:
        """No job queued or running. Stays true until the next submit when one thread
        submits (the daemon submits under its engine lock)."""
        with self._count_lock:
            return self._submitted == self._finished

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._work(*job)
            except Exception:  # a job must never end its thread
                log.exception("action failed")
            finally:
                with self._count_lock:
                    self._finished += 1
                    if self._native is not None:
                        self._native[0].fp_counter_bump(self._native[2])

    def shutdown(self, timeout: float = 5.0) -> list[tuple[Any, ...]]:
        """Drop jobs not yet started, let running ones finish (up to ``timeout`` s each);
        returns the dropped jobs (their arguments)."""
        dropped = []
        try:
            while True:
                job = self._jobs.get_nowait()
                if job is not None:
                    dropped.append(job)
        except queue.Empty:
            pass
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout)
        return dropped
