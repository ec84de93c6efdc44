"""What the daemon gives plugins and the LED feedback: the host services (``send_midi`` to
the daemon's output port, ``set_pad`` through LED feedback) and the feed that queues each
message for the LEDs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from midimon.daemon.dispatch import Feed
from midimon.plugins import LoggingHost
from midimon.plugins.loading.abi import constant

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon

log = logging.getLogger(__name__)


class DaemonHost(LoggingHost):
    """Host services for plugins in the daemon: their MIDI goes to the daemon's output port."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def send_midi(self, plugin: str, data: bytes) -> int:
        """Send through the daemon's MIDI output; UNSUPPORTED when none is open."""
        try:
            self._daemon.send_midi(None, data)
        except Exception as exc:
            log.warning("%s: send_midi failed: %s", plugin, exc)
            return constant("MIDIMON_ERR_UNSUPPORTED")
        self._daemon.publish({"type": "plugin_midi", "plugin": plugin, "bytes": data.hex(" ")})
        return constant("MIDIMON_OK")

    def set_led(self, plugin: str, pad: int, color: str) -> int:
        """Light a pad through LED feedback; UNSUPPORTED when feedback is off."""
        return set_led(self._daemon, plugin, pad, color)


def feeding_feedback(feed: Feed, queue_for_leds: Callable[[bytes], None]) -> Feed:
    """``feed`` that first queues each message for the LED sender (one queue put)."""

    def feed_with_feedback(data: bytes, timestamp_ns: int | None = None) -> None:
        queue_for_leds(data)
        feed(data, timestamp_ns)

    return feed_with_feedback


def set_led(daemon: Daemon, plugin: str, pad: int, color: str) -> int:
    """A plugin's set_pad() (the "midimon.leds/1" host extension, past the Midi grant)."""
    sender = daemon.feedback
    if sender is None or sender.template is None:
        return constant("MIDIMON_ERR_UNSUPPORTED")
    try:
        sender.set_pad(pad, color)
    except ValueError as exc:
        log.warning("%s: set_pad(%d, %r) refused: %s", plugin, pad, color, exc)
        return constant("MIDIMON_ERR_INVALID_PARAMS")
    daemon.publish({"type": "plugin_led", "plugin": plugin, "pad": pad, "color": color})
    return constant("MIDIMON_OK")
