"""The one room for loaders that skip a check: what it holds, that the facade does not hand it
out, and that what it loads runs unchecked."""

from __future__ import annotations

import pytest
from helpers import MakePlugin, RecordingHost

import midimon.plugins as facade
from midimon.plugins import hazmat
from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.loading.context import TriggerContext

CTX = TriggerContext(velocity=64, number=40, mode="Live")


def test_the_facade_does_not_export_the_unchecked_loaders() -> None:
    """``midimon.plugins`` is what the daemon and CLI use; nothing there skips verification."""
    for name in ("load_unverified", "load_image", "InProcessRunner"):
        assert hasattr(hazmat, name)
        assert name not in getattr(facade, "__all__", ())
        with pytest.raises(AttributeError):
            getattr(facade, name)


def test_load_unverified_runs_an_unsigned_binary(
    make_plugin: MakePlugin, recording_host: RecordingHost
) -> None:
    """A plugin with no signature at all loads and runs through hazmat (the manager refuses
    it: tests/plugins/manager/test_plugin_manager.py); the reason the module is kept apart."""
    manifest = load_manifest(make_plugin("unchecked"))
    plugin = hazmat.load_unverified(manifest, recording_host)
    plugin.initialize()
    try:
        assert "num=40" in plugin.execute({}, CTX)
    finally:
        plugin.shutdown()
