"""The host services a plugin reaches through its host struct, as the loader hands them on:
the protocol a host implements, the default host (logs, no MIDI output) and the forwarding of
the optional pad-LED service."""

from __future__ import annotations

import logging
from typing import Protocol

from midimon.plugins.loading import abi as abi_mod

LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


class HostServices(Protocol):
    """What a plugin can ask of the host, already past the capability broker."""

    def log(self, plugin: str, level: int, message: str) -> None:
        """Record one log line from ``plugin`` (level: MIDIMON_LOG_*)."""

    def send_midi(self, plugin: str, data: bytes) -> int:
        """Send raw MIDI bytes; return MIDIMON_OK or a MIDIMON_ERR_* code."""


def call_set_led(host: object, plugin: str, pad: int, color: str) -> int:
    """Forward a granted ``set_pad()`` of the "midimon.leds/1" host extension to
    ``host.set_led(plugin, pad, color)``; MIDIMON_ERR_UNSUPPORTED when the host has none (an
    optional service: hosts without LED feedback need not define it)."""
    service = getattr(host, "set_led", None)
    if service is None:
        return abi_mod.constant("MIDIMON_ERR_UNSUPPORTED")
    status = int(service(plugin, pad, color))
    return status if -(2**31) <= status < 2**31 else abi_mod.constant("MIDIMON_ERR_FAILED")


class LoggingHost:
    """Default host services: logs to ``logging``, refuses MIDI (no output port)."""

    def log(self, plugin: str, level: int, message: str) -> None:
        """Forward to the ``midimon.plugin.<name>`` logger."""
        logging.getLogger(f"midimon.plugin.{plugin}").log(
            LOG_LEVELS.get(level, logging.INFO), "%s", message
        )

    def send_midi(self, plugin: str, data: bytes) -> int:
        """No MIDI output is connected here."""
        return abi_mod.constant("MIDIMON_ERR_UNSUPPORTED")
