"""A JACK MIDI input with nothing of Python in JACK's real-time thread.

python-rtmidi calls its Python callback from JACK's process callback, so every event's Python
(and the wait for the GIL, held for tens of milliseconds by a config reload) ran inside JACK's
real-time cycle: JACK then blames midimon's client for missed cycles, heard as dropouts in every
JACK application. Here the real-time callback is C (``midimon/_native/jackin/``, installed as
``midimon/libexec/libmidimon-jackin.so``): it copies each event's bytes and CLOCK_MONOTONIC time
into a preallocated lock-free ring and wakes this module's dispatcher thread, an ordinary thread
that drains the ring in batches and calls ``callback(data, timestamp_ns)``.

:class:`JackMidiIn` has the surface of ``rtmidi.MidiIn`` that ``midimon.midi`` uses
(``get_ports``, ``open_port``, ``open_virtual_port``, ``close_port``, ``ignore_types``,
``set_callback``, ``delete``), with a callback taking ``(bytes, timestamp_ns)``. libjack is
loaded at open time; when it (or the built library) is missing, :class:`JackUnavailableError`
says so and callers fall back to python-rtmidi.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midimon.cdef import ffi_for, marked_region, strip_comments
from midimon.cdef import generated_source as generated_source_for
from midimon.errors import JackUnavailableError  # importable from here as before

if TYPE_CHECKING:
    from midimon.daemon.native_feed import NativeServer

__all__ = ["DEFAULT_CAPACITY", "DEFAULT_MAX_EVENT_BYTES", "JackMidiIn", "JackUnavailableError"]

log = logging.getLogger(__name__)

LIBRARY_NAME = "libmidimon-jackin.so"
STOP_WAIT_S = 3.0  # how long closing the input waits for its dispatcher thread
DEFAULT_LIBJACK = "libjack.so.0"
DEFAULT_CAPACITY = 2048  # events the ring holds: 0.2 s at 10,000 events/s with Python stalled;
# with 256-byte slots that is 0.55 MiB, touched before activation (no page fault in JACK's thread)
DEFAULT_MAX_EVENT_BYTES = 256  # longer messages (long sysex) are counted as oversized, not sent
_BATCH = 256  # events per drain call

#: The C API: the region of jackin.h between these markers (comments stripped) is what cffi
#: gets, so the header is its one source (tests/test_midi_jack.py checks the built library
#: has every function it declares).
CDEF_BEGIN = "/* MIDIMON_JACKIN_CDEF_BEGIN */"
CDEF_END = "/* MIDIMON_JACKIN_CDEF_END */"
HEADER_NAME = "jackin.h"
#: The same library's native dispatch (midimon/daemon/native_dispatch.py): its header's region
#: follows jackin.h's in the declarations.
FASTPATH_BEGIN = "/* MIDIMON_FASTPATH_CDEF_BEGIN */"
FASTPATH_END = "/* MIDIMON_FASTPATH_CDEF_END */"
FASTPATH_HEADER_NAME = "fastpath.h"

NativeCallback = Callable[[bytes, int], None]
BatchCallback = Callable[[Any, Any, Any, int, int, Any], None]
"""``batch(data, sizes, stamps, count, width, view)``: ``count`` events drained at once, event i
``sizes[i]`` bytes at ``data + i * width`` (also ``view[i * width:]``), received at
``stamps[i]``; the arrays are reused after the call returns."""


def library_path() -> Path:
    """The built ``libmidimon-jackin.so``: in the imported package's ``libexec/``, else in the
    installed distribution's (they differ when midimon is imported from a source checkout).
    The first candidate when neither has it (loading it then fails with a clear error)."""
    import midimon

    candidate = Path(midimon.__file__).parent / "libexec" / LIBRARY_NAME
    if candidate.is_file():
        return candidate
    # The installed distribution's copy: a midimon/ folder on sys.path that has the library
    # (what importlib.metadata's locate_file finds, without its ~1 MiB of imports: email,
    # csv, zipfile).
    for entry in sys.path:
        located = Path(entry or ".") / "midimon" / "libexec" / LIBRARY_NAME
        if located.is_file():
            return located
    return candidate


def header_path(name: str = HEADER_NAME) -> Path:
    """jackin.h (or the library's other header ``name``): installed with the package
    (``midimon/include/``), else in a source checkout's ``midimon/_native/jackin/``."""
    package = Path(__file__).resolve().parent
    installed = package / "include" / name
    if installed.is_file():
        return installed
    return package / "_native" / "jackin" / name


@cache
def cdef() -> str:
    """The declarations cffi gets: jackin.h's marked region then fastpath.h's, comments
    stripped."""
    text = header_path().read_text(encoding="utf-8")
    fastpath = header_path(FASTPATH_HEADER_NAME).read_text(encoding="utf-8")
    return strip_comments(
        marked_region(text, CDEF_BEGIN, CDEF_END)[0]
        + marked_region(fastpath, FASTPATH_BEGIN, FASTPATH_END)[0]
    )


def _ffi() -> Any:
    """The FFI with cdef(): precompiled (``_jackin_cffi.py``, no pycparser: ~3 MiB and tens of
    ms less in the daemon) when its stamp matches, else parsed now."""
    try:
        from midimon import _jackin_cffi
    except ImportError:  # not generated: the declarations are parsed
        return ffi_for(cdef(), None)
    return ffi_for(cdef(), _jackin_cffi)


@cache
def _ffi_lib(library: str) -> tuple[Any, Any]:
    try:  # the header (the declarations) and the library are installed together
        ffi = _ffi()
        return ffi, ffi.dlopen(library)
    except OSError as exc:
        raise JackUnavailableError(
            f"cannot load midimon's native JACK input {library}: {exc}; rebuild midimon "
            "(bash ci/setup.sh) on Linux to get it"
        ) from exc


def native_library() -> tuple[Any, Any]:
    """(ffi, lib) of ``libmidimon-jackin.so``: the JACK input and the native dispatch
    (fastpath.h); JackUnavailableError when it is not built or cannot load."""
    return _ffi_lib(str(library_path()))


def generated_source() -> str:
    """The text of ``midimon/_jackin_cffi.py`` for cdef() (``python -m midimon.midi_jack``)."""
    return generated_source_for(
        cdef(), "midimon._jackin_cffi", "`python -m midimon.midi_jack` from jackin.h"
    )


class JackMidiIn:
    """One JACK client with (at most) one MIDI input port, read without Python in JACK's thread.

    ``callback(data, timestamp_ns)`` runs on this object's dispatcher thread (normal priority),
    events in arrival order; ``timestamp_ns`` is on ``time.monotonic_ns``'s clock: when JACK's
    cycle handed the event over, less its distance in frames from that cycle's last event (so
    it lies between the send and the hand-over), never earlier than the previous event's.
    Messages longer than ``max_event_bytes`` (long sysex) are counted in
    ``stats()["oversized"]`` and not delivered; events that find the ring (``capacity``
    events) full are counted in ``stats()["dropped"]``.
    """

    def __init__(
        self,
        client_name: str = "midimon",
        callback: NativeCallback | None = None,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        libjack: str = DEFAULT_LIBJACK,
        library: str | os.PathLike[str] | None = None,
    ) -> None:
        self._ffi, self._lib = _ffi_lib(str(library or library_path()))
        ffi, lib = self._ffi, self._lib
        err = ffi.new("char[]", 512)
        handle = lib.mj_open(libjack.encode(), client_name.encode(), capacity, max_event_bytes,
                             err, len(err))  # fmt: skip
        if handle == ffi.NULL:
            raise JackUnavailableError(ffi.string(err).decode(errors="replace"))
        self._handle = handle
        self._callback = callback
        self._batch: BatchCallback | None = None
        self._server: NativeServer | None = None  # the daemon's C dispatcher loop, if set
        self._lock = threading.Lock()  # owner calls (port changes, close)
        self._port_name: str | None = None
        self._closed = False
        self._free_on_exit = False
        self._max = lib.mj_max_event_bytes(handle)
        self._fd = lib.mj_event_fd(handle)
        self.client_name = ffi.string(lib.mj_client_name(handle)).decode()
        self._thread = threading.Thread(
            target=self._dispatch, name=f"midimon-jack-in:{self.client_name}", daemon=True
        )
        self._thread.start()

    # -- the dispatcher thread ----------------------------------------------------------------
    def _dispatch(self) -> None:
        ffi, handle, width = self._ffi, self._handle, self._max
        data = ffi.new("uint8_t[]", _BATCH * width)
        sizes = ffi.new("uint32_t[]", _BATCH)
        stamps = ffi.new("int64_t[]", _BATCH)
        view = ffi.buffer(data)
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while not self._closed:
            server = self._server
            if server is not None:
                self._serve(server, data, sizes, stamps, view)
                continue
            poller.poll()  # sleeps without the GIL until the process callback writes
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 8)  # reset the eventfd's counter
            self._drain_all(data, sizes, stamps, view)
        self._drain_all(data, sizes, stamps, view)  # JACK stopped: deliver what is left
        if self._free_on_exit:  # delete() was called from the callback: free here
            self._lib.mj_free(handle)

    def _serve(self, server: NativeServer, data: Any, sizes: Any, stamps: Any, view: Any) -> None:
        """The daemon's C dispatcher loop (fastpath.h's fp_serve) until the input closes or
        the server changes: the wait, the drain and the walk run without the GIL; Python runs
        only for what ``server.handle`` does with each return."""
        lib, handle, width = self._lib, self._handle, self._max
        serve, slot, loop = lib.fp_serve, server.slot, server.start_loop()
        state = loop.state
        server.enter_thread()
        try:
            while not self._closed and self._server is server:
                result = serve(handle, slot, data, sizes, stamps, _BATCH, state)
                try:
                    server.handle(result, loop, data, sizes, stamps, width, view)
                except Exception:
                    log.exception("JACK MIDI input native dispatch failed (%s)", self._port_name)
            server.finish(loop, data, sizes, stamps, width, view)
        finally:
            server.leave_thread()

    def _drain_all(self, data: Any, sizes: Any, stamps: Any, view: Any) -> None:
        lib, handle, width = self._lib, self._handle, self._max
        while True:
            count = lib.mj_drain(handle, data, sizes, stamps, _BATCH)
            batch = self._batch
            callback = self._callback
            if batch is not None and count:
                try:
                    batch(data, sizes, stamps, count, width, view)
                except Exception:
                    log.exception("JACK MIDI input batch callback failed (%s)", self._port_name)
            elif callback is not None:
                for i in range(count):
                    start = i * width
                    try:
                        callback(view[start : start + sizes[i]], stamps[i])
                    except Exception:
                        log.exception("JACK MIDI input callback failed (%s)", self._port_name)
            if count < _BATCH:
                return

    # -- the rtmidi.MidiIn surface midimon.midi uses --------------------------------------------
    def get_ports(self) -> list[str]:
        """Full names ("client:port") of the JACK MIDI ports we can read from."""
        ffi, lib = self._ffi, self._lib
        size = 4096
        with self._lock:
            self._check_open()
            while True:
                out = ffi.new("char[]", size)
                needed = lib.mj_ports(self._handle, out, size)
                if needed < 0:
                    raise JackUnavailableError("the JACK client is closed")
                if needed < size:
                    text = ffi.string(out).decode(errors="replace")
                    return [name for name in text.split("\n") if name]
                size = needed + 1

    def open_virtual_port(self, name: str) -> None:
        """Register input port ``name`` for others to connect to."""
        with self._lock:
            self._register(name)

    def open_port(self, index: int, name: str = "input") -> None:
        """Register input port ``name`` and connect source port ``get_ports()[index]`` to it."""
        ports = self.get_ports()
        if not 0 <= index < len(ports):
            raise ValueError(f"no JACK MIDI source port #{index}; there are {len(ports)}")
        self.connect(ports[index], name)

    def connect(self, source: str, name: str = "input") -> None:
        """Register input port ``name`` and connect the source port named ``source`` to it."""
        ffi, lib = self._ffi, self._lib
        with self._lock:
            self._register(name)
            err = ffi.new("char[]", 512)
            if lib.mj_connect(self._handle, source.encode(), err, len(err)) != 0:
                lib.mj_unregister(self._handle)
                self._port_name = None
                raise OSError(ffi.string(err).decode(errors="replace"))

    def _register(self, name: str) -> None:
        ffi, lib = self._ffi, self._lib
        self._check_open()
        err = ffi.new("char[]", 512)
        if lib.mj_register(self._handle, name.encode(), err, len(err)) != 0:
            raise OSError(ffi.string(err).decode(errors="replace"))
        self._port_name = f"{self.client_name}:{name}"

    def close_port(self) -> None:
        """Unregister the input port (the client stays open); idempotent."""
        with self._lock:
            if not self._closed:
                self._lib.mj_unregister(self._handle)
            self._port_name = None

    def ignore_types(
        self, sysex: bool = True, timing: bool = True, active_sense: bool = True
    ) -> None:
        """Drop these message kinds in the real-time callback (all dropped by default)."""
        with self._lock:
            self._check_open()
            self._lib.mj_set_filter(self._handle, sysex, timing, active_sense)

    def set_callback(self, callback: NativeCallback) -> None:
        """Call ``callback(data, timestamp_ns)`` for each event from now on."""
        self._batch = None
        self._callback = callback
        self._leave_server()

    def set_native_server(self, server: NativeServer) -> bool:
        """Let the dispatcher thread run the daemon's C dispatcher loop with ``server`` (its
        slot and records must come from this input's library); False, and nothing changed,
        when they do not."""
        if server.lib is not self._lib:
            return False
        self._server = server
        self._callback = None
        self._batch = None
        os.write(self._fd, (1).to_bytes(8, "little"))  # a poll under way looks again
        return True

    def set_batch_callback(self, batch: BatchCallback) -> None:
        """Hand every drained batch to ``batch`` (see BatchCallback) instead of calling a
        callback per event: the daemon's native dispatch walks it in C."""
        self._callback = None
        self._batch = batch
        self._leave_server()

    def cancel_callback(self) -> None:
        """Stop calling the callback (events are still drained)."""
        self._callback = None
        self._batch = None
        self._leave_server()

    def _leave_server(self) -> None:
        """The dispatcher thread leaves the C loop (woken if it sleeps there)."""
        if self._server is not None:
            self._server = None
            if not self._closed:
                os.write(self._fd, (1).to_bytes(8, "little"))

    @property
    def port_name(self) -> str | None:
        """Our input port's full name ("client:port"), None when none is registered."""
        return self._port_name

    def stats(self) -> dict[str, int]:
        """Counters since open: received, dropped (ring full), oversized, filtered, and
        server_gone (1 once JACK shut this client down)."""
        out = self._ffi.new("mj_stats *")
        with self._lock:
            self._check_open()
            self._lib.mj_stats_get(self._handle, out)
        return {
            "received": out.received,
            "dropped": out.dropped,
            "oversized": out.oversized,
            "filtered": out.filtered,
            "server_gone": out.server_gone,
        }

    def delete(self) -> None:
        """Close the JACK client, stop the dispatcher (it delivers what the ring still holds
        first) and free the ring; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._lib.mj_stop(self._handle)  # after this JACK never calls us again
            self._closed = True
            os.write(self._fd, (1).to_bytes(8, "little"))
        if threading.current_thread() is self._thread:
            self._free_on_exit = True
            return
        self._thread.join(STOP_WAIT_S)
        if self._thread.is_alive():  # inside a plugin call that does not return: never freed
            log.error(
                "JACK MIDI input %s: its dispatcher thread is still inside a plugin call after "
                "%g s; closed without it (it ends with the process)", self.client_name,
                STOP_WAIT_S,
            )  # fmt: skip
            return
        self._lib.mj_free(self._handle)

    close = delete

    def _check_open(self) -> None:
        if self._closed:
            raise JackUnavailableError(f"JACK MIDI input {self.client_name!r} is closed")

    def __enter__(self) -> JackMidiIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()


if __name__ == "__main__":
    GENERATED = Path(__file__).with_name("_jackin_cffi.py")
    GENERATED.write_text(generated_source(), encoding="utf-8")
    print(f"wrote {GENERATED}", file=sys.stderr)
