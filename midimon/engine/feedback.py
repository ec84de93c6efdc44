"""LED feedback as data: which pads each mode maps, and the bytes that show modes, presses,
releases and toggle states on a device (``midimon.engine.device_templates``).

:class:`LedState` holds no port and no thread: each method returns the messages to send, so
the daemon's sender (``midimon.daemon.feedback_output``) only moves bytes, and tests can check
every byte without MIDI. Rules:

- a frame (start, reconnect, mode change, reload): the device's init messages, then every pad
  of the template: a pad the current mode (or a global mapping) maps shows the mode's colour,
  or its toggle state; any other pad is dark;
- a press of a mapped pad shows the template's press colour (with brightness from the velocity
  when the device has brightness levels); a toggle mapping flips its state on the press;
- a release shows the pad's resting colour again (mode colour, or toggle state);
- a plugin (or the daemon) may set a pad's colour: it stays until the next frame clears it.
"""

from __future__ import annotations

from collections.abc import Iterable

from midimon.engine.config import Config, MappingSpec
from midimon.engine.device_templates import DeviceTemplate

__all__ = ["LedState", "mapped_pads"]


def _pad_of(mapping: MappingSpec, template: DeviceTemplate) -> int | None:
    """The template pad a mapping's trigger listens to (a note on the pads' channel), or None."""
    note = getattr(mapping.trigger, "note", None)
    channel = getattr(mapping.trigger, "channel", None)
    if not isinstance(note, int) or note not in template.pads:
        return None
    if channel is not None and channel != template.pad_channel:
        return None
    return note


def mapped_pads(
    mappings: Iterable[MappingSpec], template: DeviceTemplate
) -> dict[int, str | None]:
    """Pad note -> "toggle" when a toggle mapping uses it, else None; unmapped pads absent."""
    pads: dict[int, str | None] = {}
    for mapping in mappings:
        pad = _pad_of(mapping, template)
        if pad is not None and pads.get(pad) != "toggle":
            pads[pad] = mapping.led
    return pads


class LedState:
    """The LED state of one device under one config; not thread-safe (one sender thread)."""

    def __init__(self, template: DeviceTemplate, config: Config, mode: str) -> None:
        self.template = template
        self.leds = template.leds
        self.mode = mode
        self.toggles: dict[tuple[str, int], bool] = {}  # (mode, pad) -> on
        self.overrides: dict[int, int] = {}  # pad -> colour value set by a plugin
        self.pressed: set[int] = set()  # pads showing a press (a release must restore them)
        self.configure(config)

    def configure(self, config: Config) -> None:
        """Take a (re)loaded config: which pads each mode maps, and each mode's colour."""
        globals_ = mapped_pads(config.global_mappings, self.template)
        self._pads = {
            mode.name: {**globals_, **mapped_pads(mode.mappings, self.template)}
            for mode in config.modes
        }
        self._colors = {m.name: self.leds.color_value(m.color) for m in config.modes}
        if self.mode not in self._pads:
            self.mode = config.modes[0].name

    def _resting(self, pad: int) -> int:
        """The value a pad shows when nobody presses it."""
        if pad in self.overrides:
            return self.overrides[pad]
        kind = self._pads[self.mode].get(pad, "unmapped")
        if kind == "unmapped":
            return self.leds.off
        if kind == "toggle":
            on = self.toggles.get((self.mode, pad), False)
            return self.leds.color_value(self.leds.press) if on else self._colors[self.mode]
        return self._colors[self.mode]

    def frame(self, mode: str | None = None) -> list[bytes]:
        """Every message that puts the whole device in the state of ``mode`` (default: the
        current one): the init messages, then each pad."""
        if not self.leds.drivable:
            return []
        if mode is not None and mode in self._pads:
            self.mode = mode
        self.overrides.clear()
        messages = list(self.template.init)
        messages += [self.leds.message_bytes(pad, self._resting(pad)) for pad in self.template.pads]
        return messages

    def midi_in(self, data: bytes) -> list[bytes]:
        """What a MIDI message from the device changes: a press or release of a mapped pad."""
        if not self.leds.drivable or len(data) < 3:
            return []
        kind, channel, pad, velocity = data[0] & 0xF0, data[0] & 0x0F, data[1], data[2]
        if kind not in (0x80, 0x90) or channel != self.template.pad_channel:
            return []
        pressing = kind == 0x90 and velocity > 0
        if pad not in self._pads[self.mode] and (pressing or pad not in self.pressed):
            return []  # an unmapped pad (one lit by a press in the mode before is restored)
        if pressing:
            if self._pads[self.mode][pad] == "toggle":
                key = (self.mode, pad)
                self.toggles[key] = not self.toggles.get(key, False)
            self.pressed.add(pad)
            return [self.leds.press_bytes(pad, velocity)]
        self.pressed.discard(pad)
        return [self.leds.message_bytes(pad, self._resting(pad))]

    @staticmethod
    def check_pad(template: DeviceTemplate, pad: int, color: str | int) -> int:
        """The value showing ``color`` on ``pad``; ValueError for a device whose LEDs cannot
        be driven, a pad it does not have, or an unknown colour (name or value 0..127)."""
        leds = template.leds
        if not leds.drivable:
            raise ValueError(f"{template.name}: its LEDs cannot be driven")
        if pad not in template.pads:
            raise ValueError(f"{template.name} has no pad {pad}")
        if isinstance(color, str):
            if color.lower() not in leds.colors:
                known = ", ".join(leds.colors)
                raise ValueError(f"{template.name} has no colour {color!r} ({known})")
            return leds.colors[color.lower()]
        if not 0 <= color <= 127:
            raise ValueError(f"colour value {color} is not in 0..127")
        return color

    def set_pad(self, pad: int, color: str | int) -> list[bytes]:
        """Set a pad's colour (a name of the template's colours, or a raw value 0..127) until
        the next frame; ValueError for a pad or colour the device does not have."""
        value = self.check_pad(self.template, pad, color)
        self.overrides[pad] = value
        return [self.leds.message_bytes(pad, value)]
