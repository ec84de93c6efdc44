"""The README's first Quick start command ends in `python -m midimon.demo`: it must work."""

from __future__ import annotations

import subprocess
import sys

from conftest import RunMidimon


def test_demo_turns_midi_into_plugin_actions(midimon_env: dict[str, str], tmp_path) -> None:
    """Every mapped note reaches its bundled plugin and each action's effect is shown."""
    done = subprocess.run(
        [sys.executable, "-m", "midimon.demo"],
        env=midimon_env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for name in ("http_request", "file_log", "midi_transpose"):
        assert f"-> plugin {name}: OK" in out, out
    assert "HTTP server received: POST /pad?note=36&vel=100" in out
    assert "file_log wrote: {" in out
    assert "send_midi -> note_on channel=1 note=47 velocity=127" in out


def test_version(run_midimon: RunMidimon) -> None:
    """`midimon --version` names the version."""
    done = run_midimon("--version")
    assert done.returncode == 0 and done.stdout.startswith("midimon ")
