"""The control panel's one exception; ``midimon.ui.server`` re-exports it."""

from __future__ import annotations

from midimon.errors import MidimonError


class PanelError(MidimonError):
    """The panel could not start (its port, its runtime folder)."""
