"""Fixtures for the control panel tests (defined in tests/panel_harness.py)."""

from panel_harness import chromium, jack_env, ui_env, ui_root

__all__ = ["chromium", "jack_env", "ui_env", "ui_root"]
