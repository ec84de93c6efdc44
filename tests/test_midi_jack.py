"""The native JACK MIDI input (midimon/midi_jack.py + libmidimon-jackin.so) on a real jackd.

Events come from a python-rtmidi JACK output into the native input's port on a private dummy
server (the ``jack_server`` fixture): bytes, order, timestamps, the ring's overflow counter, the
sysex bound, closing, and the error when libjack cannot be loaded.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from helpers import wait_for

from midimon import midi_jack
from midimon.midi_jack import JackMidiIn, JackUnavailableError

HEADER = Path(__file__).resolve().parent.parent / "midimon/_native/jackin/jackin.h"


class Received:
    """Collects (data, timestamp_ns, monotonic_ns at delivery, thread name)."""

    def __init__(self) -> None:
        self.events: list[tuple[bytes, int, int, str]] = []

    def __call__(self, data: bytes, timestamp_ns: int) -> None:
        now = time.monotonic_ns()
        self.events.append((data, timestamp_ns, now, threading.current_thread().name))

    @property
    def data(self) -> list[bytes]:
        return [e[0] for e in self.events]


def _native_library() -> Path:
    path = midi_jack.library_path()
    assert path.is_file(), f"{path} was not built: run bash ci/setup.sh"
    return path


def _input(callback, **kwargs) -> JackMidiIn:
    _native_library()
    return JackMidiIn("native-in", callback, **kwargs)


def _sender(target: JackMidiIn):
    """A python-rtmidi JACK output connected to ``target``'s port through its own jack_connect."""
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="sender")
    out.open_virtual_port("out")
    assert wait_for(lambda: "sender:out" in target.get_ports(), 10), target.get_ports()
    target.connect("sender:out", "in")
    time.sleep(0.2)  # JACK drops what is sent while it is still making the connection
    return out


def test_the_declarations_are_the_headers_and_the_library_defines_them() -> None:
    """cffi gets jackin.h's and fastpath.h's marked regions without their comments (the
    installed headers are the checkout's), and the built library exports every function
    declared there."""
    assert midi_jack.header_path().read_text() == HEADER.read_text()
    fastpath = HEADER.with_name("fastpath.h")
    assert midi_jack.header_path("fastpath.h").read_text() == fastpath.read_text()
    declarations = midi_jack.cdef()
    assert "/*" not in declarations and "typedef struct mj_stats" in declarations
    declared = re.findall(r"\b((?:mj|fp)_[a-z_]+)\s*\(", declarations)
    assert {"mj_open", "mj_drain", "mj_free", "fp_dispatch", "fp_gate_enter"} <= set(declared)
    lib = midi_jack._ffi().dlopen(str(_native_library()))
    missing = []
    for name in declared:
        try:
            getattr(lib, name)
        except AttributeError:
            missing.append(name)
    assert not missing, f"declared in the headers but not exported by the library: {missing}"


def test_events_arrive_in_order_with_bytes_and_monotonic_stamps(jack_server) -> None:
    got = Received()
    with _input(got) as native:
        native.ignore_types(sysex=False)
        out = _sender(native)
        try:
            started = time.monotonic_ns()
            sent = []
            for i in range(200):
                sent.append(bytes([0x90 | (i % 16), i % 128, 1 + i % 127]))
                sent.append(bytes([0x80 | (i % 16), i % 128, 0]))
                sent.append(bytes([0xB0, i % 120, i % 128]))
            sent.append(bytes([0xF0, 0x7D, *range(100), *range(100), *range(48), 0xF7]))  # 251
            sent.append(bytes([0xC3, 5]))
            for message in sent:
                out.send_message(list(message))
                time.sleep(0.0005)
            assert wait_for(lambda: len(got.events) >= len(sent), 10), len(got.events)
        finally:
            out.delete()
        stats = native.stats()
    assert got.data == sent
    stamps = [e[1] for e in got.events]
    assert stamps == sorted(stamps)
    assert started <= stamps[0]  # not JACK's schedule, which lags on a busy dummy server
    assert all(stamp <= delivered for _, stamp, delivered, _ in got.events)
    assert {e[3] for e in got.events} == {"midimon-jack-in:native-in"}
    assert stats["received"] == len(sent)
    assert stats["dropped"] == stats["oversized"] == 0


def test_long_sysex_is_counted_not_delivered_and_filters_apply(jack_server) -> None:
    got = Received()
    with _input(got, max_event_bytes=64) as native:
        native.ignore_types(sysex=False, timing=True, active_sense=True)
        out = _sender(native)
        try:
            fits = bytes([0xF0, *range(62), 0xF7])  # 64 bytes
            out.send_message(list(fits))
            out.send_message([0xF0, *range(63), 0xF7])  # 65 bytes: over the bound
            out.send_message([0xF8])  # timing clock: ignored
            out.send_message([0xFE])  # active sensing: ignored
            out.send_message([0x90, 60, 100])
            assert wait_for(lambda: len(got.events) >= 2, 10)
            native.ignore_types()  # default: sysex ignored as well
            out.send_message(list(fits))
            out.send_message([0x80, 60, 0])
            assert wait_for(lambda: len(got.events) >= 3, 10)
        finally:
            out.delete()
        stats = native.stats()
    assert got.data == [fits, bytes([0x90, 60, 100]), bytes([0x80, 60, 0])]
    assert stats == {"received": 3, "dropped": 0, "oversized": 1, "filtered": 3, "server_gone": 0}


def test_a_full_ring_drops_and_counts(jack_server) -> None:
    release = threading.Event()
    got = Received()

    def stalled(data: bytes, stamp: int) -> None:
        got(data, stamp)
        release.wait(30)  # Python stuck (a reload holding the GIL): the ring fills

    total = 100
    with _input(stalled, capacity=16) as native:
        out = _sender(native)
        try:
            for i in range(total):
                out.send_message([0x90, i, 100])
                time.sleep(0.0005)
            assert wait_for(
                lambda: sum(native.stats()[k] for k in ("received", "dropped")) == total
            )
            release.set()
            stats = native.stats()
            assert wait_for(lambda: len(got.events) == stats["received"], 10)
        finally:
            release.set()
            out.delete()
    assert stats["dropped"] > 0
    assert stats["received"] + stats["dropped"] == total
    # What arrived is the first events, in order: nothing reordered or half-written.
    assert got.data == [bytes([0x90, i, 100]) for i in range(stats["received"])]


def test_close_is_clean_and_idempotent(jack_server) -> None:
    import rtmidi

    got = Received()
    native = _input(got)
    native.open_virtual_port("listen")
    probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="probe")
    try:
        assert wait_for(lambda: "native-in:listen" in probe.get_ports(), 10)
        thread = native._thread
        native.delete()
        native.delete()
        assert not thread.is_alive()
        assert wait_for(lambda: "native-in:listen" not in probe.get_ports(), 10)
        with pytest.raises(JackUnavailableError, match="closed"):
            native.get_ports()
    finally:
        probe.delete()


def test_close_from_inside_the_callback(jack_server) -> None:
    closed = threading.Event()
    holder: list[JackMidiIn] = []

    def close_me(data: bytes, stamp: int) -> None:
        holder[0].delete()
        closed.set()

    native = _input(close_me)
    holder.append(native)
    out = _sender(native)
    try:
        out.send_message([0x90, 1, 1])
        assert closed.wait(10)
        assert wait_for(lambda: not native._thread.is_alive(), 10)
    finally:
        out.delete()


def test_close_port_then_reopen(jack_server) -> None:
    got = Received()
    with _input(got) as native:
        out = _sender(native)
        try:
            out.send_message([0x90, 1, 1])
            assert wait_for(lambda: len(got.events) == 1, 10)
            native.close_port()
            assert native.port_name is None
            out.send_message([0x90, 2, 1])  # no port: nothing arrives
            time.sleep(0.2)
            native.open_port(native.get_ports().index("sender:out"), "again")
            assert native.port_name == "native-in:again"
            time.sleep(0.2)
            out.send_message([0x90, 3, 1])
            assert wait_for(lambda: len(got.events) == 2, 10)
        finally:
            out.delete()
    assert got.data == [bytes([0x90, 1, 1]), bytes([0x90, 3, 1])]


def test_missing_libjack_is_a_clear_error() -> None:
    _native_library()
    with pytest.raises(JackUnavailableError) as caught:
        JackMidiIn("x", None, libjack="libjack-not-installed.so.0")
    message = str(caught.value)
    assert "cannot load the JACK library libjack-not-installed.so.0" in message
    assert "install JACK" in message


def test_a_library_without_jack_symbols_is_refused() -> None:
    _native_library()
    with pytest.raises(JackUnavailableError, match="has no jack_client_open: not a usable libjack"):
        JackMidiIn("x", None, libjack="libc.so.6")


def test_no_server_is_a_clear_error_and_libjack_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    _native_library()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "midimon-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    capfd.readouterr()
    with pytest.raises(JackUnavailableError, match="is a JACK server running"):
        JackMidiIn("x", None)
    assert capfd.readouterr().err == ""  # not libjack's "Cannot connect to server socket"


def test_missing_native_library_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JackUnavailableError, match="rebuild midimon"):
        JackMidiIn("x", None, library=tmp_path / "libmidimon-jackin.so")


def test_server_going_away_is_noticed_and_close_still_works(jack_server) -> None:
    got = Received()
    native = _input(got)
    native.open_virtual_port("in")
    thread = native._thread
    jack_server.stop()
    assert wait_for(lambda: native.stats()["server_gone"] == 1, 10)
    started = time.monotonic()
    native.delete()
    assert time.monotonic() - started < 5
    assert not thread.is_alive()


def test_precompiled_declarations_are_current_and_need_no_pycparser() -> None:
    import subprocess
    import sys

    generated = Path(midi_jack.__file__).with_name("_jackin_cffi.py")
    assert generated.read_text() == midi_jack.generated_source(), (
        "midimon/_jackin_cffi.py is stale: run python -m midimon.midi_jack"
    )
    probe = (
        "import sys; from midimon import midi_jack; ffi = midi_jack._ffi(); "
        "ffi.new('mj_stats *'); print('pycparser' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
