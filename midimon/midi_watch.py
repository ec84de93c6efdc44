"""The MIDI port watcher: a thread that notices devices unplugged and plugged back in, and
has each watched port close or reopen (the ports themselves: :mod:`midimon.midi`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from midimon.midi import PORT_ERRORS, MidiInput, MidiOutput, port_lister

__all__ = ["PortWatcher"]

log = logging.getLogger(__name__)

Hook = Callable[[str], None]


class PortWatcher:
    """Reconnects ports whose device disappears and comes back, polling every ``interval`` s.

    ``on_connect(name)`` / ``on_disconnect(name)`` run on the watcher thread. Virtual ports
    need no watching and are ignored. A device that vanishes and returns within one interval
    is not noticed (JACK drops the connection): keep the interval short for such devices.
    """

    def __init__(
        self,
        ports: Iterable[MidiInput | MidiOutput] = (),
        *,
        interval: float = 1.0,
        on_connect: Hook | None = None,
        on_disconnect: Hook | None = None,
        client_name: str = "midimon-watch",
    ) -> None:
        self.interval = interval
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._client_name = client_name
        self._ports: list[MidiInput | MidiOutput] = list(ports)
        self._probes: dict[tuple[type, str], Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, port: MidiInput | MidiOutput) -> None:
        """Watch ``port`` too."""
        with self._lock:
            self._ports.append(port)

    def remove(self, port: MidiInput | MidiOutput) -> None:
        """Stop watching ``port``."""
        with self._lock:
            if port in self._ports:
                self._ports.remove(port)

    def _names(self, kind: type, api: str) -> list[str]:
        probe = self._probes.get((kind, api))
        if probe is None:
            probe = self._probes[(kind, api)] = port_lister(kind, api, self._client_name)
        ports: list[str] = probe.get_ports()  # rtmidi is untyped: a list of port names
        return ports

    def poll_once(self) -> None:
        """One round: list ports per API and direction, then let each port reconnect."""
        with self._lock:
            ports = list(self._ports)
        listings: dict[tuple[type, str], list[str]] = {}
        for port in ports:
            key = (port.rtmidi_class, port.api)
            try:
                if key not in listings:
                    listings[key] = self._names(*key)
                change = port.follow_devices(listings[key])
            except PORT_ERRORS as exc:
                log.warning("MIDI port watcher: %r: %s", port, exc)
                continue
            if change is None:
                continue
            event, name = change
            log.info("MIDI %s %s: %s", port.direction, event + "ed", name)
            hook = self.on_connect if event == "connect" else self.on_disconnect
            if hook is not None:
                try:
                    hook(name)
                except Exception:
                    log.exception("MIDI port watcher %s hook failed", event)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()

    def start(self) -> PortWatcher:
        """Start the polling thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="midimon-port-watcher", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and release its listing clients; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for probe in self._probes.values():
            probe.delete()
        self._probes.clear()

    def __enter__(self) -> PortWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
