"""The mapping config file (TOML): device, timing, modes, mappings, actions and [plugins].

    [device]             name = "port name or regex", virtual_port = "midimon" (or false),
                         auto_reconnect = true
    [advanced_settings]  chord_timeout_ms = 50, double_tap_timeout_ms = 300,
                         hold_threshold_ms = 1000 (trigger defaults);
    [advanced_settings.velocity_levels]  soft = [1, 40], medium = [41, 90], hard = [91, 127]
                         (redefine these or add more)
    [[modes]]            name = "Default", color = "blue"
    [[modes.mappings]]   description = "...", trigger = { type = ... }, action = { type = ... }
    [[global_mappings]]  same shape, active in every mode (after the mode's own mappings)
    [plugins]            see midimon.plugins.settings

Triggers: see ``midimon.engine.triggers.TRIGGER_TYPES`` (Note, VelocityRange, LongPress,
DoubleTap, NoteChord, CC, EncoderTurn, Aftertouch, PitchBend; each takes ``channel`` 0..15).

Actions (validated here as data; running them is the executor's job):
``Plugin`` plugin, params (top-level string params starting with ``~/`` are expanded) ·
``Shell`` argv = [...] (no shell), or shell = true with command = "..." ·
``SendMidi`` port (optional), messages = [{ type = note_on/note_off/cc/program_change, channel,
note/controller/program, velocity/value }] · ``ModeChange`` mode = a mode's name (wins), "next",
"previous", or an index into [[modes]] · ``Sequence`` actions · ``Delay`` ms ·
``Repeat`` action, count, delay_ms · ``Conditional`` condition (or conditions = [...], all must
hold), then, else; conditions are { type = "Mode", mode }, { type = "TimeRange",
range = "HH:MM-HH:MM" } (may wrap midnight), { type = "Days", days = ["mon", ...] },
And/Or { conditions = [...] }, Not { condition } · ``Keystroke`` keys, modifiers · ``Text`` text.

Upstream MIDIMon key names are accepted too (``min_duration_ms``, ``max_interval_ms``,
``timeout_ms``, ``cc``, ``min_velocity``/``max_velocity``, ``"Clockwise"``, ``auto_connect``).

Everything is checked when loaded; all problems are collected and raised together as
``InvalidConfig`` (a ``ConfigError`` whose ``errors`` lists each one, each naming the file, the
mapping, the field and what would be accepted). Unknown keys are not errors: they land in
``Config.warnings``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from midimon import _toml
from midimon.engine.triggers import (
    DEFAULT_VELOCITY_LEVELS,
    TimingDefaults,
    TriggerSpec,
    int_in,
    parse_trigger,
)
from midimon.plugins.description.manifest import NAME_PATTERN
from midimon.plugins.settings import PluginSettings, SettingsError, parse_plugin_settings

DEFAULT_CONFIG_NAME = "default_config.toml"


# --------------------------------------------------------------------------- errors


class ConfigError(ValueError):
    """One problem in a config file: the file, the mapping (or table), the field, and what
    would be accepted."""

    def __init__(
        self, path: Path | None, location: str | None, field: str | None, message: str
    ) -> None:
        self.path = path
        self.location = location
        self.field = field
        self.message = message
        self.errors: tuple[ConfigError, ...] = (self,)
        parts = [str(path) if path else "<config>", location, field, message]
        super().__init__(": ".join(p for p in parts if p))


class InvalidConfig(ConfigError):
    """Every problem found in one config file; ``errors`` holds each ConfigError."""

    def __init__(
        self, path: Path | None, errors: list[ConfigError], warnings: Sequence[str] = ()
    ) -> None:
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(path, None, None, f"{count}:\n{lines}")
        self.errors = tuple(errors)
        self.warnings = tuple(warnings)  # found alongside: `validate` shows them too


# --------------------------------------------------------------------------- action specs


@dataclass(frozen=True)
class PluginAction:
    """Run a native plugin with these params (a JSON-able table)."""

    plugin: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShellAction:
    """Run a program: ``argv`` without a shell, or ``command`` through /bin/sh when
    ``shell = true`` was asked for explicitly."""

    argv: tuple[str, ...] = ()
    command: str | None = None
    shell: bool = False


MIDI_MESSAGE_TYPES: dict[str, tuple[int, str, str | None]] = {
    # type -> (status nibble, number field, value field)
    "note_on": (0x90, "note", "velocity"),
    "note_off": (0x80, "note", "velocity"),
    "cc": (0xB0, "controller", "value"),
    "program_change": (0xC0, "program", None),
}


@dataclass(frozen=True)
class MidiMessage:
    """One message of a SendMidi action."""

    type: str
    channel: int
    number: int
    value: int = 0

    def to_bytes(self) -> bytes:
        """The raw MIDI bytes."""
        status, _, value_field = MIDI_MESSAGE_TYPES[self.type]
        head = [status | self.channel, self.number]
        return bytes([*head, self.value] if value_field else head)


@dataclass(frozen=True)
class SendMidiAction:
    """Send MIDI messages, to a named output port or the default one."""

    messages: tuple[MidiMessage, ...]
    port: str | None = None


@dataclass(frozen=True)
class ModeChangeAction:
    """Switch to a mode by name, or ``relative`` = "next"/"previous" (wrapping around)."""

    mode: str | None = None
    relative: str | None = None


@dataclass(frozen=True)
class SequenceAction:
    """Run actions one after another."""

    actions: tuple[Action, ...]


@dataclass(frozen=True)
class DelayAction:
    """Wait ``ms`` milliseconds (inside a Sequence)."""

    ms: int


@dataclass(frozen=True)
class RepeatAction:
    """Run ``action`` ``count`` times, ``delay_ms`` apart."""

    action: Action
    count: int
    delay_ms: int = 0


@dataclass(frozen=True)
class KeystrokeAction:
    """Press ``keys`` (in order) while holding ``modifiers``."""

    keys: tuple[str, ...]
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextAction:
    """Type a string."""

    text: str


# -- conditions


@dataclass(frozen=True)
class ModeIs:
    """True when the current mode is ``mode``."""

    mode: str

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return mode == self.mode


@dataclass(frozen=True)
class TimeRange:
    """True between start and end (minutes after midnight; end excluded; may wrap midnight)."""

    start: int
    end: int

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        minute = now.hour * 60 + now.minute
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class DaysOfWeek:
    """True on the given days (0 = Monday ... 6 = Sunday)."""

    days: frozenset[int]

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return now.weekday() in self.days


@dataclass(frozen=True)
class AllOf:
    """True when every condition is."""

    conditions: tuple[Condition, ...]

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return all(c.evaluate(mode, now) for c in self.conditions)


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is."""

    conditions: tuple[Condition, ...]

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return any(c.evaluate(mode, now) for c in self.conditions)


@dataclass(frozen=True)
class Not:
    """True when the condition is not."""

    condition: Condition

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return not self.condition.evaluate(mode, now)


Condition = ModeIs | TimeRange | DaysOfWeek | AllOf | AnyOf | Not


@dataclass(frozen=True)
class ConditionalAction:
    """Run ``then`` when ``condition`` holds, else ``otherwise`` (if any)."""

    condition: Condition
    then: Action
    otherwise: Action | None = None


Action = (
    PluginAction
    | ShellAction
    | SendMidiAction
    | ModeChangeAction
    | SequenceAction
    | DelayAction
    | RepeatAction
    | ConditionalAction
    | KeystrokeAction
    | TextAction
)


# --------------------------------------------------------------------------- config objects


@dataclass(frozen=True)
class DeviceSettings:
    """[device]: which input port to open (exact name or regex), the virtual port's name."""

    name: str | None = None
    virtual_port: str | None = "midimon"
    auto_reconnect: bool = True


@dataclass(frozen=True)
class AdvancedSettings(TimingDefaults):
    """[advanced_settings]: timing defaults for triggers and the named velocity levels."""


@dataclass(frozen=True)
class MappingSpec:
    """One mapping: trigger -> action. ``location`` names it in messages."""

    trigger: TriggerSpec
    action: Action
    description: str = ""
    location: str = ""


@dataclass(frozen=True)
class Mode:
    """A named set of mappings."""

    name: str
    mappings: tuple[MappingSpec, ...] = ()
    color: str | None = None


@dataclass(frozen=True)
class Config:
    """A loaded, validated config file."""

    modes: tuple[Mode, ...]
    global_mappings: tuple[MappingSpec, ...] = ()
    device: DeviceSettings = DeviceSettings()
    advanced: AdvancedSettings = AdvancedSettings()
    plugins: PluginSettings = field(default_factory=PluginSettings)
    warnings: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def mode_names(self) -> tuple[str, ...]:
        """Mode names in file order."""
        return tuple(m.name for m in self.modes)

    def triggers(self) -> list[TriggerSpec]:
        """Every distinct trigger of every mode and the global mappings."""
        specs = [m.trigger for mode in self.modes for m in mode.mappings]
        specs += [m.trigger for m in self.global_mappings]
        return list(dict.fromkeys(specs))


# --------------------------------------------------------------------------- parsing


class _Checker:
    """Collects errors and warnings while walking one file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []

    def error(self, location: str | None, field: str | None, message: str) -> None:
        self.errors.append(ConfigError(self.path, location, field, message))

    def unknown(
        self, location: str, prefix: str, table: dict[str, Any], known: set[str] | frozenset[str]
    ) -> None:
        if known.issuperset(table):
            return
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(k for k in known if k), n=1)
                self.unknown_key(location, f"{prefix}{key}", f"{prefix}{close[0]}" if close else "")

    def unknown_key(self, location: str, field: str, suggestion: str = "") -> None:
        where = f"{self.path}: " if self.path else ""
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        self.warnings.append(f"{where}{location}: {field}: unknown key, ignored{hint}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _table(value: Any) -> bool:
    return isinstance(value, dict)


def _str_list(value: Any, allow_empty: bool = False) -> bool:
    return (
        isinstance(value, list)
        and (allow_empty or bool(value))
        and all(isinstance(v, str) and v for v in value)
    )


class _ActionParser:
    """Validates action tables (recursively) into Action specs."""

    def __init__(self, check: _Checker, mode_names: list[str]) -> None:
        self.check = check
        self.mode_names = mode_names
        # type -> (every key its table may have, its parser)
        self.parsers: dict[str, tuple[frozenset[str], Callable[..., Action | None]]] = {
            "Plugin": (frozenset({"type", "plugin", "params"}), self._plugin),
            "Shell": (frozenset({"type", "argv", "shell", "command"}), self._shell),
            "SendMidi": (frozenset({"type", "port", "messages"}), self._send_midi),
            "ModeChange": (frozenset({"type", "mode"}), self._mode_change),
            "Sequence": (frozenset({"type", "actions"}), self._sequence),
            "Delay": (frozenset({"type", "ms"}), self._delay),
            "Repeat": (frozenset({"type", "action", "count", "delay_ms"}), self._repeat),
            "Conditional": (
                frozenset({"type", "condition", "conditions", "then", "else"}),
                self._conditional,
            ),
            "Keystroke": (frozenset({"type", "keys", "modifiers"}), self._keystroke),
            "Text": (frozenset({"type", "text"}), self._text),
        }

    def parse(self, table: Any, loc: str, fld: str) -> Action | None:
        if not _table(table):
            self.check.error(loc, fld, 'must be a table with a type, e.g. { type = "Plugin", ...}')
            return None
        kind = table.get("type")
        entry = self.parsers.get(kind) if isinstance(kind, str) else None
        if entry is None:
            self.check.error(loc, f"{fld}.type", f"must be one of: {', '.join(self.parsers)}")
            return None
        known, parser = entry
        if not known.issuperset(table):
            self.check.unknown(loc, f"{fld}.", table, known)
        before = len(self.check.errors)
        action = parser(table, loc, fld)
        return action if len(self.check.errors) == before else None

    def _plugin(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        name = t.get("plugin")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            self.check.error(loc, f"{fld}.plugin", "must be a plugin name (a-z, 0-9, _)")
        params = t.get("params", {})
        if not _table(params):
            self.check.error(loc, f"{fld}.params", "must be a table of plugin parameters")
            return None
        expanded = {
            k: str(Path(v).expanduser()) if isinstance(v, str) and v.startswith("~/") else v
            for k, v in params.items()
        }
        return PluginAction(name, expanded) if isinstance(name, str) else None

    def _shell(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        shell = t.get("shell", False)
        if not isinstance(shell, bool):
            self.check.error(loc, f"{fld}.shell", "must be true or false")
            return None
        if shell:
            command = t.get("command")
            if not isinstance(command, str) or not command.strip():
                self.check.error(loc, f"{fld}.command", "must be a non-empty string (shell = true)")
                return None
            if "argv" in t:
                self.check.error(loc, f"{fld}.argv", "give argv or shell = true with command")
            return ShellAction(command=command, shell=True)
        if "command" in t:
            self.check.error(
                loc, f"{fld}.command", "needs shell = true; without a shell give argv = [...]"
            )
            return None
        argv = t.get("argv")
        if not _str_list(argv):
            self.check.error(
                loc, f"{fld}.argv", 'must be a non-empty list of strings ["prog", ...]'
            )
            return None
        return ShellAction(argv=tuple(argv))

    def _send_midi(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        port = t.get("port")
        if port is not None and not isinstance(port, str):
            self.check.error(loc, f"{fld}.port", "must be a port name (string)")
        raw = t.get("messages")
        if not isinstance(raw, list) or not raw:
            self.check.error(loc, f"{fld}.messages", "must be a non-empty list of message tables")
            return None
        messages = [self._midi_message(m, loc, f"{fld}.messages[{i}]") for i, m in enumerate(raw)]
        if any(m is None for m in messages):
            return None
        return SendMidiAction(tuple(m for m in messages if m), port)

    def _midi_message(self, m: Any, loc: str, fld: str) -> MidiMessage | None:
        if not _table(m) or m.get("type") not in MIDI_MESSAGE_TYPES:
            self.check.error(loc, f"{fld}.type", f"must be one of: {', '.join(MIDI_MESSAGE_TYPES)}")
            return None
        _, number_key, value_key = MIDI_MESSAGE_TYPES[m["type"]]
        self.check.unknown(loc, f"{fld}.", m, {"type", "channel", number_key, value_key or ""})
        ok = True
        values = {}
        for key, low, high, default in (
            ("channel", 0, 15, 0),
            (number_key, 0, 127, None),
            (value_key, 0, 127, 100 if value_key == "velocity" else 0),
        ):
            if key is None:
                continue
            value = m.get(key, default)
            if not (_is_int(value) and low <= value <= high):
                self.check.error(loc, f"{fld}.{key}", f"{key} must be an integer in {low}..{high}")
                ok = False
            values[key] = value
        if not ok:
            return None
        return MidiMessage(
            m["type"], values["channel"], values[number_key], values.get(value_key or "", 0)
        )

    def _mode_change(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        mode = t.get("mode")
        if isinstance(mode, str) and mode in self.mode_names:
            return ModeChangeAction(mode=mode)
        if mode in ("next", "previous"):
            return ModeChangeAction(relative=mode)
        if _is_int(mode) and 0 <= mode < len(self.mode_names):  # upstream: index into [[modes]]
            return ModeChangeAction(mode=self.mode_names[mode])
        names = ", ".join(self.mode_names)
        self.check.error(
            loc,
            f"{fld}.mode",
            f'must name a mode ({names}), be "next" or "previous", '
            f"or a mode index 0..{len(self.mode_names) - 1}",
        )
        return None

    def _sequence(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        raw = t.get("actions")
        if not isinstance(raw, list) or not raw:
            self.check.error(loc, f"{fld}.actions", "must be a non-empty list of action tables")
            return None
        actions = [self.parse(a, loc, f"{fld}.actions[{i}]") for i, a in enumerate(raw)]
        return SequenceAction(tuple(a for a in actions if a is not None))

    def _ms(self, t: dict[str, Any], key: str, loc: str, fld: str, default: Any = None) -> Any:
        value = t.get(key, default)
        if not (_is_int(value) and 0 <= value <= 3_600_000):
            self.check.error(loc, f"{fld}.{key}", f"{key} must be an integer in 0..3600000 (ms)")
            return None
        return value

    def _delay(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        ms = self._ms(t, "ms", loc, fld)
        return None if ms is None else DelayAction(ms)

    def _repeat(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        count = t.get("count")
        if not (_is_int(count) and 1 <= count <= 1000):
            self.check.error(loc, f"{fld}.count", "count must be an integer in 1..1000")
        delay = self._ms(t, "delay_ms", loc, fld, 0)
        action = self.parse(t.get("action"), loc, f"{fld}.action")
        if action is None or delay is None or not _is_int(count):
            return None
        return RepeatAction(action, count, delay)

    def _conditional(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        if ("condition" in t) == ("conditions" in t):
            self.check.error(
                loc,
                f"{fld}.condition",
                "give condition = {...} or conditions = [...] (all must hold)",
            )
            condition = None
        elif "conditions" in t:
            condition = self._condition(
                {"type": "And", "conditions": t["conditions"]}, loc, f"{fld}.conditions", "[]"
            )
        else:
            condition = self._condition(t["condition"], loc, f"{fld}.condition")
        then = self.parse(t.get("then"), loc, f"{fld}.then")
        otherwise = self.parse(t["else"], loc, f"{fld}.else") if "else" in t else None
        if condition is None or then is None or ("else" in t and otherwise is None):
            return None
        return ConditionalAction(condition, then, otherwise)

    def _condition(self, c: Any, loc: str, fld: str, suffix: str = "") -> Condition | None:
        kinds = ("Mode", "TimeRange", "Days", "And", "Or", "Not")
        if not _table(c) or c.get("type") not in kinds:
            self.check.error(loc, f"{fld}.type", f"must be one of: {', '.join(kinds)}")
            return None
        kind = c["type"]
        if kind == "Mode":
            self.check.unknown(loc, f"{fld}.", c, {"type", "mode"})
            if c.get("mode") not in self.mode_names:
                names = ", ".join(self.mode_names)
                self.check.error(loc, f"{fld}.mode", f"must name a mode ({names})")
                return None
            return ModeIs(c["mode"])
        if kind == "TimeRange":
            self.check.unknown(loc, f"{fld}.", c, {"type", "range"})
            span = _time_range(c.get("range"))
            if span is None or span[0] == span[1]:
                self.check.error(
                    loc, f"{fld}.range", 'must be "HH:MM-HH:MM" (24-hour clock, start != end)'
                )
                return None
            return TimeRange(*span)
        if kind == "Days":
            self.check.unknown(loc, f"{fld}.", c, {"type", "days"})
            days = c.get("days")
            if not _str_list(days) or any(d.lower()[:3] not in DAY_NAMES for d in days):
                self.check.error(
                    loc, f"{fld}.days", f"must be a list of days: {', '.join(DAY_NAMES)}"
                )
                return None
            return DaysOfWeek(frozenset(DAY_NAMES.index(d.lower()[:3]) for d in days))
        if kind == "Not":
            self.check.unknown(loc, f"{fld}.", c, {"type", "condition"})
            inner = self._condition(c.get("condition"), loc, f"{fld}.condition")
            return None if inner is None else Not(inner)
        self.check.unknown(loc, f"{fld}.", c, {"type", "conditions"})
        raw = c.get("conditions")
        if not isinstance(raw, list) or not raw:
            where = fld if suffix else f"{fld}.conditions"
            self.check.error(loc, where, "must be a non-empty list of condition tables")
            return None
        base = fld if suffix else f"{fld}.conditions"
        parts = [self._condition(x, loc, f"{base}[{i}]") for i, x in enumerate(raw)]
        if any(p is None for p in parts):
            return None
        group = tuple(p for p in parts if p is not None)
        return AllOf(group) if kind == "And" else AnyOf(group)

    def _keystroke(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        keys = t.get("keys")
        if isinstance(keys, str):
            keys = [keys]
        if not _str_list(keys):
            self.check.error(loc, f"{fld}.keys", 'must be a non-empty list of key names ["a", ...]')
            return None
        modifiers = t.get("modifiers", [])
        bad = not _str_list(modifiers, allow_empty=True) or any(
            m.lower() not in MODIFIERS for m in modifiers
        )
        if bad:
            self.check.error(loc, f"{fld}.modifiers", f"must be a list of: {', '.join(MODIFIERS)}")
            return None
        return KeystrokeAction(tuple(keys), tuple(m.lower() for m in modifiers))

    def _text(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        text = t.get("text")
        if not isinstance(text, str) or not text:
            self.check.error(loc, f"{fld}.text", "must be a non-empty string")
            return None
        return TextAction(text)


MODIFIERS = ("ctrl", "control", "shift", "alt", "option", "super", "cmd", "command", "meta")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _time_range(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str) or value.count("-") != 1:
        return None
    start, end = (_HHMM.fullmatch(p.strip()) for p in value.split("-"))
    if not start or not end:
        return None
    return int(start[1]) * 60 + int(start[2]), int(end[1]) * 60 + int(end[2])


_DEVICE_KEYS = {"name", "virtual_port", "auto_reconnect", "auto_connect"}
_ADVANCED_MS = ("chord_timeout_ms", "double_tap_timeout_ms", "hold_threshold_ms")
_TOP_KEYS = {"device", "advanced_settings", "modes", "global_mappings", "plugins"}


def _device(doc: dict[str, Any], check: _Checker) -> DeviceSettings:
    table = doc.get("device", {})
    if not _table(table):
        check.error("device", None, "must be a table")
        return DeviceSettings()
    check.unknown("device", "", table, _DEVICE_KEYS)
    values: dict[str, Any] = {}
    for key in ("name", "virtual_port"):
        if key in table:
            if isinstance(table[key], str) and table[key]:
                values[key] = table[key]
            elif key == "virtual_port" and table[key] is False:
                values[key] = None
            else:
                extra = " (or false for none)" if key == "virtual_port" else ""
                check.error("device", key, f"must be a non-empty string{extra}")
    if "name" in values:
        try:
            re.compile(values["name"])
        except re.error as exc:
            where = f"{check.path}: " if check.path else ""
            check.warnings.append(
                f"{where}device: name: not a valid regex ({exc}); matched as an exact name only"
            )
    for key in ("auto_connect", "auto_reconnect"):  # auto_connect: upstream MIDIMon's name
        if key in table:
            if isinstance(table[key], bool):
                values["auto_reconnect"] = table[key]
            else:
                check.error("device", key, "must be true or false")
    return DeviceSettings(**values)


def _advanced(doc: dict[str, Any], check: _Checker) -> AdvancedSettings:
    table = doc.get("advanced_settings", {})
    if not _table(table):
        check.error("advanced_settings", None, "must be a table")
        return AdvancedSettings()
    check.unknown("advanced_settings", "", table, {*_ADVANCED_MS, "velocity_levels"})
    values: dict[str, Any] = {}
    for key in _ADVANCED_MS:
        if key in table:
            if int_in(1, 60_000)(table[key]) is None:
                values[key] = table[key]
            else:
                check.error("advanced_settings", key, "must be an integer in 1..60000 (ms)")
    if "velocity_levels" in table:
        levels = _velocity_levels(table["velocity_levels"], check)
        if levels is not None:
            values["velocity_levels"] = levels
    return AdvancedSettings(**values)


def _velocity_levels(raw: Any, check: _Checker) -> dict[str, tuple[int, int]] | None:
    loc, fld = "advanced_settings", "velocity_levels"
    if not _table(raw) or not raw:
        check.error(loc, fld, "must be a table of name = [min, max]")
        return None
    levels = dict(DEFAULT_VELOCITY_LEVELS)  # the table adds levels or redefines them
    for name, span in raw.items():
        ok = (
            isinstance(span, list)
            and len(span) == 2
            and all(int_in(1, 127)(v) is None for v in span)
            and span[0] <= span[1]
        )
        if not ok:
            check.error(loc, f"{fld}.{name}", "must be [min, max] with 1 <= min <= max <= 127")
            continue
        levels[name] = (span[0], span[1])
    return levels


_MAPPING_KEYS = frozenset({"description", "trigger", "action"})


def _mapping_location(prefix: str, index: int, table: Any) -> str:
    desc = table.get("description") if _table(table) else None
    return f"{prefix}[{index}]" + (f' ("{desc}")' if isinstance(desc, str) and desc else "")


def _mappings(
    raw: Any,
    prefix: str,
    field_name: str,
    check: _Checker,
    actions: _ActionParser,
    timing: TimingDefaults,
) -> tuple[MappingSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.error(prefix, field_name, "must be an array of tables ([[...]])")
        return ()
    out = []
    base = f"{prefix} {field_name}" if prefix else field_name
    for i, table in enumerate(raw):
        loc = _mapping_location(base, i, table)
        if not _table(table):
            check.error(loc, None, "must be a table with trigger and action")
            continue
        check.unknown(loc, "", table, _MAPPING_KEYS)
        desc = table.get("description", "")
        if not isinstance(desc, str):
            check.error(loc, "description", "must be a string")
        if "trigger" not in table:
            check.error(loc, "trigger", 'is required, e.g. trigger = { type = "Note", note = 36 }')
            trigger = None
        else:
            result = parse_trigger(table["trigger"], timing)
            for key in result.unknown:
                check.unknown_key(loc, f"trigger.{key}")
            for fld, message in result.errors:
                check.error(loc, f"trigger.{fld}" if fld else "trigger", message)
            trigger = result.spec
        if "action" not in table:
            check.error(loc, "action", 'is required, e.g. action = { type = "Plugin", ... }')
            action = None
        else:
            action = actions.parse(table["action"], loc, "action")
        if trigger is not None and action is not None and isinstance(desc, str):
            out.append(MappingSpec(trigger, action, desc, loc))
    return tuple(out)


def _mode_names(raw: list[Any], check: _Checker) -> list[str | None]:
    names: list[str | None] = []
    for i, table in enumerate(raw):
        name = table.get("name") if _table(table) else None
        if not isinstance(name, str) or not name.strip():
            check.error(f"modes[{i}]", "name", "must be a non-empty string")
            names.append(None)
        elif name in names:
            check.error(f'modes[{i}] "{name}"', "name", "duplicates an earlier mode's name")
            names.append(None)
        else:
            names.append(name)
    return names


def parse_config(text: str, path: Path | str | None = None) -> Config:
    """Validate config TOML text; raises InvalidConfig listing every problem found."""
    path = Path(path) if path is not None else None
    check = _Checker(path)
    try:
        doc = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise InvalidConfig(path, [ConfigError(path, None, None, f"invalid TOML: {exc}")]) from None
    check.unknown("(top level)", "", doc, _TOP_KEYS)
    device = _device(doc, check)
    advanced = _advanced(doc, check)

    raw_modes = doc.get("modes", [])
    if not isinstance(raw_modes, list) or not all(_table(m) for m in raw_modes):
        check.error("modes", None, "must be an array of tables ([[modes]])")
        raw_modes = []
    names = _mode_names(raw_modes, check)
    if not raw_modes:
        raw_modes, names = [{"name": "Default"}], ["Default"]
    actions = _ActionParser(check, [n for n in names if n])
    modes = []
    for i, (table, name) in enumerate(zip(raw_modes, names, strict=True)):
        loc = f'modes[{i}] "{name}"' if name else f"modes[{i}]"
        check.unknown(loc, "", table, {"name", "color", "mappings"})
        color = table.get("color")
        if color is not None and not isinstance(color, str):
            check.error(loc, "color", "must be a string")
        mappings = _mappings(table.get("mappings"), loc, "mappings", check, actions, advanced)
        if name:
            modes.append(Mode(name, mappings, color if isinstance(color, str) else None))
    global_mappings = _mappings(
        doc.get("global_mappings"), "", "global_mappings", check, actions, advanced
    )

    plugins = PluginSettings(source=path)
    if "plugins" in doc:
        try:
            plugins = parse_plugin_settings(doc["plugins"], path)
            check.warnings += plugins.warnings
        except SettingsError as exc:
            check.error("plugins", exc.key, str(exc).split(f"{exc.key}: ", 1)[-1])

    if check.errors:
        raise InvalidConfig(path, check.errors, check.warnings)
    return Config(
        modes=tuple(modes),
        global_mappings=global_mappings,
        device=device,
        advanced=advanced,
        plugins=plugins,
        warnings=tuple(check.warnings),
        path=path,
    )


def load_config(path: Path | str) -> Config:
    """Read and validate a config file; raises InvalidConfig (a ConfigError)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig(path, [ConfigError(path, None, None, f"cannot read: {exc}")]) from None
    return parse_config(text, path)


def default_config_path() -> Path:
    """The config bundled with midimon (three pads on the bundled plugins, two modes)."""
    return Path(__file__).resolve().with_name(DEFAULT_CONFIG_NAME)
