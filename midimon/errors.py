"""The root of every error midimon raises on purpose, and the errors of the top-level modules.

Every exception midimon means a user to see derives from :class:`MidimonError`, so a caller
(the CLI above all) can catch them all in one place. Each package keeps its own in one module:
``midimon.plugins.errors``, ``midimon.engine.errors``, ``midimon.daemon.errors``; the CLI's
one error is ``midimon.cli.common.CliError``. The modules that sit directly in ``midimon/``
(``midi.py``, ``midi_jack.py``, ``scaffold.py``) have theirs here: they are part of this
package, not a package of their own, and a separate module for five MIDI classes would be a
third top-level MIDI file. The old import paths (``midimon.midi.MidiError``, ...) still work.

A few exceptions are not errors a user sees but control flow inside one module (a stream
that ended, a connection to drop); those stay beside the code that raises and catches them,
and say so.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The CLI's exit status for an error that does not say otherwise (usage, I/O or load error;
#: the same value as ``midimon.cli.common.EXIT_USAGE``).
DEFAULT_EXIT_STATUS = 2


class MidimonError(Exception):
    """Base of every error midimon raises on purpose.

    ``exit_status`` is the status ``midimon`` exits with when this error ends a command;
    ``hints`` are lines printed after the message (a fix, a command to try), if any.
    """

    @property
    def exit_status(self) -> int:
        """The CLI exit status for this error (2 unless a subclass says otherwise)."""
        return DEFAULT_EXIT_STATUS

    @property
    def hints(self) -> tuple[str, ...]:
        """Lines to print after the message, like ``fix: ...`` (none by default)."""
        return ()


# --- MIDI ports (midimon.midi, midimon.midi_jack) --------------------------------------------


class MidiError(MidimonError, OSError):
    """A MIDI port or backend problem."""


class MidiBackendError(MidiError):
    """No usable MIDI API: not compiled in, or it failed to start (no JACK server, no ALSA)."""


class PortNotFoundError(MidiError):
    """No port matched ``pattern``; ``available`` lists the port names that were there."""

    def __init__(self, direction: str, pattern: str, api: str, available: Sequence[str]) -> None:
        self.direction = direction
        self.pattern = pattern
        self.api = api
        self.available = tuple(available)
        listed = ", ".join(f"{i}: {name!r}" for i, name in enumerate(available)) or "none"
        super().__init__(
            f"no MIDI {direction} port matches {pattern!r} ({api}; tried exact name, "
            f"case-insensitive substring, regex); available {direction}s: {listed}"
        )


class PortClosedError(MidiError):
    """The port is closed, or its device is currently disconnected."""


class JackUnavailableError(MidimonError, OSError):
    """The native JACK input cannot be used here: library not built, or libjack not loadable,
    or no JACK server. The message says which. midimon.midi catches it to fall back to
    python-rtmidi's input (an OSError as before, not a MidiError)."""


# --- plugin scaffolding (midimon.scaffold) ----------------------------------------------------


class ScaffoldError(MidimonError, ValueError):
    """A bad name, capability or target folder; the message says which and why."""


__all__ = [
    "DEFAULT_EXIT_STATUS",
    "JackUnavailableError",
    "MidiBackendError",
    "MidiError",
    "MidimonError",
    "PortClosedError",
    "PortNotFoundError",
    "ScaffoldError",
]
