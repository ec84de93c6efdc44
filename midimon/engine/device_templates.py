"""Device templates: what a controller sends (pads, knobs) and how its LEDs are lit.

The templates midimon ships are TOML files in ``midimon/device_templates/`` (one per
controller, each citing the maker's MIDI implementation it was written from). Shape::

    [template]  name, title, port (pattern for the input port; optional), output_port
                (pattern for the LED output; default: port), source, unconfirmed = [...],
                init = ["F0 ... F7", ...] (hex messages sent before any LED)
    [pads]      channel (0..15), notes = [...] (reading order: top-left first)
    [knobs]     channel, ccs = [...]                                 (optional)
    [leds]      message = "note" | "cc" | "none", channel, off (value that darkens a pad),
                press (colour name shown on a press), default (mode colour when a mode names
                none, or one this device lacks), brightness_channels = [...] (a press's
                velocity picks one: low velocity, dim channel; empty: no brightness)
    [leds.colors]  name = value (the velocity / CC value that shows that colour)

Loading checks every field and raises :class:`TemplateError` naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon import _toml
from midimon.engine.errors import TemplateError

__all__ = [
    "TEMPLATE_DIR",
    "DeviceTemplate",
    "LedSpec",
    "TemplateError",
    "find_template",
    "load_template",
    "parse_template",
    "shipped_templates",
    "starter_config",
]

#: Where the shipped templates live.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "device_templates"
LED_MESSAGES = ("note", "cc", "none")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_HEX = re.compile(r"^[0-9A-Fa-f]{2}( [0-9A-Fa-f]{2})*$")


@dataclass(frozen=True)
class LedSpec:
    """How a device's pad LEDs are driven (``message == "none"``: they are not)."""

    message: str = "none"
    channel: int = 0
    off: int = 0
    press: str | None = None
    default: str | None = None
    brightness_channels: tuple[int, ...] = ()
    colors: dict[str, int] = field(default_factory=dict)

    @property
    def drivable(self) -> bool:
        """True when midimon can light this device's pads."""
        return self.message != "none"

    def color_value(self, name: str | None) -> int:
        """The value showing colour ``name`` (the default colour when unknown or None)."""
        if name is not None and name.lower() in self.colors:
            return self.colors[name.lower()]
        if self.default is not None:
            return self.colors[self.default]
        return max(self.colors.values(), default=127)

    def message_bytes(self, note: int, value: int, channel: int | None = None) -> bytes:
        """The 3-byte message that sets pad ``note`` to ``value`` (on ``channel``, default
        the LED channel)."""
        status = 0x90 if self.message == "note" else 0xB0
        return bytes((status | (self.channel if channel is None else channel), note, value))

    def press_bytes(self, note: int, velocity: int) -> bytes:
        """What a press of ``note`` at ``velocity`` shows: the press colour, dimmer for a
        softer hit when the device has brightness levels."""
        value = self.color_value(self.press)
        levels = self.brightness_channels
        if not levels:
            return self.message_bytes(note, value)
        index = min(len(levels) - 1, max(0, velocity) * len(levels) // 128)
        return self.message_bytes(note, value, levels[index])


@dataclass(frozen=True)
class DeviceTemplate:
    """One controller: its port patterns, pads, knobs and LEDs, and where the facts came from."""

    name: str
    title: str
    source: str
    pad_channel: int
    pads: tuple[int, ...]
    leds: LedSpec
    port: str | None = None
    output_port: str | None = None
    knob_channel: int = 0
    knobs: tuple[int, ...] = ()
    init: tuple[bytes, ...] = ()
    unconfirmed: tuple[str, ...] = ()
    path: Path | None = None

    def matches(self, port_name: str) -> bool:
        """True when ``port_name`` is this device's port (midimon's port-matching rules)."""
        if not self.port:
            return False
        from midimon.midi import match_port  # rtmidi: only when a port is matched

        return match_port(self.port, [port_name]) is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "port": self.port,
            "output_port": self.output_port,
            "pads": {"channel": self.pad_channel, "notes": list(self.pads)},
            "knobs": {"channel": self.knob_channel, "ccs": list(self.knobs)},
            "leds": {
                "message": self.leds.message,
                "channel": self.leds.channel,
                "off": self.leds.off,
                "press": self.leds.press,
                "default": self.leds.default,
                "brightness_channels": list(self.leds.brightness_channels),
                "colors": dict(self.leds.colors),
            },
            "init": [m.hex(" ").upper() for m in self.init],
            "unconfirmed": list(self.unconfirmed),
            "path": str(self.path) if self.path else None,
        }


class _Reader:
    """Field access that raises TemplateError naming the file and the field."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> TemplateError:
        return TemplateError(self.path, where, message)

    def table(self, doc: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
        value = doc.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"[{key}]", "is required and must be a table")
        return value

    def text(self, table: dict[str, Any], where: str, key: str, required: bool = True) -> Any:
        value = table.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", "must be a non-empty string")
        return value

    def number(self, table: dict[str, Any], where: str, key: str, top: int, default: Any) -> int:
        value = table.get(key, default)
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{key}", f"must be an integer in 0..{top}")
        if not 0 <= value <= top:
            raise self.fail(f"{where}.{key}", f"must be in 0..{top}, not {value}")
        return value

    def numbers(self, table: dict[str, Any], where: str, key: str, top: int) -> tuple[int, ...]:
        value = table.get(key, [])
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= top for v in value
        )
        if not ok:
            raise self.fail(f"{where}.{key}", f"must be a list of integers in 0..{top}")
        if len(set(value)) != len(value):
            raise self.fail(f"{where}.{key}", "lists a number twice")
        return tuple(value)


def _leds(doc: dict[str, Any], read: _Reader) -> LedSpec:
    table = read.table(doc, "leds")
    message = table.get("message")
    if message not in LED_MESSAGES:
        raise read.fail("leds.message", f"must be one of {', '.join(LED_MESSAGES)}")
    if message == "none":
        return LedSpec()
    raw_colors = table.get("colors")
    if not isinstance(raw_colors, dict) or not raw_colors:
        raise read.fail("leds.colors", "must be a table of colour name = value (0..127)")
    colors = {}
    for name, value in raw_colors.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
            raise read.fail(f"leds.colors.{name}", "must be an integer in 0..127")
        colors[name.lower()] = value
    names = {}
    for key in ("press", "default"):
        names[key] = read.text(table, "leds", key)
        if names[key].lower() not in colors:
            known = ", ".join(colors)
            raise read.fail(f"leds.{key}", f"names no colour in [leds.colors] ({known})")
    return LedSpec(
        message=message,
        channel=read.number(table, "leds", "channel", 15, 0),
        off=read.number(table, "leds", "off", 127, 0),
        press=names["press"].lower(),
        default=names["default"].lower(),
        brightness_channels=read.numbers(table, "leds", "brightness_channels", 15),
        colors=colors,
    )


def parse_template(text: str, path: Path | str | None = None) -> DeviceTemplate:
    """Validate template TOML text; raises TemplateError naming the file and the field."""
    read = _Reader(path)
    try:
        doc = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise TemplateError(path, None, f"invalid TOML: {exc}") from None
    head = read.table(doc, "template")
    name = read.text(head, "template", "name")
    if not _NAME.match(name):
        raise read.fail("template.name", "must be lower-case letters, digits and dashes")
    if path is not None and Path(path).stem != name:
        raise read.fail("template.name", f"must match the file name ({Path(path).stem!r})")
    port = read.text(head, "template", "port", required=False)
    for key in ("port", "output_port"):
        pattern = head.get(key)
        if pattern is not None:
            try:
                re.compile(read.text(head, "template", key))
            except re.error as exc:
                raise read.fail(f"template.{key}", f"is not a valid regex: {exc}") from None
    init = []
    raw_init = head.get("init", [])
    if not isinstance(raw_init, list):
        raise read.fail("template.init", 'must be a list of hex messages ("F0 ... F7")')
    for i, message in enumerate(raw_init):
        if not isinstance(message, str) or not _HEX.match(message.strip()):
            raise read.fail(f"template.init[{i}]", 'must be hex bytes like "F0 00 20 F7"')
        init.append(bytes.fromhex(message))
    unconfirmed = head.get("unconfirmed", [])
    if not isinstance(unconfirmed, list) or not all(isinstance(u, str) for u in unconfirmed):
        raise read.fail("template.unconfirmed", "must be a list of strings")
    pads = read.table(doc, "pads")
    notes = read.numbers(pads, "pads", "notes", 127)
    if not notes:
        raise read.fail("pads.notes", "must list at least one note")
    knobs = read.table(doc, "knobs", required=False)
    return DeviceTemplate(
        name=name,
        title=read.text(head, "template", "title"),
        source=read.text(head, "template", "source"),
        port=port,
        output_port=head.get("output_port") or port,
        pad_channel=read.number(pads, "pads", "channel", 15, None),
        pads=notes,
        knob_channel=read.number(knobs, "knobs", "channel", 15, 0),
        knobs=read.numbers(knobs, "knobs", "ccs", 127),
        leds=_leds(doc, read),
        init=tuple(init),
        unconfirmed=tuple(unconfirmed),
        path=Path(path) if path is not None else None,
    )


def load_template(path: Path | str) -> DeviceTemplate:
    """Read and validate one template file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(path, None, f"cannot read: {exc}") from None
    return parse_template(text, path)


def shipped_templates(folder: Path = TEMPLATE_DIR) -> list[DeviceTemplate]:
    """Every template in ``folder`` (default: the shipped ones), by name."""
    return [load_template(p) for p in sorted(folder.glob("*.toml"))]


def find_template(name: str, folder: Path = TEMPLATE_DIR) -> DeviceTemplate:
    """The template called ``name``, or a file path; TemplateError listing the names."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.is_file():
        return load_template(candidate)
    path = folder / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(folder.glob("*.toml")))
        raise TemplateError(None, None, f"no device template {name!r}; templates: {names}")
    return load_template(path)


def starter_config(template: DeviceTemplate) -> str:
    """A config for ``template``'s device: two modes, every pad mapped to a harmless action
    (a 0 ms Delay to replace with your own; the last pad steps to the next mode), LED
    feedback on when the device's LEDs can be driven."""
    lines = [
        f"# Starter config for {template.title}, written by `midimon templates use "
        f"{template.name}`.",
        f"# Device facts: {template.source}.",
        "# Every pad runs a harmless placeholder (a 0 ms Delay): replace each action with yours.",
        "",
        "[device]",
    ]
    if template.port:
        lines.append(f"name = {_toml_str(template.port)}")
    lines.append("")
    if template.leds.drivable:
        lines += ["[feedback]", "enabled = true", f"template = {_toml_str(template.name)}", ""]
    colors = list(template.leds.colors) or ["green", "blue"]
    modes = [("Default", template.leds.default or colors[0]), ("Second", _other(colors))]
    last = len(template.pads) - 1
    for mode, color in modes:
        lines += ["[[modes]]", f"name = {_toml_str(mode)}", f"color = {_toml_str(color)}", ""]
        for index, note in enumerate(template.pads):
            trigger = f"{{ type = \"Note\", note = {note}, channel = {template.pad_channel} }}"
            if index == last:
                desc = f"pad {index + 1}: next mode"
                action = '{ type = "ModeChange", mode = "next" }'
            else:
                desc, action = f"pad {index + 1}", '{ type = "Delay", ms = 0 }'
            lines += [
                "[[modes.mappings]]",
                f"description = {_toml_str(desc)}",
                f"trigger = {trigger}",
                f"action = {action}",
                "",
            ]
    return "\n".join(lines)


def _other(colors: list[str]) -> str:
    """A second mode colour: blue when the device has it, else its second colour."""
    return "blue" if "blue" in colors else colors[min(1, len(colors) - 1)]


def _toml_str(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a valid TOML basic string
