"""The native dispatch's feeds (see ``midimon.daemon.native_dispatch``): ``Daemon.feed`` on the
native path, the JACK input's C dispatcher loop (``NativeServer``, fastpath.h's ``fp_serve``)
and the thread that accounts for its walks, and the engine lock that publishes what the loop
walks.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from midimon.daemon.dispatch import feed_compiled_locked
from midimon.daemon.native_dispatch import NativeDispatch, log, usable_table
from midimon.engine.config import ConfigError
from midimon.plugins.manager.grants import RECHECK_SECONDS

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon

PRIORITY_VARIABLE: Final = "MIDIMON_RT_PRIORITY"
# SCHED_FIFO priority of the JACK input's dispatcher thread: below JACK's own threads (jackd's
# default is 10, audio setups often 70-95), above every normal thread. 0: normal scheduling.
DEFAULT_PRIORITY: Final = 5
FP_SERVE_PYTHON: Final = 1  # fp_serve's returns (fastpath.h): a message is left to Python
FP_SERVE_WOKE: Final = 3  # woken with nothing to do
ACCOUNT_WAIT_NS: Final = 100_000_000  # the accounting thread looks whether its loop ended
REFRESH_EVERY_S: Final = RECHECK_SECONDS / 2  # ... and renews the published table's time


class EngineLock:
    """The daemon's engine lock on the native path: a ``threading.Lock`` that publishes the
    table for the C dispatcher loop to walk, or none, before it is let go, so whatever the Python
    side changed under it (the config, the mode, a long press held, the daemon stopping) is in
    effect for the next walk. What changes without it (a plugin's state, the mode from an action
    thread, who watches) bumps the change counter, which stops the walk before the next message.
    The walk itself does not wait for this lock (only for a publish, in C): Python holding it
    while it waits for the GIL never stalls the walk."""

    __slots__ = ("_lock", "_native")

    def __init__(self, native: NativeDispatch) -> None:
        self._lock = threading.Lock()
        self._native = native

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        try:
            self._native.publish()
        finally:
            self._lock.release()

    def acquire(self, timeout: float = -1) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds (default: no limit)."""
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        """Publish, then let go (what leaving a ``with`` block does)."""
        self.__exit__()

    def publish(self, timeout: float = -1) -> bool:
        """Publish the table to walk now (the lock taken for it), as a release would; False
        (logged) when the lock was not had within ``timeout`` seconds (default: no limit): a
        thread holds it inside a plugin call that does not return."""
        if not self._lock.acquire(timeout=timeout):
            log.error("the engine lock is held past %g s (a plugin call on the MIDI input's "
                      "thread that does not return?): going on without it", timeout)  # fmt: skip
            return False
        try:
            self._native.publish()
        finally:
            self._lock.release()
        return True

    def locked(self) -> bool:
        """Whether some thread holds it (threading.Lock.locked)."""
        return self._lock.locked()

    @property
    def python_lock(self) -> threading.Lock:
        """The lock alone, without the publish on release (accounting for walked calls)."""
        return self._lock


def dispatcher_priority(environ: Mapping[str, str] = os.environ) -> int:
    """The real-time priority ``MIDIMON_RT_PRIORITY`` asks for the dispatcher thread (0: none;
    DEFAULT_PRIORITY when unset or empty); ConfigError naming the variable for anything but an
    integer in 0..99."""
    raw = environ.get(PRIORITY_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_PRIORITY
    if not raw.isdigit() or int(raw) > 99:
        raise ConfigError(
            None, f"environment variable {PRIORITY_VARIABLE}", None,
            f"{raw!r} is not a real-time priority; expected an integer in 0..99 (0: none)",
        )  # fmt: skip
    return int(raw)


class ServeLoop:
    """One run of the C dispatcher loop: its ``fp_serve_state``, its ledger (two batches of
    walks) and the thread that accounts for them."""

    __slots__ = ("closing", "ledger", "state", "thread")

    def __init__(self, ledger: Any, state: Any) -> None:
        self.ledger = ledger
        self.state = state
        self.thread: threading.Thread | None = None
        self.closing = False


class NativeServer:
    """The JACK input's side of the C dispatcher loop (``JackMidiIn.set_native_server``).

    The loop (fastpath.h's ``fp_serve``) walks into a ledger of two batches; a thread of ours
    takes each batch it hands over and turns it into the stats, counters, audit entries and
    action events the compiled path makes, holding the engine lock (which the walk never waits
    for: it goes on meanwhile, and a reload holding the GIL never holds it up).
    :meth:`handle` does what else only Python can, on the dispatcher thread: the messages the
    walk leaves to the compiled path, and publishing the table again when its time is up."""

    def __init__(self, daemon: Daemon, native: NativeDispatch) -> None:
        self.lib = native._lib
        self.slot = native.slot
        self._ffi = native._ffi
        self._daemon = daemon
        self._native = native
        self._loop: ServeLoop | None = None  # the latest loop started
        self.priority = native.priority
        # What the dispatcher thread got (STATUS "dispatcher"): None until a loop runs.
        self.realtime: dict[str, Any] | None = None

    def enter_thread(self) -> None:
        """On the dispatcher thread, before its loop: ask for real-time scheduling (refused
        without rtprio rights: said once in the log and in STATUS, and the loop runs anyway)."""
        if self.priority <= 0:
            self.realtime = {"priority": 0, "granted": False, "error": None}
            return
        failed = int(self.lib.fp_thread_priority(self.priority))
        error = None if failed == 0 else errno.errorcode.get(failed, str(failed))
        self.realtime = {"priority": self.priority, "granted": not failed, "error": error}
        if failed:
            log.warning(
                "the MIDI dispatcher thread runs without real-time priority (%s %d refused: "
                "%s); on a busy machine notes may wait milliseconds for a CPU. Allow it with an "
                "rtprio limit (e.g. the audio group), or set %s=0 to stop asking",
                PRIORITY_VARIABLE, self.priority, os.strerror(failed), PRIORITY_VARIABLE,
            )  # fmt: skip

    def leave_thread(self) -> None:
        """On the dispatcher thread, after its loop: normal scheduling again."""
        if self.realtime is not None and self.realtime["granted"]:
            self.lib.fp_thread_priority(0)

    def start_loop(self) -> ServeLoop:
        """A new loop's state and ledger, and its accounting thread (started)."""
        ffi, lib = self._ffi, self.lib
        made = lib.fp_ledger_new()
        if made == ffi.NULL:
            raise MemoryError("fp_ledger_new")
        state = ffi.new("fp_serve_state *")
        state.ledger = made
        loop = ServeLoop(ffi.gc(made, lib.fp_ledger_free), state)
        loop.thread = threading.Thread(
            target=self._account_loop, args=(loop,), name="midimon-native-accounts", daemon=True
        )
        loop.thread.start()
        self._loop = loop
        self._daemon._engine_lock.publish()  # the table to walk now
        return loop

    def next_batch_number(self) -> int | None:
        """The number the batch now being filled will be handed over with; None when no loop
        runs. [any-thread]"""
        loop = self._loop
        return None if loop is None else int(self.lib.fp_ledger_handed(loop.ledger)) + 1

    def _account_loop(self, loop: ServeLoop) -> None:
        lib, ffi, native = self.lib, self._ffi, self._native
        engine_lock = self._daemon._engine_lock
        python_lock = engine_lock.python_lock
        refresh_at = 0.0
        while True:
            batch = lib.fp_ledger_take(loop.ledger, ACCOUNT_WAIT_NS)
            if time.monotonic() >= refresh_at and not loop.closing:
                # The published table's time runs out every RECHECK_SECONDS (the plugins'
                # state file is looked at again): renew it from here, well before the loop
                # finds it stale and has to wait for the GIL itself.
                with engine_lock:
                    native.recheck_soon()
                refresh_at = time.monotonic() + REFRESH_EVERY_S
            if batch == ffi.NULL:
                if loop.closing:
                    return
                continue
            try:
                with python_lock:
                    native.account_batch(batch)
            except Exception:
                log.exception("native dispatch: accounting for walked calls failed")
            finally:
                lib.fp_ledger_done(loop.ledger, batch)

    def handle(
        self, result: int, loop: ServeLoop, data: Any, sizes: Any, stamps: Any, width: int,
        view: Any,
    ) -> None:  # fmt: skip
        """After ``fp_serve`` returned ``result``: when it left a message to Python, take the
        rest of the batch as ``feed_batch`` would (the compiled path for that message, walks in
        C from Python for the next ones: one lock for the batch); the engine lock's release
        publishes the table again (all a STALE return needs)."""
        if result == FP_SERVE_WOKE:
            return
        daemon = self._daemon
        state = loop.state
        with daemon._engine_lock:
            index, count = state.next, state.have
            if result == FP_SERVE_PYTHON and index < count:
                state.next = count
                feed_locked(daemon, self._native, data, sizes, stamps, width, view, index, count)

    def finish(
        self, loop: ServeLoop, data: Any, sizes: Any, stamps: Any, width: int, view: Any
    ) -> None:
        """The loop ended (the input closed): the Python side takes what is still buffered,
        the accounting thread what was handed over, and this thread the last batch."""
        self.handle(FP_SERVE_PYTHON, loop, data, sizes, stamps, width, view)
        loop.closing = True
        self.lib.fp_ledger_close(loop.ledger)
        if loop.thread is not None:
            loop.thread.join(10)
        batch = self.lib.fp_ledger_filling(loop.ledger)
        if batch.counts.events:
            with self._daemon._engine_lock.python_lock:
                self._native.account_batch(batch)
        if self._loop is loop:
            self._loop = None


def native_dispatch(daemon: Daemon) -> NativeDispatch | None:
    """The daemon's NativeDispatch, or None (logged) when the native library is not built."""
    from midimon.errors import JackUnavailableError
    from midimon.midi_jack import native_library

    try:
        ffi, lib = native_library()
    except JackUnavailableError as exc:
        log.warning("native dispatch unavailable, using the compiled one: %s", exc)
        return None
    native = NativeDispatch(daemon, ffi, lib)
    native.priority = dispatcher_priority()  # a bad MIDIMON_RT_PRIORITY stops the start here
    return native


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
        lock = daemon._engine_lock
        lock._lock.acquire()  # `with lock`, without EngineLock.__enter__'s frame on the way in
        try:
            if type(data) is not bytes or not self.native.feed_one(data, stamp):
                feed_compiled_locked(daemon, data, stamp)
        finally:
            lock.__exit__()

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
