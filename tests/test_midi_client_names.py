"""The daemon's JACK ports have the names README gives them (issue 15 item 9): the virtual input
``midimon:midimon`` and the virtual output ``midimon-out:midimon out``, on a real JACK server,
and SendMidi's messages come out of that output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import rtmidi
from helpers import REPO, open_jack_output, require_tool, wait_for

# Backticked JACK/ALSA port names of midimon's own clients in README ("midimon:midimon", ...).
DOCUMENTED = re.compile(r"`(midimon(?:-[a-z]+)?:[^`<>]+)`")


def documented_port_names() -> set[str]:
    return set(DOCUMENTED.findall((REPO / "README.md").read_text("utf-8")))


def jack_ports(env: dict[str, str]) -> list[str]:
    done = subprocess.run([require_tool("jack_lsp")], env=env, capture_output=True, text=True,
                          timeout=10, check=True)  # fmt: skip
    return done.stdout.splitlines()


def test_readme_names_the_input_and_the_output() -> None:
    assert documented_port_names() == {"midimon:midimon", "midimon-out:midimon out"}


def test_daemon_ports_have_the_documented_names_and_sendmidi_uses_the_output(
    jack_server, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """`midimon run` on a JACK dummy server: jack_lsp lists exactly the README's names for the
    daemon's ports (no "midimon-01"), and a note mapped to SendMidi arrives at a reader
    connected to "midimon-out:midimon out" by that exact name."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
        'trigger = { type = "Note", note = 40 }\n'
        'action = { type = "SendMidi", messages = [{ type = "note_on", note = 52, '
        "velocity = 99 }] }\n"
    )
    env = {**midimon_env, **jack_server.env}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "midimon", "run", "--config", str(config)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    reader = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="reader")
    player = None
    try:
        documented = documented_port_names()
        assert wait_for(lambda: documented <= set(jack_ports(env)) or daemon.poll() is not None,
                        30), jack_ports(env)  # fmt: skip
        assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
        ours = [p for p in jack_ports(env) if p.startswith("midimon")]
        assert sorted(ours) == sorted(documented), ours

        received: list[list[int]] = []
        reader.set_callback(lambda event, _data: received.append(event[0]))
        sources = reader.get_ports()
        reader.open_port(sources.index("midimon-out:midimon out"), name="in")
        player = open_jack_output("midimon:midimon")
        player.send_message([0x90, 40, 100])
        assert wait_for(lambda: [0x90, 52, 99] in received, 10), received
    finally:
        if player is not None:
            player.delete()
        reader.delete()
        daemon.terminate()
        daemon.wait(15)
