"""Keep the ALSA and JACK libraries quiet while midimon probes for a MIDI API.

python-rtmidi's backends call libasound and libjack, whose default handlers print each error on
stderr. When no MIDI API can start, that is about ten lines ("ALSA lib seq_hw.c:466:
(snd_seq_hw_open) open /dev/snd/seq failed", "Cannot connect to server socket",
"JackShmReadWritePtr::~JackShmReadWritePtr - Init not done") before midimon's own message, which
already says what failed and why. Both libraries send every such message through a hook
(``snd_lib_error_set_handler``; ``jack_set_error_function`` and ``jack_set_info_function``;
nothing is written to fd 2 directly, so no descriptor needs redirecting). Inside
:func:`probing`, the hooks point at a C function that does nothing; on leaving, the handlers that
were there before come back, so a JACK server that goes away under a running daemon is still
reported by libjack as usual.

The do-nothing handler is C, not a ctypes callback, on purpose: a Python callback needs the GIL,
which python-rtmidi holds while it closes a client and joins that client's thread (a library
message from that thread would deadlock), and it would clobber ``errno``, which alsa-lib reads
right after calling the handler (``snd_seq_hw_open`` returns ``-errno``; with a Python handler
it returned 0 and alsa-lib then crashed on a NULL sequencer).

The hooks are looked up through python-rtmidi's extension module, so they reach the very
libraries it linked (its Linux wheels carry their own copy of libjack); a library it was built
without (macOS, Windows) is left alone, and no library is ever required. Messages other threads'
libraries print during a probe are dropped too.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["hooks", "probing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Hook:
    """One library message hook: its setter and the variable holding the current handler."""

    name: str
    set: Callable[[int | None], None]  # e.g. jack_set_error_function
    current: ctypes.c_void_p  # the library's own variable, read live (e.g. jack_error_callback)


_lock = threading.Lock()
_probes = 0  # probes running, in any thread
_saved: list[tuple[_Hook, int | None]] = []  # handlers to put back when the last probe ends
_hooks: list[_Hook] | None = None  # None: not looked up yet


def _do_nothing() -> int | None:
    """Address of a C function that ignores its arguments, touches no errno, lock or memory and
    may run on any thread: libc's getpid(). Both handler types return void, so its result is
    ignored, and C callers may pass arguments a function does not read (the caller cleans up)."""
    try:
        return ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):  # no C library to find it in (not on Linux)
        return None


def _look_up() -> list[_Hook]:
    try:
        from rtmidi import _rtmidi

        # dlsym through python-rtmidi's own module: its linked libraries, as it loaded them.
        libs = ctypes.CDLL(_rtmidi.__file__)
    except (ImportError, OSError, AttributeError) as exc:
        log.debug("cannot reach python-rtmidi's MIDI libraries: %s", exc)
        return []
    found = []
    for name, setter_name, variable in (
        ("ALSA", "snd_lib_error_set_handler", "snd_lib_error"),
        ("JACK error", "jack_set_error_function", "jack_error_callback"),
        ("JACK info", "jack_set_info_function", "jack_info_callback"),
    ):
        try:
            setter = getattr(libs, setter_name)
            current = ctypes.c_void_p.in_dll(libs, variable)
        except (AttributeError, ValueError):
            continue  # python-rtmidi was built without this library
        setter.argtypes = [ctypes.c_void_p]
        setter.restype = None  # alsa-lib's int result is always 0
        found.append(_Hook(name, setter, current))
    return found


def hooks() -> list[str]:
    """The library hooks found (e.g. ["ALSA", "JACK error", "JACK info"]); looked up once."""
    global _hooks
    with _lock:
        if _hooks is None:
            _hooks = _look_up()
        return [hook.name for hook in _hooks]


@contextmanager
def probing() -> Iterator[None]:
    """While inside (in any thread), the ALSA and JACK libraries print nothing: use it around a
    call whose failure midimon reports in its own words."""
    global _probes
    hooks()
    assert _hooks is not None
    with _lock:
        _probes += 1
        quiet = _do_nothing() if _probes == 1 and _hooks else None
        if quiet:  # never NULL: libjack would call it
            for hook in _hooks:
                _saved.append((hook, hook.current.value))
                hook.set(quiet)
    try:
        yield
    finally:
        with _lock:
            _probes -= 1
            if _probes == 0:
                while _saved:
                    hook, previous = _saved.pop()
                    hook.set(previous)
