"""midimon.daemon.midi_device on a private JACK dummy server: a new [device] name switches the
input to the other controller with no restart, an absent controller is waited for (and opened
when it appears), an unchanged [device] touches nothing, and the port listing marks the
configured, connected and own ports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from helpers import SETTLE, device_out, recorder, wait_for

from midimon.daemon.midi_device import MidiDevice, is_own_port, ports_by_api
from midimon.engine.config import DeviceSettings


def opened(cleanup: list[Any], name: str | None, **kwargs: Any) -> tuple[MidiDevice, list[Any]]:
    """A MidiDevice on ``name`` (watcher polling every 50 ms) and the messages it fed."""
    got, _, callback = recorder()
    device = MidiDevice(callback, DeviceSettings(name=name), watch_interval=0.05, **kwargs)
    cleanup.append(device.close)
    device.open()
    time.sleep(SETTLE)
    return device, got


def test_a_new_name_switches_the_input_to_the_other_controller(cleanup: list[Any]) -> None:
    """Notes from pads B reach the daemon only once [device] names B; A's no longer do."""
    pads_a = device_out(cleanup, "out", client="padsA")
    pads_b = device_out(cleanup, "out", client="padsB")
    published: list[dict[str, Any]] = []
    switched: list[Any] = []
    device, got = opened(cleanup, "padsA:out", publish=published.append,
                         on_switch=switched.append)  # fmt: skip
    assert device.status()["port"] == "padsA:out" and device.status()["connected"]
    pads_a.send_message([0x90, 1, 1])
    pads_b.send_message([0x90, 2, 2])
    assert wait_for(lambda: len(got) == 1)

    answer = device.follow(DeviceSettings(name="padsB:out"))
    assert answer is not None and answer["switched"] and "warning" not in answer
    assert answer["port"] == "padsB:out" and answer["connected"] and answer["switches"] == 1
    assert switched == [device.input] and published[-1]["change"] == "switched"
    time.sleep(SETTLE)
    pads_a.send_message([0x90, 3, 3])
    pads_b.send_message([0x90, 4, 4])
    assert wait_for(lambda: len(got) == 2)
    time.sleep(SETTLE)
    assert [data for data, _ in got] == [b"\x90\x01\x01", b"\x90\x04\x04"]


def test_an_unchanged_device_is_left_alone(cleanup: list[Any]) -> None:
    """A reload with the same [device] returns None and keeps the very same input."""
    device_out(cleanup, "out", client="padsA")
    device, _ = opened(cleanup, "padsA:out")
    port = device.input
    assert device.follow(DeviceSettings(name="padsA:out")) is None
    assert device.input is port and device.switches == 0


def test_an_absent_controller_is_waited_for_and_opened_when_it_appears(
    cleanup: list[Any],
) -> None:
    """Switching to a controller not plugged in keeps the daemon's input waiting (a clear
    warning, not the virtual port); plugged in, the watcher opens it and its notes arrive."""
    device_out(cleanup, "out", client="padsA")
    published: list[dict[str, Any]] = []
    device, got = opened(cleanup, "padsA:out", publish=published.append)
    answer = device.follow(DeviceSettings(name="later:out"))
    assert answer is not None
    assert answer["waiting"] and not answer["connected"] and not answer["virtual"]
    assert "'later:out' not found on jack" in answer["warning"]
    assert device.status()["error"] == answer["warning"]

    later = device_out(cleanup, "out", client="later")
    assert wait_for(lambda: device.status()["connected"], 10)
    assert device.status()["error"] is None and published[-1]["change"] == "connected"
    time.sleep(SETTLE)
    later.send_message([0x90, 5, 5])
    assert wait_for(lambda: len(got) == 1)


def test_no_name_means_the_virtual_port(cleanup: list[Any]) -> None:
    """A switch to [device] without a name opens the virtual port, as at start-up."""
    device_out(cleanup, "out", client="padsA")
    device, _ = opened(cleanup, "padsA:out")
    answer = device.follow(DeviceSettings(name=None, virtual_port="midimon-v"))
    assert answer is not None and answer["virtual"] and answer["port"] == "midimon-v"
    assert "warning" not in answer


def test_the_listing_marks_configured_connected_and_own_ports(cleanup: list[Any]) -> None:
    """ports_by_api: JACK's inputs with the one [device] names, the one the input reads, and
    midimon's own ports set apart."""
    device_out(cleanup, "out", client="padsA")
    device_out(cleanup, "out", client="padsB")
    device, _ = opened(cleanup, "padsB")
    jack = next(entry for entry in ports_by_api(device) if entry["api"] == "jack")
    rows = {port["name"]: port for port in jack["inputs"]}
    assert rows["padsB:out"]["configured"] and rows["padsB:out"]["connected"]
    assert not rows["padsA:out"]["configured"] and not rows["padsA:out"]["connected"]
    assert rows["midimon-out:midimon out"]["own"] and not rows["padsA:out"]["own"]
    assert rows["padsA:out"]["choose"] == "padsA:out"  # JACK names have no ALSA numbers


def test_own_ports_are_those_of_midimon_clients() -> None:
    """Clients "midimon" and "midimon-*" are midimon's; "midimonster" is not."""
    assert is_own_port("midimon:midimon") and is_own_port("midimon-feedback:x")
    assert not is_own_port("midimonster:out") and not is_own_port("padsA:out")


FEEDBACK_CONFIG = """
[device]
name = "{name}"
virtual_port = "midimon-fb"

[feedback]
enabled = true

[[modes]]
name = "Play"
color = "red"
[[modes.mappings]]
trigger = {{ type = "Note", note = 0 }}
action = {{ type = "Delay", ms = 0 }}
"""


@pytest.mark.slow
def test_led_feedback_follows_the_switch(
    cleanup: list[Any], jack_server: Any, start_daemon: Any, midimon_env: dict[str, str]
) -> None:
    """A running daemon switched from a controller no template knows to an APC mini mk2 (by
    its port name): LED feedback starts on the APC's own output, every pad lit."""
    import rtmidi

    env = {**midimon_env, **jack_server.env}
    device_out(cleanup, "out", client="padsA")
    apc_pads = device_out(cleanup, "out", client="APC mini mk2 Control")
    leds: list[list[int]] = []
    apc_leds = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="APC mini mk2 Control")
    apc_leds.open_virtual_port("leds")
    apc_leds.set_callback(lambda event, _: leds.append(event[0]))
    cleanup.append(apc_leds.delete)
    proc, config = start_daemon(FEEDBACK_CONFIG.format(name="padsA:out"), env)
    before = daemon_status(env, config.parent)
    assert before["device"]["port"] == "padsA:out" and before["feedback"]["template"] is None

    config.write_text(FEEDBACK_CONFIG.format(name="APC mini mk2 Control:out"))
    reloaded = subprocess.run([sys.executable, "-m", "midimon", "reload"], env=env,
                              cwd=config.parent, capture_output=True, text=True)  # fmt: skip
    assert reloaded.returncode == 0, reloaded.stderr
    assert wait_for(lambda: daemon_status(env, config.parent)["feedback"]["connected"], 15)
    after = daemon_status(env, config.parent)
    assert after["device"]["port"] == "APC mini mk2 Control:out"
    assert after["feedback"]["template"] == "apc-mini-mk2"
    assert after["feedback"]["output"].startswith("APC mini mk2 Control")
    assert wait_for(lambda: len({m[1] for m in leds}) == 64, 15)  # every pad of the 8x8 grid
    time.sleep(SETTLE)
    apc_pads.send_message([0x90, 0, 127])  # a press on the new controller lights its pad
    assert wait_for(lambda: [0x96, 0, 3] in leds, 5), leds[-3:]  # white: a hard press
    assert proc.poll() is None


def daemon_status(env: dict[str, str], cwd: Any) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "midimon", "status", "--json"], env=env,
                          cwd=cwd, capture_output=True, text=True)  # fmt: skip
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
