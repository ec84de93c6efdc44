"""LED feedback out of the daemon: a queue and one thread between the MIDI input and the
controller's output port, so lighting a pad never delays the input path.

The input path only puts the raw message on a queue (:meth:`FeedbackSender.midi_in`, no lock,
no I/O); mode changes, reloads, reconnects and plugins queue their requests the same way. The
sender's thread keeps the :class:`~midimon.engine.feedback.LedState` and writes what it returns
to the output port. A missing or vanished output port is logged once (and once again each time
it comes back and goes away), never per event; when it (re)appears every LED is sent again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from midimon.engine.config import Config, FeedbackSettings
from midimon.engine.device_templates import DeviceTemplate, find_template, shipped_templates
from midimon.engine.errors import TemplateError
from midimon.engine.feedback import LedState

log = logging.getLogger(__name__)

FEEDBACK_CLIENT = "midimon-feedback"
_STOP = ("stop",)


def choose_template(settings: FeedbackSettings, input_port: str | None) -> DeviceTemplate | None:
    """The template [feedback] names, else the shipped one matching the input port; None (with
    a warning saying why) when there is none or its LEDs cannot be driven."""
    template: DeviceTemplate | None = None
    if settings.template:
        try:
            template = find_template(settings.template)
        except TemplateError as exc:
            log.warning("LED feedback off: %s", exc)
            return None
    elif input_port:
        template = next((t for t in shipped_templates() if t.matches(input_port)), None)
    if template is None:
        log.warning(
            "LED feedback off: no device template matches the input port %r; name one with "
            "[feedback] template = \"...\" (midimon templates list)", input_port,
        )  # fmt: skip
        return None
    if not template.leds.drivable:
        log.warning("LED feedback off: %s has no documented LED messages", template.title)
        return None
    return template


class FeedbackSender:
    """Sends LED feedback for one device from its own thread. Create it when [feedback] is
    enabled, feed it from the input path, then :meth:`start` it once the ports are open."""

    def __init__(self, settings: FeedbackSettings) -> None:
        self.settings = settings
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.template: DeviceTemplate | None = None
        self._state: LedState | None = None
        self._port: Any = None
        self._watcher: Any = None
        self._warned = False
        self.sent = 0
        self._thread: threading.Thread | None = None

    # -- any thread: queue a request -------------------------------------------------------------
    def midi_in(self, data: bytes) -> None:
        """A message from the device (the input path calls this: one queue put, no wait);
        dropped while no sender thread runs (no template: nothing would ever read it)."""
        if self._thread is not None:
            self._queue.put(("in", data))

    def mode_changed(self, mode: str) -> None:
        """The daemon's mode changed: light the new mode."""
        self._queue.put(("mode", mode))

    def reconfigure(self, config: Config, mode: str) -> None:
        """A reloaded config: new mapped pads and colours, then every LED again."""
        self._queue.put(("config", config, mode))

    def resend(self) -> None:
        """Send every LED again (the device reconnected)."""
        self._queue.put(("frame",))

    def set_pad(self, pad: int, color: str | int) -> None:
        """Light ``pad`` in ``color`` (a colour name of the template or a value) until the next
        frame; ValueError at once for a pad or colour the device lacks."""
        if self.template is None:
            raise ValueError("LED feedback is not running")
        LedState.check_pad(self.template, pad, color)
        self._queue.put(("set", pad, color))

    # -- lifecycle ------------------------------------------------------------------------------
    def start(
        self,
        template: DeviceTemplate,
        config: Config,
        mode: str,
        open_output: Callable[[str | None], Any],
        watch: Callable[[Any, Callable[[str], None]], Any] | None = None,
    ) -> None:
        """Open the output (``open_output(pattern)``, pattern None: a virtual port), watch it
        for reconnects (``watch(port, on_connect)``), and send the first frame."""
        self.template = template
        self._state = LedState(template, config, mode)
        pattern = self.settings.output or template.output_port
        try:
            self._port = open_output(pattern)
        except (OSError, ValueError) as exc:
            log.warning("LED feedback: cannot open the output %r: %s", pattern, exc)
            self._port = None
        if self._port is not None and not self._port.is_open:
            self._warn(f"output port {pattern!r} not found; LEDs start when it appears")
        if self._port is not None and watch is not None:
            self._watcher = watch(self._port, lambda _name: self.resend())
        self._thread = threading.Thread(target=self._run, name="midimon-feedback", daemon=True)
        self._thread.start()
        self.resend()

    def stop(self) -> None:
        """Stop the thread and the watcher, and close the port; :meth:`start` may follow (the
        input switched to another controller)."""
        if self._thread is not None:  # no stop request left queued for a later start's thread
            self._queue.put(_STOP)
            self._thread.join(5)
            self._thread = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._port is not None:
            self._port.close()
            self._port = None

    def status(self) -> dict[str, Any]:
        """What `midimon status` shows."""
        port = self._port
        return {
            "template": self.template.name if self.template else None,
            "output": port.port_name if port is not None else None,
            "connected": bool(port is not None and port.is_open),
            "sent": self.sent,
        }

    # -- the sender thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item == _STOP:
                return
            try:
                self._send(self._handle(item))
            except Exception:
                log.exception("LED feedback: %s failed", item[0])

    def _handle(self, item: tuple[Any, ...]) -> list[bytes]:
        state = self._state
        if state is None:
            return []
        kind = item[0]
        if kind == "in":
            return state.midi_in(item[1])
        if kind == "mode":
            return state.frame(item[1]) if item[1] != state.mode else []
        if kind == "config":
            state.configure(item[1])
            return state.frame(item[2])
        if kind == "set":
            return state.set_pad(item[1], item[2])
        return state.frame()

    def _send(self, messages: list[bytes]) -> None:
        if not messages:
            return
        port = self._port
        if port is None or not port.is_open:
            self._warn("no output port open; LED messages are dropped until it appears")
            return
        try:
            for message in messages:
                port.send(message)
                self.sent += 1
        except OSError as exc:
            self._warn(f"sending to {port.port_name!r} failed ({exc}); waiting for it to return")
            return
        self._warned = False  # it works again: the next loss is worth a warning

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("LED feedback: %s", message)
