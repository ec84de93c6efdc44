"""The private JACK dummy server the MIDI tests and the benchmarks share."""

from __future__ import annotations

import subprocess

import pytest
from helpers import require_tool

from midimon.devtools.jack_server import JackServer, JackToolMissing


def test_missing_jackd_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Without jackd on PATH the server is refused up front, naming the tool and its package."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JackToolMissing) as info:
        JackServer()
    assert info.value.tool == "jackd"
    assert "jackd2" in str(info.value)


def test_server_starts_private_and_stops() -> None:
    """A started server answers jack_wait under its own name only, and is gone after stop()."""
    require_tool("jackd")
    require_tool("jack_wait")
    first, second = JackServer(), JackServer()
    assert first.name != second.name
    assert first.env["JACK_DEFAULT_SERVER"] == first.name
    assert first.env["JACK_NO_START_SERVER"] == "1"
    with first:
        assert first.is_running()
        assert not second.is_running()  # the other name has no server behind it
        assert first.process is not None and first.process.poll() is None
        assert "dummy" in first.command
    assert first.process.poll() is not None
    done = subprocess.run(
        [first.jack_wait, "-s", first.name, "-c"], capture_output=True, text=True, timeout=10
    )
    assert done.stdout.strip() != "running"
