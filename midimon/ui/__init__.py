"""The browser control panel: a local web server (its own process) that is a client of the
daemon's control socket, like the CLI, and serves the built Svelte app from ``static/``."""

from __future__ import annotations

from midimon.ui.runtime_file import PanelRecord, read_running_panel

__all__ = ["PanelRecord", "read_running_panel"]
