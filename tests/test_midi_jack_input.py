"""midimon.midi's inputs on JACK go through the native input (midimon/midi_jack.py), both for a
virtual port and a named port, and fall back to python-rtmidi when libjack cannot be loaded or
when MIDIMON_JACK_INPUT=rtmidi asks for it; a log line says which path is used."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import rtmidi
from helpers import open_jack_output, wait_for

from midimon.midi import MidiInput
from midimon.midi_jack import JackMidiIn


class Got:
    def __init__(self) -> None:
        self.events: list[tuple[bytes, int, str]] = []

    def __call__(self, data: bytes, stamp: int) -> None:
        self.events.append((data, stamp, threading.current_thread().name))


def _send_and_check(out: rtmidi.MidiOut, got: Got) -> None:
    sent = [bytes([0x90, n, 100]) for n in range(40)] + [bytes([0xB0, 7, 64])]
    before = time.monotonic_ns()
    for message in sent:
        out.send_message(list(message))
        time.sleep(0.001)
    assert wait_for(lambda: len(got.events) >= len(sent), 10), len(got.events)
    assert [e[0] for e in got.events] == sent
    stamps = [e[1] for e in got.events]
    assert stamps == sorted(stamps) and before <= stamps[0] <= time.monotonic_ns()


def test_virtual_input_on_jack_is_native(jack_server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="midimon.midi")
    got = Got()
    port = MidiInput(virtual_name="pads", api="jack", callback=got)
    try:
        assert isinstance(port._rt, JackMidiIn)
        assert "through midimon's native input" in caplog.text
        out = open_jack_output("pads")
        try:
            _send_and_check(out, got)
        finally:
            out.delete()
        counters = port.input_counters()
        assert counters is not None and counters["received"] == 41 and counters["dropped"] == 0
    finally:
        port.close()
    assert port.input_counters() is None  # closed: nothing to count
    assert {e[2] for e in got.events} == {f"midimon-jack-in:{port._rt.client_name}"}


def test_named_port_on_jack_is_native(jack_server) -> None:
    device = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="keyboard")
    device.open_virtual_port("keys")
    got = Got()
    try:
        port = MidiInput("keyboard:keys", api="jack", callback=got)
        try:
            assert isinstance(port._rt, JackMidiIn)
            assert port.is_open and port.port_name == "keyboard:keys"
            time.sleep(0.2)  # JACK drops what is sent while it is still making the connection
            _send_and_check(device, got)
        finally:
            port.close()
    finally:
        device.delete()


@pytest.mark.parametrize(
    ("variable", "value", "logged"),
    [
        ("MIDIMON_LIBJACK", "libjack-not-installed.so.0", "cannot load the JACK library"),
        ("MIDIMON_JACK_INPUT", "rtmidi", "MIDIMON_JACK_INPUT=rtmidi"),
    ],
)
def test_rtmidi_is_used_when_native_cannot_or_should_not(
    jack_server, monkeypatch, caplog, variable: str, value: str, logged: str
) -> None:
    monkeypatch.setenv(variable, value)
    caplog.set_level(logging.INFO, logger="midimon.midi")
    got = Got()
    port = MidiInput(virtual_name="pads", api="jack", callback=got)
    try:
        assert isinstance(port._rt, rtmidi.MidiIn)
        assert "JACK MIDI input through python-rtmidi" in caplog.text and logged in caplog.text
        out = open_jack_output("pads")
        try:
            _send_and_check(out, got)
        finally:
            out.delete()
    finally:
        port.close()
