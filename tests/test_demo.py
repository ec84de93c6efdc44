"""The README's first Quick start command ends in `midimon run --demo`: it must work."""

from __future__ import annotations

from helpers import RunMidimon


def test_run_demo_turns_midi_into_plugin_actions(run_midimon: RunMidimon) -> None:
    """The daemon on the bundled config turns the demo's notes into the bundled plugins' actions."""
    done = run_midimon("run", "--demo", "--exit-after-demo", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "running: config" in out and "demo: on the bundled config" in out
    for name in ("http_request", "file_log", "midi_transpose"):
        assert f"-> Plugin OK: {name}" in out, out
    assert "[demo HTTP server] GET /pad?note=36&velocity=100&mode=Default" in out
    assert "[midi_transpose] send_midi 90 34 7f" in out
    assert out.rstrip().endswith("midimon stopping")


def test_version(run_midimon: RunMidimon) -> None:
    """`midimon --version` names the version."""
    done = run_midimon("--version")
    assert done.returncode == 0 and done.stdout.startswith("midimon ")
