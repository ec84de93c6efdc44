"""LED feedback end to end: a real daemon on a private JACK server sends exactly the bytes the
APC mini mk2 template prescribes to a JACK client standing in for the controller, on start,
press, release, toggle, mode change and reconnect; a missing output is one warning."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rtmidi
from helpers import open_jack_output, wait_for

#: The APC mini mk2's pads in the template's reading order (top-left first; 0 is bottom-left).
APC_PADS = [8 * row + col for row in range(7, -1, -1) for col in range(8)]
WHITE, RED, BLUE, OFF = 3, 5, 45, 0  # palette values from the template
FULL = 0x96  # Note On, channel 7: solid at 100%

CONFIG = """
[device]
virtual_port = "midimon-fb"

[feedback]
enabled = true
template = "apc-mini-mk2"
output = "{output}"

[[modes]]
name = "Play"
color = "red"
[[modes.mappings]]
trigger = {{ type = "Note", note = 0, channel = 0 }}
action = {{ type = "Delay", ms = 0 }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 7 }}
action = {{ type = "ModeChange", mode = "next" }}
[[modes.mappings]]
led = "toggle"
trigger = {{ type = "Note", note = 56 }}
action = {{ type = "Delay", ms = 0 }}

[[modes]]
name = "Edit"
color = "blue"
[[modes.mappings]]
trigger = {{ type = "Note", note = 1 }}
action = {{ type = "ModeChange", mode = "Play" }}
"""


def frame(lit: dict[int, int]) -> list[list[int]]:
    """Every pad of the device, in template order: ``lit`` pads in their colour, others off."""
    return [[FULL, pad, lit.get(pad, OFF)] for pad in APC_PADS]


class Device:
    """The controller's LED input: a JACK client with an input port ``fbdev:leds``."""

    def __init__(self) -> None:
        self.received: list[list[int]] = []
        self.port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="fbdev")
        self.port.open_virtual_port("leds")
        self.port.set_callback(lambda event, _: self.received.append(event[0]))

    def take(self, count: int, timeout: float = 30) -> list[list[int]]:
        """The next ``count`` messages (waits for them), and nothing more after a moment."""
        assert wait_for(lambda: len(self.received) >= count, timeout), self.received
        time.sleep(0.2)
        got, self.received = self.received[:], []
        assert len(got) == count, got
        return got

    def close(self) -> None:
        self.port.delete()


def status(env: dict[str, str], cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "midimon", "status", "--json"],
                          env=env, cwd=cwd, capture_output=True, text=True)  # fmt: skip
    return json.loads(done.stdout)


@pytest.mark.slow
def test_leds_follow_start_presses_toggles_modes_and_reconnects(
    jack_server, start_daemon, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """Exactly the template's bytes, in order, for every kind of LED change."""
    env = {**midimon_env, **jack_server.env}
    device = Device()
    controller = None
    try:
        start_daemon(CONFIG.format(output="fbdev:leds"), env)
        play = {0: RED, 7: RED, 56: RED}
        assert device.take(64) == frame(play)  # start: the Play mode's pads in red
        controller = open_jack_output("midimon-fb")

        controller.send_message([0x90, 0, 127])  # hard press: white at full brightness
        assert device.take(1) == [[FULL, 0, WHITE]]
        controller.send_message([0x80, 0, 64])  # release: back to the mode colour
        assert device.take(1) == [[FULL, 0, RED]]
        controller.send_message([0x90, 0, 20])  # soft press: channel 2 (25%)
        controller.send_message([0x90, 0, 0])  # Note On velocity 0 is a release
        assert device.take(2) == [[0x91, 0, WHITE], [FULL, 0, RED]]

        controller.send_message([0x90, 30, 100])  # an unmapped pad: no LED change
        controller.send_message([0x80, 30, 0])
        for _ in range(2):  # the toggle: on (press colour) after the first, off after the second
            controller.send_message([0x90, 56, 127])
            controller.send_message([0x80, 56, 0])
        assert device.take(4) == [[FULL, 56, WHITE], [FULL, 56, WHITE],
                                  [FULL, 56, WHITE], [FULL, 56, RED]]  # fmt: skip

        controller.send_message([0x90, 7, 127])  # ModeChange: the press, then the Edit frame
        assert device.take(65) == [[FULL, 7, WHITE], *frame({1: BLUE})]
        controller.send_message([0x80, 7, 0])  # pad 7 is not mapped in Edit: dark
        assert device.take(1) == [[FULL, 7, OFF]]
        info = status(env, tmp_path)
        assert info["mode"] == "Edit"
        assert info["feedback"]["template"] == "apc-mini-mk2"
        assert info["feedback"]["connected"] is True

        lit = subprocess.run([sys.executable, "-m", "midimon", "led", "56", "purple"], env=env,
                             cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
        assert lit.returncode == 0, lit.stderr
        assert device.take(1) == [[FULL, 56, 49]]  # outside state, until the next frame
        bad = subprocess.run([sys.executable, "-m", "midimon", "led", "99", "red"], env=env,
                             cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
        assert bad.returncode != 0 and "has no pad 99" in bad.stderr

        device.close()  # the controller goes away and comes back: every LED again
        # The watcher polls once a second: wait until the daemon has seen it go (a loaded
        # machine can delay a poll past any fixed sleep), then bring it back.
        assert wait_for(lambda: status(env, tmp_path)["feedback"]["connected"] is False, 30)
        device = Device()
        assert device.take(64, timeout=30) == frame({1: BLUE})
    finally:
        if controller is not None:
            controller.delete()
        device.close()


def test_a_missing_output_is_one_warning(
    jack_server, start_daemon, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """No port matches [feedback] output: one warning, however many presses; MIDI still runs."""
    env = {**midimon_env, **jack_server.env}
    proc, _ = start_daemon(CONFIG.format(output="no-such-controller"), env)
    controller = open_jack_output("midimon-fb")
    try:
        for _ in range(5):
            controller.send_message([0x90, 0, 100])
            controller.send_message([0x80, 0, 0])
        assert wait_for(lambda: status(env, tmp_path)["midi_in"] == 10, 10)
        assert status(env, tmp_path)["feedback"]["connected"] is False
    finally:
        controller.delete()
    proc.terminate()
    _, stderr = proc.communicate(timeout=15)
    warnings = [line for line in stderr.splitlines() if "LED feedback" in line]
    assert len(warnings) == 1, stderr
    assert "no-such-controller" in warnings[0]
