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
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, *args: Any) -> None:
        """Queue one job (any thread; never blocks)."""
        with self._count_lock:
            self._submitted += 1
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
