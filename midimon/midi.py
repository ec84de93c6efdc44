"""MIDI ports through python-rtmidi: list, open by name or pattern, virtual ports, and each
port's reconnect step (the thread that drives it: :mod:`midimon.midi_watch`).

This is the only module that imports ``rtmidi``; every rtmidi error leaves it as a
:class:`MidiError` (an ``OSError``) whose message names the port or pattern and the ports that
were available. While it opens MIDI clients and ports, the ALSA and JACK libraries' own stderr
lines are held back (:mod:`midimon.midi_quiet`): the error says what failed.

An input on JACK uses midimon's native input (:mod:`midimon.midi_jack`): JACK's real-time thread
only copies events into a ring, and the callback runs on a normal thread. python-rtmidi's input
is used instead when the native one cannot load (no built library, no libjack: logged), or
when ``MIDIMON_JACK_INPUT=rtmidi`` asks for the previous path. ``MIDIMON_LIBJACK`` names the
libjack to load (default ``libjack.so.0``; e.g. PipeWire's when it is not the system one).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import rtmidi

from midimon.errors import (  # defined with the other errors; importable from here as before
    JackUnavailableError,
    MidiBackendError,
    MidiError,
    PortClosedError,
    PortNotFoundError,
)
from midimon.midi_jack import DEFAULT_LIBJACK, JackMidiIn
from midimon.midi_quiet import probing

__all__ = [
    "API_NAMES",
    "INPUT_CLIENT",
    "OUTPUT_CLIENT",
    "PORT_ERRORS",
    "MidiBackendError",
    "MidiError",
    "MidiInput",
    "MidiOutput",
    "PortClosedError",
    "PortInfo",
    "PortList",
    "PortNotFoundError",
    "compiled_apis",
    "list_ports",
    "match_port",
    "port_lister",
    "stable_port_name",
]

log = logging.getLogger(__name__)

# Our API names -> rtmidi constants (only those rtmidi was compiled with can be used).
_APIS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
_API_NAMES = {value: key for key, value in _APIS.items()}
API_NAMES = tuple(_APIS)  # what ``api=`` accepts
# ALSA port names end in " client:port" numbers, which change when a device is replugged.
_ALSA_SUFFIX = re.compile(r"\s+\d+:\d+$")
# rtmidi makes one MIDI client per input or output. JACK names a second client "midimon" as
# "midimon-01", so inputs and outputs get distinct client names: the documented port names
# (README) are then "midimon:<virtual_port>" and "midimon-out:<virtual_port> out".
INPUT_CLIENT = "midimon"
OUTPUT_CLIENT = "midimon-out"

MessageCallback = Callable[[bytes, int], None]
#: What a MIDI call on an open client can raise: rtmidi's own error or an OSError (MidiError).
PORT_ERRORS: tuple[type[Exception], ...] = (rtmidi.RtMidiError, OSError)


@dataclass(frozen=True)
class PortInfo:
    """One port as rtmidi numbers it."""

    index: int
    name: str


@dataclass(frozen=True)
class PortList:
    """The ports one MIDI API sees: inputs (sources we can read) and outputs (we can write)."""

    api: str
    inputs: tuple[PortInfo, ...]
    outputs: tuple[PortInfo, ...]
    compiled_apis: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "api": self.api,
            "compiled_apis": list(self.compiled_apis),
            "inputs": [{"index": p.index, "name": p.name} for p in self.inputs],
            "outputs": [{"index": p.index, "name": p.name} for p in self.outputs],
        }


def compiled_apis() -> tuple[str, ...]:
    """The MIDI APIs this python-rtmidi was compiled with, in rtmidi's order of preference."""
    return tuple(_API_NAMES[a] for a in rtmidi.get_compiled_api() if a in _API_NAMES)


def _candidates(api: str | None) -> list[int]:
    """rtmidi API constants to try for ``api`` (None: every compiled one, in order)."""
    compiled = compiled_apis()
    if api is None:
        if not compiled:
            raise MidiBackendError("python-rtmidi was compiled without any MIDI API")
        return [_APIS[name] for name in compiled]
    key = api.strip().lower()
    if key not in _APIS:
        raise MidiBackendError(f"unknown MIDI API {api!r}; use one of: {', '.join(_APIS)}")
    if key not in compiled:
        raise MidiBackendError(
            f"MIDI API {key!r} is not compiled into python-rtmidi; "
            f"compiled: {', '.join(compiled) or 'none'}"
        )
    return [_APIS[key]]


def _native_jack_input(client_name: str) -> JackMidiIn | None:
    """midimon's native JACK input, or None (logged) when python-rtmidi's is to be used."""
    if os.environ.get("MIDIMON_JACK_INPUT", "native").strip().lower() == "rtmidi":
        log.info("JACK MIDI input through python-rtmidi (MIDIMON_JACK_INPUT=rtmidi)")
        return None
    try:
        native = JackMidiIn(client_name, libjack=os.environ.get("MIDIMON_LIBJACK", DEFAULT_LIBJACK))
    except JackUnavailableError as exc:
        log.info("JACK MIDI input through python-rtmidi: the native input cannot start: %s", exc)
        return None
    log.info("JACK MIDI input %r through midimon's native input (no Python in JACK's thread)",
             native.client_name)  # fmt: skip
    return native


def _create(
    kind: type, api: str | None, client_name: str, native_jack: bool = False
) -> tuple[Any, int]:
    """A new rtmidi MidiIn/MidiOut on the first API of ``api``'s candidates that starts
    (``native_jack``: on JACK, an input is midimon's native one when it can start)."""
    failures = []
    candidates = _candidates(api)
    for candidate in candidates:
        if native_jack and candidate == rtmidi.API_UNIX_JACK:
            native = _native_jack_input(client_name)
            if native is not None:
                return native, candidate
        try:
            with probing():  # a failure is ours to report: ALSA and JACK print nothing
                return kind(candidate, name=client_name), candidate
        except rtmidi.RtMidiError as exc:
            failures.append(f"{_API_NAMES[candidate]}: {exc}")
    if len(candidates) == 1:
        raise MidiBackendError(f"the {failures[0].replace(':', ' MIDI API could not start:', 1)}")
    raise MidiBackendError("no MIDI API could start: " + "; ".join(failures))


def _stable(name: str) -> str:
    """A port name without ALSA's client:port numbers."""
    return _ALSA_SUFFIX.sub("", name)


def stable_port_name(name: str) -> str:
    """``name`` as ``[device] name`` should hold it: without ALSA's trailing client:port
    numbers, which change when the device is plugged in again (exact matching ignores them)."""
    return _stable(name)


def match_port(pattern: str, names: Sequence[str]) -> int | None:
    """Index of the first port named ``pattern``: exact, then case-insensitive substring, then
    regex (``re.search``). Exact matching ignores ALSA's trailing client:port numbers."""
    for i, name in enumerate(names):
        if pattern in (name, _stable(name)):
            return i
    folded = pattern.casefold()
    for i, name in enumerate(names):
        if folded in name.casefold():
            return i
    try:
        regex = re.compile(pattern)
    except re.error:
        return None
    for i, name in enumerate(names):
        if regex.search(name):
            return i
    return None


def list_ports(api: str | None = None, client_name: str = "midimon-list") -> PortList:
    """Every input and output port of ``api`` ("jack", "alsa", or None: rtmidi's first that
    starts). Raises MidiBackendError when the API cannot start."""
    midi_in, used = _create(rtmidi.MidiIn, api, client_name)
    try:
        midi_out, _ = _create(rtmidi.MidiOut, _API_NAMES[used], client_name)
        try:
            inputs = midi_in.get_ports()
            outputs = midi_out.get_ports()
        finally:
            midi_out.delete()
    except rtmidi.RtMidiError as exc:
        raise MidiBackendError(f"listing {_API_NAMES[used]} MIDI ports failed: {exc}") from exc
    finally:
        midi_in.delete()
    return PortList(
        api=_API_NAMES[used],
        inputs=tuple(PortInfo(i, n) for i, n in enumerate(inputs)),
        outputs=tuple(PortInfo(i, n) for i, n in enumerate(outputs)),
        compiled_apis=compiled_apis(),
    )


def port_lister(kind: type, api: str, client_name: str) -> Any:
    """A MIDI client of ``kind`` (a port's ``rtmidi_class``) on ``api`` that is kept to list
    ports: ``get_ports()`` gives their names, ``delete()`` releases it. MidiBackendError when
    the API cannot start."""
    client, _ = _create(kind, api, client_name)
    return client


class _Port:
    """What inputs and outputs share: opening by pattern or virtually, closing, reconnecting."""

    direction = "port"
    rtmidi_class: type = rtmidi.MidiIn
    _native_jack = False  # inputs: midimon's native JACK input when JACK is the API

    def __init__(
        self,
        name_or_pattern: str | None,
        virtual_name: str | None,
        api: str | None,
        client_name: str,
        missing_ok: bool,
    ) -> None:
        if name_or_pattern is None and virtual_name is None:
            raise ValueError("give a port name or pattern, or a virtual_name (or both)")
        self.pattern = name_or_pattern
        self._lock = threading.RLock()
        self._rt, api_const = _create(self.rtmidi_class, api, client_name, self._native_jack)
        self.api = _API_NAMES[api_const]
        self.is_virtual = False
        self._port_name: str | None = None
        self._connected = False
        self._closed = False
        try:
            self._configure()
            self._open_first(name_or_pattern, virtual_name, missing_ok)
        except BaseException:
            self._rt.delete()
            self._closed = True
            raise

    def _configure(self) -> None:
        """Set up the rtmidi object before a port opens (inputs: callback, filters)."""

    def _open_first(self, pattern: str | None, virtual_name: str | None, missing_ok: bool) -> None:
        names = self._rt.get_ports() if pattern is not None else []
        index = match_port(pattern, names) if pattern is not None else None
        if index is not None:
            self._open_index(index, names[index])
        elif virtual_name is not None:
            try:
                with probing():
                    self._rt.open_virtual_port(virtual_name)
            except (rtmidi.RtMidiError, OSError) as exc:
                raise MidiError(
                    f"cannot create virtual MIDI {self.direction} {virtual_name!r} "
                    f"({self.api}): {exc}"
                ) from exc
            self.is_virtual = True
            self._port_name = virtual_name
            self._connected = True
        elif not missing_ok:
            assert pattern is not None
            raise PortNotFoundError(self.direction, pattern, self.api, names)

    def _open_index(self, index: int, name: str) -> None:
        try:
            with probing():
                self._rt.open_port(index, name=self.direction)
        except (rtmidi.RtMidiError, OSError) as exc:
            raise MidiError(
                f"cannot open MIDI {self.direction} {name!r} ({self.api}): {exc}"
            ) from exc
        self._port_name = name
        self._connected = True

    @property
    def port_name(self) -> str | None:
        """The device port's name (or the virtual port's); None before it ever connected."""
        return self._port_name

    @property
    def is_open(self) -> bool:
        """Open and connected to its device (a virtual port is open until closed)."""
        return self._connected and not self._closed

    def close(self) -> None:
        """Close the port and release the MIDI client; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._connected = False
            self._before_close()
            try:
                self._rt.close_port()
            finally:
                self._rt.delete()

    def _before_close(self) -> None:
        """Inputs cancel their callback here."""

    def __enter__(self) -> _Port:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def follow_devices(self, available: Sequence[str]) -> tuple[str, str] | None:
        """Watcher step: close a port whose device vanished from ``available``, reopen one that
        came back. Returns ("connect"|"disconnect", port name) when that happened."""
        with self._lock:
            if self._closed or self.is_virtual:
                return None
            if self._port_name is not None:
                wanted = _stable(self._port_name)
                present = any(_stable(n) == wanted for n in available)
            else:  # never connected yet (missing_ok): wait for the pattern
                assert self.pattern is not None
                present = match_port(self.pattern, available) is not None
            if self._connected and not present:
                self._connected = False
                self._rt.close_port()
                assert self._port_name is not None
                return ("disconnect", self._port_name)
            if not self._connected and present:
                names = self._rt.get_ports()
                if self._port_name is not None:
                    wanted = _stable(self._port_name)
                    index = next((i for i, n in enumerate(names) if _stable(n) == wanted), None)
                else:
                    assert self.pattern is not None
                    index = match_port(self.pattern, names)
                if index is None:
                    return None  # gone again already; next round
                self._configure()  # python-rtmidi's close_port() dropped the callback
                self._open_index(index, names[index])
                return ("connect", names[index])
            return None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._connected else "disconnected"
        return f"<{type(self).__name__} {self._port_name or self.pattern!r} {self.api} {state}>"


class MidiInput(_Port):
    """A MIDI input: the first port matching ``name_or_pattern``, else a virtual port.

    ``callback(data, timestamp_ns)`` gets the raw message bytes. On JACK it runs on the native
    input's dispatcher thread (never in JACK's real-time thread), stamped on the monotonic
    clock when JACK handed the event over; otherwise on rtmidi's thread (JACK's process thread,
    for JACK through python-rtmidi) with ``time.monotonic_ns()`` taken on arrival. It must not
    block. ``missing_ok=True`` starts disconnected when nothing matches and no virtual port is
    wanted; a :class:`~midimon.midi_watch.PortWatcher` opens it when the device appears.
    """

    direction = "input"
    rtmidi_class = rtmidi.MidiIn
    _native_jack = True

    def __init__(
        self,
        name_or_pattern: str | None = None,
        *,
        virtual_name: str | None = None,
        api: str | None = None,
        client_name: str = INPUT_CLIENT,
        callback: MessageCallback,
        missing_ok: bool = False,
    ) -> None:
        self._callback = callback
        super().__init__(name_or_pattern, virtual_name, api, client_name, missing_ok)

    def _configure(self) -> None:
        self.ignore_types()
        if isinstance(self._rt, JackMidiIn):  # already (bytes, timestamp_ns), on its own thread
            # The daemon's native dispatch: the dispatcher thread walks in C (native_server),
            # else it takes whole batches (feed_batch); anything else gets one call per event.
            server = getattr(self._callback, "native_server", None)
            if server is None or not self._rt.set_native_server(server):
                batch = getattr(self._callback, "feed_batch", None)
                if batch is not None:
                    self._rt.set_batch_callback(batch)
                else:
                    self._rt.set_callback(self._callback)
        else:
            self._rt.set_callback(self._on_message)

    def ignore_types(
        self, sysex: bool = True, timing: bool = True, active_sense: bool = True
    ) -> None:
        """Drop these message kinds before they reach the callback (all dropped by default)."""
        with self._lock:
            self._rt.ignore_types(sysex=sysex, timing=timing, active_sense=active_sense)

    def input_counters(self) -> dict[str, int] | None:
        """The native JACK input's counters since it opened (received; dropped: its ring was
        full; oversized; filtered), or None on another API (rtmidi counts nothing)."""
        with self._lock:
            if isinstance(self._rt, JackMidiIn) and not self._closed:
                return self._rt.stats()
        return None

    def _on_message(self, event: tuple[list[int], float], _data: object) -> None:
        now = time.monotonic_ns()
        try:
            self._callback(bytes(event[0]), now)
        except Exception:
            log.exception("MIDI input callback failed for %r", self._port_name)

    def _before_close(self) -> None:
        self._rt.cancel_callback()


class MidiOutput(_Port):
    """A MIDI output: the first port matching ``name_or_pattern``, else a virtual port.

    :meth:`send` is thread-safe (one lock per output).
    """

    direction = "output"
    rtmidi_class = rtmidi.MidiOut

    def __init__(
        self,
        name_or_pattern: str | None = None,
        *,
        virtual_name: str | None = None,
        api: str | None = None,
        client_name: str = OUTPUT_CLIENT,
        missing_ok: bool = False,
    ) -> None:
        super().__init__(name_or_pattern, virtual_name, api, client_name, missing_ok)

    def send(self, data: bytes) -> None:
        """Send one MIDI message; PortClosedError when closed or disconnected."""
        if not data:
            raise ValueError("an empty MIDI message cannot be sent")
        with self._lock:
            if not self.is_open:
                state = "closed" if self._closed else "disconnected"
                raise PortClosedError(
                    f"MIDI output {self._port_name or self.pattern!r} ({self.api}) is {state}"
                )
            try:
                self._rt.send_message(data)
            except (rtmidi.RtMidiError, ValueError, TypeError) as exc:
                raise MidiError(
                    f"sending {data.hex(' ')} to MIDI output {self._port_name!r} failed: {exc}"
                ) from exc
