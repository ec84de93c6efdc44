"""Which application has the focus, for per-application profiles (``[[modes]] apps``).

X11: the EWMH ``_NET_ACTIVE_WINDOW`` property of the root window, which the window manager
keeps up to date, read through python-xlib (the only module importing it; install
``midimon[profiles]``). Event-driven: the watcher asks for PropertyNotify on the root window
and sleeps in ``select`` until the X server writes; nothing is polled. Each change yields the
focused window's WM_CLASS (instance and class) and, when the window sets ``_NET_WM_PID``, its
process name (``/proc/PID/comm``).

Wayland: not supported. Wayland has no protocol that lets an ordinary client learn which
application has the focus (only compositor-specific ones, e.g. wlroots' foreign-toplevel or
GNOME Shell extensions); X11 applications running under XWayland are not enough to follow the
focus. macOS and Windows: no backend yet. :func:`session_support` says which applies here, and
``midimon status`` shows it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FocusCallback = Callable[[tuple[str, ...]], None]


def session_support(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """{"session": "x11" | "wayland" | "none", "supported": bool, "detail": "..."}: what
    application profiles can do on this session."""
    env = dict(os.environ) if environ is None else environ
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        detail = f"no focus backend on {sys.platform} yet; profiles are ignored"
        return {"session": "none", "supported": False, "detail": detail}
    kind = env.get("XDG_SESSION_TYPE", "").lower()
    if env.get("WAYLAND_DISPLAY") or kind == "wayland":
        return {
            "session": "wayland",
            "supported": False,
            "detail": "Wayland gives clients no standard way to learn the focused application "
            "(only compositor-specific protocols); profiles are ignored",
        }
    if not env.get("DISPLAY"):
        return {"session": "none", "supported": False,
                "detail": "no DISPLAY: no X11 session to follow; profiles are ignored"}  # fmt: skip
    try:
        import Xlib  # noqa: F401  (only whether it is installed)
    except ImportError:
        return {
            "session": "x11",
            "supported": False,
            "detail": "X11, but python-xlib is not installed: pip install 'midimon[profiles]'",
        }
    return {"session": "x11", "supported": True,
            "detail": "X11: follows _NET_ACTIVE_WINDOW (EWMH), event-driven"}  # fmt: skip


class X11FocusWatcher:
    """Calls ``on_focus(names)`` on its own thread whenever the focused application changes
    (once at start with the current one). ``names``: WM_CLASS instance and class, then the
    process name when known; () when no window has the focus."""

    def __init__(self, on_focus: FocusCallback, display_name: str | None = None) -> None:
        from Xlib import X, display

        self._X = X
        self._display = display.Display(display_name)
        self._root = self._display.screen().root
        self._active_atom = self._display.intern_atom("_NET_ACTIVE_WINDOW")
        self._pid_atom = self._display.intern_atom("_NET_WM_PID")
        self._root.change_attributes(event_mask=X.PropertyChangeMask)
        self._display.flush()
        self._on_focus = on_focus
        self._wake_r, self._wake_w = os.pipe()
        self._last: tuple[str, ...] | None = None
        self._thread = threading.Thread(target=self._run, name="midimon-app-focus", daemon=True)

    def start(self) -> X11FocusWatcher:
        """Start watching."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the X connection."""
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        self._display.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def focused_names(self) -> tuple[str, ...]:
        """The focused window's WM_CLASS names and process name (() when none)."""
        from Xlib.error import XError

        prop = self._root.get_full_property(self._active_atom, self._X.AnyPropertyType)
        if prop is None or not len(prop.value) or not prop.value[0]:
            return ()
        window = self._display.create_resource_object("window", int(prop.value[0]))
        names: list[str] = []
        try:
            wm_class = window.get_wm_class()
            if wm_class:
                names += [n for n in wm_class if n]
            pid = window.get_full_property(self._pid_atom, self._X.AnyPropertyType)
        except XError:  # the window went away between the event and the question
            return ()
        if pid is not None and len(pid.value):
            with contextlib.suppress(OSError):
                names.append(Path(f"/proc/{int(pid.value[0])}/comm").read_text().strip())
        return tuple(names)

    def _report(self) -> None:
        names = self.focused_names()
        if names != self._last:
            self._last = names
            try:
                self._on_focus(names)
            except Exception:
                log.exception("application focus: the profile switch failed")

    def _run(self) -> None:
        display, fd = self._display, self._display.fileno()
        self._report()
        while True:
            changed = False
            while display.pending_events():  # also those read while answering a question
                event = display.next_event()
                if event.type == self._X.PropertyNotify and event.atom == self._active_atom:
                    changed = True
            if changed:
                self._report()
                continue
            ready, _, _ = select.select([fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
