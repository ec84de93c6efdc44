"""The control panel's exceptions; ``midimon.ui.server`` re-exports PanelError."""

from __future__ import annotations

from midimon.errors import MidimonError


class PanelError(MidimonError):
    """The panel could not start (its port, its runtime folder)."""


class ConfigEditError(MidimonError):
    """The editor cannot turn the page's config into the file (not TOML, not a table)."""
