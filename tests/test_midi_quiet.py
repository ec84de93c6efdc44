"""When no MIDI API can start, commands print midimon's own words only (issue 15 item 14): the
ALSA and JACK libraries' probing lines ("ALSA lib ... snd_seq_hw_open", "Cannot connect to
server socket", "JackShmReadWritePtr") stay off stderr; outside a probe the libraries' own
handlers are back, so their messages about a running connection are not lost."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import rtmidi

from midimon import midi_quiet
from midimon.midi import MidiBackendError, list_ports

NO_SERVER = "midimon-test-no-such-server"
NOISE = ("ALSA lib", "snd_seq", "Cannot access file", "Cannot connect to server",
         "jack server is not running", "JackShmReadWritePtr")  # fmt: skip
MIDIMON_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) midimon[.\w]*: ")


@pytest.fixture
def no_midi(midimon_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """An environment where no MIDI API starts, on any machine: no JACK server by that name, and
    alsa-lib pointed at a configuration file that is not there (it then fails, noisily: "Cannot
    access file", "Unknown SEQ default", as it does without /dev/snd/seq)."""
    return {
        **midimon_env,
        "JACK_DEFAULT_SERVER": NO_SERVER,
        "JACK_NO_START_SERVER": "1",
        "ALSA_CONFIG_PATH": str(tmp_path / "no-such-alsa.conf"),
    }


def quiet(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(word in line for word in NOISE)]


@pytest.mark.skipif(sys.platform != "linux", reason="ALSA and JACK are python-rtmidi's on Linux")
def test_hooks_are_found_in_python_rtmidis_libraries() -> None:
    """Linux python-rtmidi links both libraries: all three hooks are reachable."""
    assert midi_quiet.hooks() == ["ALSA", "JACK error", "JACK info"]


def test_devices_prints_midimons_lines_only(no_midi: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "midimon", "devices"], env=no_midi, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done
    assert quiet(done.stderr) == [], done.stderr
    assert done.stderr == ""
    assert "unavailable: the alsa MIDI API could not start" in done.stdout
    assert "unavailable: the jack MIDI API could not start" in done.stdout


def test_run_warns_once_in_its_own_words(no_midi: dict[str, str], tmp_path: Path) -> None:
    """The daemon without MIDI: one warning line of midimon's, none of the libraries'."""
    daemon = subprocess.Popen(
        [sys.executable, "-m", "midimon", "run"],
        env=no_midi,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        started = daemon.stdout.readline()
        assert "running" in started, started
    finally:
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=15)
    assert quiet(stderr) == [], stderr
    # every line is a midimon log record, or an indented line of one (the plugin check's list)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert all(MIDIMON_LINE.match(line) or line.startswith("  ") for line in lines), stderr
    assert not lines or MIDIMON_LINE.match(lines[0]), stderr
    warnings = [line for line in stderr.splitlines() if "no MIDI input/output" in line]
    assert len(warnings) == 1, stderr
    assert "no MIDI API could start" in warnings[0]


def test_the_libraries_speak_again_outside_a_probe(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After midimon's probe, libjack's own handler is back: a direct client open prints."""
    monkeypatch.setenv("JACK_DEFAULT_SERVER", NO_SERVER)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(MidiBackendError, match="jack"):
        list_ports("jack")
    assert quiet(capfd.readouterr().err) == []
    with pytest.raises(rtmidi.SystemError):
        rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="bare")
    assert "Cannot connect to server" in capfd.readouterr().err
