"""Per-application profiles: which mode the focused application asks for, and back.

A mode with ``apps = ["firefox", "Code"]`` is that application's profile. The names are
matched, case-insensitively, against what the platform says about the focused window: on X11
its WM_CLASS instance and class and its process name (``midimon.daemon.app_focus``).

Switching rule: when an application with a profile gains focus, the daemon switches to its
mode and remembers the mode it left; when the focus moves to an application without one, it
goes back to that mode, unless the user changed mode meanwhile (then the user's choice
stays). This module decides; the daemon switches (under its engine lock).
"""

from __future__ import annotations

from collections.abc import Sequence

from midimon.engine.config import Config

__all__ = ["AppProfiles", "profile_mode"]


def profile_mode(config: Config, names: Sequence[str]) -> str | None:
    """The first mode (file order) whose ``apps`` names one of ``names``, or None."""
    wanted = {n.casefold() for n in names if n}
    for mode in config.modes:
        if any(app.casefold() in wanted for app in mode.apps):
            return mode.name
    return None


class AppProfiles:
    """The switching state: the mode a profile left and the one it set."""

    def __init__(self) -> None:
        self.focused: tuple[str, ...] = ()
        self.base: str | None = None  # the mode before a profile took over
        self.active: str | None = None  # the mode the profile switched to
        self.switches = 0

    def decide(self, config: Config, current: str, names: Sequence[str]) -> str | None:
        """The mode to switch to now that ``names`` has focus (None: stay in ``current``)."""
        self.focused = tuple(names)
        target = profile_mode(config, names)
        if target is not None:
            if self.active is None or current != self.active:
                self.base = current  # first profile, or the user moved: come back here
            self.active = target
            return self._switch(current, target)
        if self.active is None:
            return None
        back, still_ours = self.base, current == self.active
        self.active = self.base = None
        if not still_ours or back is None or back not in config.mode_names:
            return None
        return self._switch(current, back)

    def _switch(self, current: str, target: str) -> str | None:
        if target == current:
            return None
        self.switches += 1
        return target
