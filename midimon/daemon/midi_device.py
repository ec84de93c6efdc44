"""The daemon's MIDI ports from ``[device]``: open the controller's input and the daemon's
output, watch the input for unplug and replug, and switch to another controller when a reload
names one (no restart); list the ports every MIDI API sees for the panel's Device page.

A switch closes the old input, then opens the new one under the same client name (on JACK a
second client "midimon" would be renamed "midimon-01"). A named controller that is absent is
not replaced by the virtual port, as at start-up: the input waits for it, the port watcher
opens it when it appears, and STATUS, the reload's answer and the log say so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from midimon.engine.config import DeviceSettings
from midimon.errors import MidiError

log = logging.getLogger(__name__)

Feed = Callable[[bytes, int], None]
#: Client names midimon's own ports use: "midimon", "midimon-out", "midimon-feedback", ...
OWN_CLIENT_PREFIX = "midimon"


def _key(settings: DeviceSettings) -> tuple[Any, ...]:
    return (settings.name, settings.virtual_port, settings.auto_reconnect)


def is_own_port(name: str) -> bool:
    """A port of one of midimon's own MIDI clients (never a controller to choose)."""
    client = name.split(":", 1)[0]
    return client == OWN_CLIENT_PREFIX or client.startswith(OWN_CLIENT_PREFIX + "-")


class MidiDevice:
    """The input (and the daemon's virtual output) that ``[device]`` asks for.

    ``feed(data, timestamp_ns)`` is the daemon's input path. ``on_switch(input)`` runs after a
    switch opened a new input (the LED feedback follows it); ``publish(event)`` hears each
    switch, connect and disconnect as a ``device`` event; ``watch_interval`` is the port
    watcher's polling period in seconds.
    """

    def __init__(
        self,
        feed: Feed,
        settings: DeviceSettings,
        *,
        on_switch: Callable[[Any], None] | None = None,
        publish: Callable[[dict[str, Any]], None] | None = None,
        watch_interval: float = 1.0,
    ) -> None:
        self._feed = feed
        self.settings = settings
        self.on_switch = on_switch
        self.publish = publish  # `midimon monitor` and the panel hear of switches and replugs
        self.watch_interval = watch_interval
        self.input: Any = None
        self.output: Any = None
        self.watcher: Any = None
        self.error: str | None = None  # why there is no input
        self.switches = 0
        self._lock = threading.RLock()

    # -- start and stop -----------------------------------------------------------------------
    def open(self) -> MidiDevice:
        """Open the input and the output as ``midimon run`` starts (a warning and no ports when
        no MIDI system is reachable: the daemon runs without them)."""
        from midimon.midi import MidiOutput

        device = self.settings
        with self._lock:
            try:
                self.input = self._new_input(device, startup=True)
                out_name = f"{device.virtual_port or 'midimon'} out"
                self.output = MidiOutput(None, virtual_name=out_name)
            except (MidiError, ValueError) as exc:
                self._close_input()
                self.error = str(exc)
                log.warning("no MIDI input/output (%s); the daemon runs without MIDI ports", exc)
                return self
            if device.auto_reconnect and device.name:
                self._watch(self.input)
        return self

    def close(self) -> None:
        """Stop the watcher and close both ports; idempotent."""
        with self._lock:
            if self.watcher is not None:
                self.watcher.stop()
                self.watcher = None
            self._close_input()
            if self.output is not None:
                self.output.close()
                self.output = None

    # -- reload ---------------------------------------------------------------------------------
    def follow(self, settings: DeviceSettings) -> dict[str, Any] | None:
        """A reloaded config: switch the input when ``[device]`` changed. None when it did not
        (nothing touched), else :meth:`status` with ``switched`` and, when the controller is
        absent, a ``warning`` to show."""
        with self._lock:
            if _key(settings) == _key(self.settings):
                return None
            return self.switch(settings)

    def switch(self, settings: DeviceSettings) -> dict[str, Any]:
        """Close the input and open the one ``settings`` names (waiting for it when it is
        absent); the daemon keeps running whatever happens."""
        with self._lock:
            before = self.input.port_name if self.input is not None else None
            self.settings = settings
            if self.watcher is not None and self.input is not None:
                self.watcher.remove(self.input)
            self._close_input()
            try:
                self.input = self._new_input(settings, startup=False)
            except (MidiError, ValueError) as exc:
                self.error = f"cannot open the MIDI input for {settings.name!r}: {exc}"
                log.error("MIDI device switch: %s; the daemon runs without MIDI input", self.error)
            else:
                self.error = None
                port = self.input
                if not port.is_virtual and (settings.auto_reconnect or not port.is_open):
                    self._watch(port)
            self.switches += 1
            answer = self.status()
        answer["switched"] = True
        warning = self.warning()
        if warning:
            answer["warning"] = warning
            log.warning("MIDI device: %s", warning)
        else:
            log.info("MIDI device: input switched from %s to %s", before, answer["port"])
        self._publish("switched")
        if self.input is not None and self.on_switch is not None:
            try:
                self.on_switch(self.input)
            except Exception:
                log.exception("MIDI device switch: the feedback restart failed")
        return answer

    # -- state ----------------------------------------------------------------------------------
    def input_counters(self) -> dict[str, int] | None:
        """The current input's counters (see MidiInput.input_counters)."""
        port = self.input
        return port.input_counters() if port is not None else None

    def warning(self) -> str | None:
        """What the user must know about the input, or None when it reads the controller."""
        port, name = self.input, self.settings.name
        if port is None:
            return self.error or "no MIDI input is open"
        if name and port.is_virtual:
            return (
                f"MIDI controller {name!r} was not found when the daemon started: the input is "
                f"the virtual port {port.port_name!r} (choose the controller again to wait for it)"
            )
        if name and not port.is_open:
            return (
                f"MIDI controller {name!r} not found on {port.api}: the daemon keeps running "
                "and opens it when it appears (midimon devices lists the ports)"
            )
        return None

    def status(self) -> dict[str, Any]:
        """What STATUS shows under ``device``: the configured name, the port the input reads
        (None while waiting), its API, and whether it is connected."""
        with self._lock:
            port = self.input
            return {
                "name": self.settings.name,
                "virtual_port": self.settings.virtual_port,
                "api": port.api if port is not None else None,
                "port": port.port_name if port is not None else None,
                "virtual": bool(port is not None and port.is_virtual),
                "connected": bool(port is not None and port.is_open),
                "waiting": bool(port is not None and self.settings.name and not port.is_open),
                "switches": self.switches,
                "error": self.warning(),
            }

    # -- inside the lock ------------------------------------------------------------------------
    def _new_input(self, device: DeviceSettings, *, startup: bool) -> Any:
        """At start-up, an absent controller falls back to the virtual port as before; on a
        switch the input waits for the controller instead."""
        from midimon.midi import MidiInput

        virtual = device.virtual_port or None
        if not startup and device.name:
            virtual = None
        return MidiInput(
            device.name, virtual_name=virtual, callback=self._feed, missing_ok=virtual is None
        )

    def _close_input(self) -> None:
        if self.input is not None:
            try:
                self.input.close()
            except Exception as exc:  # a port JACK already dropped: closed is what we want
                log.warning("closing the MIDI input %r: %s", self.input, exc)
            self.input = None

    def _watch(self, port: Any) -> None:
        if self.watcher is None:
            from midimon.midi_watch import PortWatcher

            self.watcher = PortWatcher(
                interval=self.watch_interval,
                on_connect=self._connected,
                on_disconnect=self._lost,
            ).start()
        self.watcher.add(port)

    # -- the watcher's thread -------------------------------------------------------------------
    def _connected(self, name: str) -> None:
        log.info("MIDI connected: %s", name)
        self._publish("connected")

    def _lost(self, name: str) -> None:
        log.warning("MIDI lost: %s", name)
        self._publish("disconnected")

    def _publish(self, change: str) -> None:
        if self.publish is not None:
            self.publish({"type": "device", "change": change, **self.status()})


def ports_by_api(device: MidiDevice | None) -> list[dict[str, Any]]:
    """Every compiled MIDI API's inputs and outputs (or why it could not start); each port
    says whether it is one of midimon's own, and each input whether ``[device] name`` matches
    it, whether the daemon's input reads it now, and the name choosing it writes."""
    from midimon.midi import compiled_apis, list_ports, match_port, stable_port_name

    name = device.settings.name if device is not None else None
    current = device.status() if device is not None else {}
    answer: list[dict[str, Any]] = []
    for api in compiled_apis():
        try:
            ports = list_ports(api).to_dict()
        except MidiError as exc:
            answer.append({"api": api, "error": str(exc)})
            continue
        inputs = ports["inputs"]
        chosen = match_port(name, [p["name"] for p in inputs]) if name else None
        for port in inputs:
            port["own"] = is_own_port(port["name"])
            port["choose"] = stable_port_name(port["name"])  # what choosing it writes
            port["configured"] = port["index"] == chosen
            port["connected"] = bool(
                current.get("connected") and current.get("api") == api
                and current.get("port") == port["name"]
            )  # fmt: skip
        for port in ports["outputs"]:
            port["own"] = is_own_port(port["name"])
        answer.append({"api": api, "inputs": inputs, "outputs": ports["outputs"]})
    return answer
