"""End to end through real MIDI: a JACK dummy server, `midimon run`, and a test "controller"."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rtmidi
from helpers import RunMidimon, open_jack_output, wait_for

CONFIG = """
[device]
virtual_port = "midimon-e2e"

[advanced_settings]
hold_threshold_ms = 200

[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Shell", argv = ["sh", "-c", "echo pad36 >> {hits}"] }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}", pad = 40 }} }}
[[modes.mappings]]
trigger = {{ type = "LongPress", note = 41 }}
action = {{ type = "Shell", argv = ["sh", "-c", "echo long41 >> {hits}"] }}
[[modes.mappings]]
trigger = {{ type = "NoteChord", notes = [48, 52, 55] }}
action = {{ type = "Shell", argv = ["sh", "-c", "echo chord >> {hits}"] }}
[[modes.mappings]]
trigger = {{ type = "CC", controller = 7, value_min = 64 }}
action = {{ type = "SendMidi", messages = [
  {{ type = "note_on", channel = 2, note = 61, velocity = 99 }},
] }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 60 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ semitones = 12 }} }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 38 }}
action = {{ type = "ModeChange", mode = "Second" }}

[[modes]]
name = "Second"
"""


@pytest.fixture
def e2e(jack_server, start_daemon, tmp_path: Path, midimon_env: dict[str, str]):
    """`midimon run` on a JACK virtual port, plus the test's controller output and listener."""
    env = {**midimon_env, **jack_server.env}
    (tmp_path / "files").mkdir()  # tmp_path itself holds midimon's state: not grantable
    hits, log = tmp_path / "hits.txt", tmp_path / "files" / "pads.jsonl"
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(hits=hits, log=log))
    grant = subprocess.run(
        [sys.executable, "-m", "midimon", "plugins", "grant", "file_log", "filesystem",
         "--write", str(log.parent)], env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert grant.returncode == 0, grant.stderr
    start_daemon(config.read_text(), env)
    controller = open_jack_output("midimon-e2e")
    listener = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="listener")
    received: list[list[int]] = []
    listener.set_callback(lambda event, _: received.append(event[0]))
    try:
        assert wait_for(lambda: any("midimon-e2e out" in p for p in listener.get_ports()), 30)
        listener.open_port(next(i for i, p in enumerate(listener.get_ports())
                                if "midimon-e2e out" in p))  # fmt: skip
        time.sleep(0.2)
        yield controller, received, hits, log, env
    finally:
        controller.delete()
        listener.delete()


def test_midi_reaches_actions(e2e, run_midimon: RunMidimon) -> None:
    """Notes, a long press, a chord and a CC sent over JACK fire their actions in the daemon;
    SendMidi and a plugin's brokered send_midi come out of its output port."""
    controller, received, hits, log, env = e2e
    controller.send_message([0x90, 36, 100])
    controller.send_message([0x80, 36, 0])
    assert wait_for(lambda: hits.exists() and "pad36" in hits.read_text())

    controller.send_message([0x90, 40, 90])
    assert wait_for(lambda: log.exists() and log.read_text().count("\n") == 1)
    line = json.loads(log.read_text())
    assert line["params"]["pad"] == 40
    assert (line["context"]["note"], line["context"]["velocity"]) == (40, 90)

    controller.send_message([0x90, 41, 100])
    time.sleep(0.4)
    controller.send_message([0x80, 41, 0])
    assert wait_for(lambda: "long41" in hits.read_text())

    for note in (55, 48, 52):
        controller.send_message([0x90, note, 80])
    assert wait_for(lambda: "chord" in hits.read_text())

    controller.send_message([0xB0, 7, 10])  # below value_min: nothing
    controller.send_message([0xB0, 7, 100])
    assert wait_for(lambda: [0x92, 61, 99] in received)
    assert received.count([0x92, 61, 99]) == 1

    controller.send_message([0x90, 60, 70])  # the Zig plugin's send_midi -> the daemon's output
    assert wait_for(lambda: [0x90, 72, 70] in received and [0x80, 72, 0] in received)

    controller.send_message([0x90, 38, 100])

    def mode() -> str:
        done = subprocess.run([sys.executable, "-m", "midimon", "status", "--json"], env=env,
                              capture_output=True, text=True)  # fmt: skip
        return json.loads(done.stdout)["mode"] if done.returncode == 0 else "?"

    assert wait_for(lambda: mode() == "Second")
    # STATUS carries the native JACK input's counters: everything sent arrived, its ring
    # dropped nothing (a full ring's drops would show here, not vanish).
    done = subprocess.run([sys.executable, "-m", "midimon", "status", "--json"], env=env,
                          capture_output=True, text=True)  # fmt: skip
    midi_input = json.loads(done.stdout)["midi_input"]
    assert midi_input["received"] >= 12 and midi_input["dropped"] == 0, midi_input
    text = subprocess.run([sys.executable, "-m", "midimon", "status"], env=env,
                          capture_output=True, text=True).stdout  # fmt: skip
    assert "midi_input" in text and "dropped 0" in text
