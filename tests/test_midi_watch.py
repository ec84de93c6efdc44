"""midimon.midi_watch through a real JACK server (dummy backend): the PortWatcher notices a
device unplugged and plugged back in, and reopens inputs and outputs."""

from __future__ import annotations

import queue
import time

import pytest
import rtmidi  # the tests play the MIDI device with rtmidi directly
from helpers import SETTLE, device_out, open_input, recorder, wait_for

from midimon.midi import MidiInput, MidiOutput, PortClosedError
from midimon.midi_watch import PortWatcher

Events = queue.Queue[tuple[str, str]]


def watch(cleanup, port: MidiInput | MidiOutput) -> tuple[PortWatcher, Events]:
    """A started PortWatcher on ``port`` polling every 50 ms, and the queue its hooks fill."""
    events: Events = queue.Queue()
    watcher = PortWatcher(
        [port],
        interval=0.05,
        on_connect=lambda name: events.put(("connect", name)),
        on_disconnect=lambda name: events.put(("disconnect", name)),
    )
    cleanup.append(watcher.stop)
    # The first round registers the watcher's own JACK clients; events sent while JACK
    # reorders its graph for a new client can be lost, so let that settle first.
    watcher.poll_once()
    time.sleep(SETTLE)
    watcher.start()
    return watcher, events


def test_watcher_reconnects_a_device_that_comes_back(cleanup) -> None:
    """The device's port vanishes and returns: hooks fire, the input reopens, events flow."""
    got, _, callback = recorder()
    device = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="device")
    device.open_virtual_port("ctrl")
    port = open_input(cleanup, "device:ctrl", callback=callback)
    watcher, events = watch(cleanup, port)
    device.send_message([0x90, 1, 1])
    assert wait_for(lambda: len(got) == 1)

    device.delete()  # unplugged
    assert events.get(timeout=5) == ("disconnect", "device:ctrl")
    assert not port.is_open

    device = device_out(cleanup, "ctrl")  # plugged back in
    assert events.get(timeout=5) == ("connect", "device:ctrl")
    assert port.is_open
    time.sleep(SETTLE)
    device.send_message([0x90, 2, 2])
    assert wait_for(lambda: len(got) == 2)
    assert [data for data, _ in got] == [b"\x90\x01\x01", b"\x90\x02\x02"]
    watcher.stop()
    assert watcher._thread is None
    assert events.empty()


def test_watcher_opens_a_device_plugged_in_later(cleanup) -> None:
    """missing_ok: the input waits for its pattern; the watcher opens it when it appears."""
    got, _, callback = recorder()
    port = open_input(cleanup, "late dev", callback=callback, missing_ok=True)
    _, events = watch(cleanup, port)
    device = device_out(cleanup, "Late Device port", client="hw")
    assert events.get(timeout=5) == ("connect", "hw:Late Device port")
    time.sleep(SETTLE)
    device.send_message([0xB0, 1, 2])
    assert wait_for(lambda: len(got) == 1)


def test_watcher_reconnects_an_output(cleanup) -> None:
    """An output whose listener vanishes refuses to send, then sends again once it is back."""
    synth = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="synth")
    synth.open_virtual_port("in")
    out = MidiOutput("synth:in", api="jack")
    cleanup.append(out.close)
    _, events = watch(cleanup, out)
    synth.delete()
    assert events.get(timeout=5) == ("disconnect", "synth:in")
    with pytest.raises(PortClosedError, match="disconnected"):
        out.send(b"\x90\x01\x01")
    got: list[bytes] = []
    synth = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="synth")
    synth.set_callback(lambda event, _: got.append(bytes(event[0])))
    synth.open_virtual_port("in")
    cleanup.append(synth.delete)
    assert events.get(timeout=5) == ("connect", "synth:in")
    time.sleep(SETTLE)
    out.send(b"\x90\x02\x02")
    assert wait_for(lambda: got == [b"\x90\x02\x02"])
