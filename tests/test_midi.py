"""midimon.midi through a real JACK server (dummy backend): ports, messages, patterns; the
reconnect thread is tested in test_midi_watch.py."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time

import pytest
import rtmidi  # the tests play the MIDI device with rtmidi directly
from helpers import SETTLE, device_out, open_input, recorder, wait_for

from midimon.midi import (
    MidiBackendError,
    MidiError,
    MidiInput,
    MidiOutput,
    PortClosedError,
    PortNotFoundError,
    compiled_apis,
    list_ports,
    match_port,
    stable_port_name,
)

Received = list[tuple[bytes, int]]


def connect_out(cleanup, pattern: str) -> rtmidi.MidiOut:
    """A test rtmidi output connected to the JACK input port matching ``pattern``."""
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="tester")
    cleanup.append(out.delete)
    index = match_port(pattern, out.get_ports())
    assert index is not None, out.get_ports()
    out.open_port(index)
    time.sleep(SETTLE)
    return out


def test_jack_api_is_compiled_in() -> None:
    """The installed python-rtmidi has the JACK API (the tests and most Linux setups need it)."""
    assert "jack" in compiled_apis()


def test_match_port_order() -> None:
    """Exact name first, then case-insensitive substring, then regex; ALSA numbers ignored."""
    names = ["Midi Through:Midi Through Port-0 14:0", "nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0"]
    assert match_port("nanoKONTROL2:nanoKONTROL2 MIDI 1", names) == 1
    assert match_port("nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0", names) == 1
    assert match_port("THROUGH", names) == 0
    assert match_port(r"nano\w+2", names) == 1
    assert match_port("kontrol[", names) is None  # a bad regex is no match, not an error
    assert match_port("Launchpad", names) is None
    assert match_port("Port", ["Port 2", "Port"]) == 1  # exact beats an earlier substring


def test_stable_port_name_drops_alsa_numbers_only() -> None:
    """What [device] name keeps of a port: ALSA's changing client:port numbers go, a JACK
    "client:port" name stays whole."""
    assert stable_port_name("nanoPAD2:nanoPAD2 nanoPAD2 _ CTRL 20:0") == (
        "nanoPAD2:nanoPAD2 nanoPAD2 _ CTRL"
    )
    assert stable_port_name("padsA:out") == "padsA:out"


def test_list_ports_sees_jack_ports(cleanup) -> None:
    """list_ports("jack") lists other clients' MIDI ports as inputs and outputs, with indexes."""
    device_out(cleanup, "pads")
    listener = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="synth")
    listener.open_virtual_port("in")
    cleanup.append(listener.delete)
    ports = list_ports("jack")
    assert ports.api == "jack"
    assert "device:pads" in [p.name for p in ports.inputs]
    assert "synth:in" in [p.name for p in ports.outputs]
    assert [p.index for p in ports.inputs] == list(range(len(ports.inputs)))
    assert "jack" in ports.compiled_apis


def test_input_receives_every_message_in_order(cleanup) -> None:
    """Note on/off, CC, pitch bend and a 1,000-message burst all arrive, in order, timestamped."""
    got, _, callback = recorder()
    port = open_input(cleanup, None, virtual_name="in", callback=callback)
    assert port.is_open and port.is_virtual and port.port_name == "in"
    out = connect_out(cleanup, "midimon:in")
    sent = [bytes([0x90, 60, 100]), bytes([0x80, 60, 0]), bytes([0xB3, 7, 127]), b"\xe0\x00\x40"]
    sent += [bytes([0xB0, 20 + i // 128, i % 128]) for i in range(1000)]
    before = time.monotonic_ns()
    for message in sent:
        out.send_message(message)
    assert wait_for(lambda: len(got) >= len(sent)), f"{len(got)} of {len(sent)} arrived"
    time.sleep(0.05)  # nothing extra trickles in
    assert [data for data, _ in got] == sent
    stamps = [stamp for _, stamp in got]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] <= time.monotonic_ns()


def test_input_ignores_clock_and_active_sensing(cleanup) -> None:
    """Timing clock and active sensing are filtered by default; ignore_types can let them in."""
    got, _, callback = recorder()
    port = open_input(cleanup, None, virtual_name="in", callback=callback)
    out = connect_out(cleanup, "midimon:in")
    for message in ([0xF8], [0xFE], [0x90, 1, 1]):
        out.send_message(message)
    assert wait_for(lambda: len(got) >= 1)
    time.sleep(0.05)
    assert [data for data, _ in got] == [b"\x90\x01\x01"]
    port.ignore_types(timing=False)
    out.send_message([0xF8])
    assert wait_for(lambda: len(got) >= 2)
    assert got[-1][0] == b"\xf8"


def test_a_failing_callback_does_not_stop_the_input(cleanup) -> None:
    """An exception in the callback is logged; the next message still arrives."""
    got: Received = []

    def callback(data: bytes, stamp: int) -> None:
        got.append((data, stamp))
        if len(got) == 1:
            raise RuntimeError("boom")

    open_input(cleanup, None, virtual_name="in", callback=callback)
    out = connect_out(cleanup, "midimon:in")
    out.send_message([0x90, 1, 1])
    out.send_message([0x90, 2, 2])
    assert wait_for(lambda: len(got) == 2)


def test_output_sends_to_a_listening_port_from_many_threads(cleanup) -> None:
    """MidiOutput finds the port by substring; concurrent send() keeps each thread's order."""
    listener = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="synth")
    got: list[bytes] = []
    listener.set_callback(lambda event, _: got.append(bytes(event[0])))
    listener.open_virtual_port("notes in")
    cleanup.append(listener.delete)
    out = MidiOutput("SYNTH:notes", api="jack")
    cleanup.append(out.close)
    assert out.port_name == "synth:notes in" and out.is_open
    time.sleep(SETTLE)

    def send(channel: int) -> None:
        for i in range(250):
            out.send(bytes([0x90 | channel, i % 128, 1 + i // 128]))

    threads = [threading.Thread(target=send, args=(c,)) for c in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for(lambda: len(got) >= 1000), f"{len(got)} of 1000 arrived"
    for channel in range(4):
        mine = [m for m in got if m[0] == 0x90 | channel]
        assert mine == [bytes([0x90 | channel, i % 128, 1 + i // 128]) for i in range(250)]
    with pytest.raises(ValueError):
        out.send(b"")
    out.close()
    out.close()
    with pytest.raises(PortClosedError, match="closed"):
        out.send(b"\x90\x01\x01")


def test_pattern_matching_exact_substring_regex(cleanup) -> None:
    """An input opens the port named exactly, by case-insensitive substring, or by regex."""
    device_out(cleanup, "Launchpad X MIDI 1", client="lpx")
    device_out(cleanup, "nanoKONTROL2 SLIDER/KNOB", client="korg")
    _, _, callback = recorder()
    cases = {
        "korg:nanoKONTROL2 SLIDER/KNOB": "korg:nanoKONTROL2 SLIDER/KNOB",
        "launchpad x": "lpx:Launchpad X MIDI 1",
        r"nano\w+2 \w+/": "korg:nanoKONTROL2 SLIDER/KNOB",
    }
    for pattern, expected in cases.items():
        port = open_input(cleanup, pattern, callback=callback)
        assert port.port_name == expected and not port.is_virtual, pattern
        port.close()
        assert not port.is_open


def test_no_match_is_a_clear_error_or_a_virtual_port(cleanup) -> None:
    """No match: PortNotFoundError naming pattern and ports, or the virtual port if allowed."""
    device_out(cleanup, "Launchpad X MIDI 1", client="lpx")
    _, _, callback = recorder()
    with pytest.raises(PortNotFoundError) as caught:
        open_input(cleanup, "Maschine", callback=callback)
    message = str(caught.value)
    assert "'Maschine'" in message and "'lpx:Launchpad X MIDI 1'" in message
    assert "jack" in message and "input" in message
    assert isinstance(caught.value, OSError) and caught.value.available
    with pytest.raises(PortNotFoundError, match="available outputs: none"):
        MidiOutput("Maschine", api="jack")
    port = open_input(cleanup, "Maschine", virtual_name="fallback", callback=callback)
    assert port.is_virtual and port.port_name == "fallback"
    waiting = open_input(cleanup, "Maschine", callback=callback, missing_ok=True)
    assert not waiting.is_open and waiting.port_name is None
    with pytest.raises(ValueError):
        MidiInput(callback=callback, api="jack")


def test_backend_errors_are_midi_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown API, or JACK without a server, raises MidiBackendError saying why."""
    with pytest.raises(MidiBackendError, match="unknown MIDI API 'beos'"):
        list_ports("beos")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "midimon-test-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(MidiBackendError, match="jack") as caught:
        MidiOutput("x", api="jack")
    assert isinstance(caught.value, MidiError)


def test_jack_latency_port_to_callback(cleanup) -> None:
    """JACK port-to-port latency, send -> MidiInput callback, p50/p99 over 2,000 messages.

    Printed as the floor for benchmarks (64-frame periods at 48 kHz: one period is 1.33 ms;
    rtmidi's JACK output is drained at the next period, so expect about one period).
    """
    got, arrived, callback = recorder()
    open_input(cleanup, None, virtual_name="in", callback=callback)
    out = connect_out(cleanup, "midimon:in")
    latencies = []
    period = 64 / 48000
    for i in range(2000):
        arrived.clear()
        time.sleep(random.uniform(0, period))  # send at a random phase of the JACK period
        sent = time.monotonic_ns()
        out.send_message([0xB0, 1, i % 128])
        assert arrived.wait(2), f"message {i} never arrived"
        latencies.append((got[-1][1] - sent) / 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    result = {"messages": 2000, "p50_us": round(p50, 1), "p99_us": round(p99, 1)}
    print(f"\nJACK port-to-port latency (rtmidi send -> midimon callback): {json.dumps(result)}")
    assert len(got) == 2000
    assert p50 > 0
