"""The native dispatch's feeds (see ``midimon.daemon.native_dispatch``): ``Daemon.feed`` on the
native path, the JACK input's C dispatcher loop (``NativeServer``, fastpath.h's ``fp_serve``),
and the engine lock that keeps that loop and the Python side apart.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

from midimon.daemon.dispatch import feed_compiled_locked
from midimon.daemon.native_dispatch import MAX_RECORDS, NativeDispatch, log, usable_table

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon

FP_SERVE_PYTHON: Final = 1  # fp_serve's return: a message is left to Python (fastpath.h)


class EngineLock:
    """The daemon's engine lock on the native path: a ``threading.Lock`` and the C walk lock
    (the slot's mutex) taken together, and the table to walk published again before both are
    let go. The C dispatcher loop walks only under the walk lock, so it never runs beside the
    Python path, and whatever the Python side changed under the engine lock (the config, the
    mode, a long press held, the daemon stopping) is published before the next walk. What
    changes without the engine lock (a plugin's state, the mode from an action thread, who
    watches) bumps the change counter, which stops the walk before the next message."""

    __slots__ = ("_lock", "_native", "_slot", "_slot_lock", "_slot_unlock")

    def __init__(self, native: NativeDispatch) -> None:
        self._lock = threading.Lock()
        self._native = native
        self._slot = native.slot
        self._slot_lock = native._lib.fp_slot_lock
        self._slot_unlock = native._lib.fp_slot_unlock

    def __enter__(self) -> bool:
        self._lock.acquire()
        self._slot_lock(self._slot)  # cffi lets go of the GIL while it waits for a walk
        return True

    def __exit__(self, *exc: object) -> None:
        try:
            self._native.publish()
        finally:
            self._slot_unlock(self._slot)
            self._lock.release()

    def locked(self) -> bool:
        """Whether some thread holds it (threading.Lock.locked)."""
        return self._lock.locked()


class NativeServer:
    """The JACK input's side of the C dispatcher loop (``JackMidiIn.set_native_server``): the
    slot and records ``fp_serve`` uses, and :meth:`handle` for each of its returns, which does
    on the dispatcher thread what only Python can: the stats, counters and audit of the walks,
    and the messages the walk left to the compiled path."""

    def __init__(self, daemon: Daemon, native: NativeDispatch) -> None:
        self.lib = native._lib
        self.slot = native.slot
        self.records = native._ffi.new("fp_record[]", MAX_RECORDS)
        self.max_records = MAX_RECORDS
        self._ffi = native._ffi
        self._daemon = daemon
        self._native = native

    def new_state(self) -> Any:
        """A dispatcher thread's ``fp_serve_state``."""
        return self._ffi.new("fp_serve_state *")

    def handle(
        self, result: int, state: Any, data: Any, sizes: Any, stamps: Any, width: int, view: Any
    ) -> None:
        """After ``fp_serve`` returned ``result``: account for its walks; when it left a
        message to Python, take the rest of the batch as ``feed_batch`` would (the compiled path
        for that message, walks in C from Python for the next ones: one lock for the batch).
        The engine lock's release publishes the table again (all a STALE return needs)."""
        daemon = self._daemon
        with daemon._engine_lock:
            counts = state.counts
            if counts.events:
                self._native.account_served(state.walked, counts, self.records)
                counts.events = counts.triggers = counts.calls = 0
                state.walked = self._ffi.NULL
            index, count = state.next, state.have
            if result == FP_SERVE_PYTHON and index < count:
                state.next = count
                feed_locked(daemon, self._native, data, sizes, stamps, width, view, index, count)

    def finish(
        self, state: Any, data: Any, sizes: Any, stamps: Any, width: int, view: Any
    ) -> None:
        """The loop ended (the input closed): account, and let the Python side take what is
        still buffered."""
        self.handle(FP_SERVE_PYTHON, state, data, sizes, stamps, width, view)


def native_dispatch(daemon: Daemon) -> NativeDispatch | None:
    """The daemon's NativeDispatch, or None (logged) when the native library is not built."""
    from midimon.errors import JackUnavailableError
    from midimon.midi_jack import native_library

    try:
        ffi, lib = native_library()
    except JackUnavailableError as exc:
        log.warning("native dispatch unavailable, using the compiled one: %s", exc)
        return None
    return NativeDispatch(daemon, ffi, lib)


class NativeFeed:
    """``Daemon.feed`` on the native path; a JACK input hands its batches to ``feed_batch``."""

    __slots__ = ("_daemon", "native")

    def __init__(self, daemon: Daemon, native: NativeDispatch) -> None:
        self._daemon = daemon
        self.native = native

    @property
    def native_server(self) -> NativeServer:
        """For a JACK input: its dispatcher thread runs the C loop (fp_serve) with this (one
        per daemon, made on first use)."""
        server: NativeServer | None = self.native._server
        if server is None:
            server = NativeServer(self._daemon, self.native)
            self.native.attach(server)
        return server

    def __call__(self, data: bytes, timestamp_ns: int | None = None) -> None:
        """One message: walked in C when it can be, else the compiled path's."""
        daemon = self._daemon
        stamp = timestamp_ns or time.monotonic_ns()
        if daemon._stopping:
            return
        with daemon._engine_lock:
            table = usable_table(daemon, self.native)
            if table is None or type(data) is not bytes or not self.native.walk_one(
                table, data, stamp
            ):  # fmt: skip
                feed_compiled_locked(daemon, data, stamp)

    def feed_batch(
        self, data: Any, sizes: Any, stamps: Any, count: int, width: int, view: Any
    ) -> None:
        """A batch the JACK input drained (midi_jack.BatchCallback): walked in C up to each
        message the compiled path must take, which it then takes, in order."""
        with self._daemon._engine_lock:
            feed_locked(self._daemon, self.native, data, sizes, stamps, width, view, 0, count)


def feed_locked(
    daemon: Daemon, native: NativeDispatch, data: Any, sizes: Any, stamps: Any, width: int,
    view: Any, index: int, count: int,
) -> None:  # fmt: skip
    """Messages ``index`` to ``count`` of a drained batch, the engine lock held: walked in C up
    to each message the compiled path must take, which it then takes, in order."""
    while index < count:
        if daemon._stopping:
            return
        table = usable_table(daemon, native)
        if table is not None:
            index += native.walk(
                table, data + index * width, sizes + index, stamps + index, width, count - index
            )
            if index >= count:
                return
        start = index * width
        feed_compiled_locked(daemon, view[start : start + sizes[index]], stamps[index])
        index += 1
