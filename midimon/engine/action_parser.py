"""Validating action tables (recursively, conditions included) into action specs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from midimon.engine.action_schema import MAX_MS, MAX_REPEAT, MODIFIERS
from midimon.engine.action_specs import (
    DAY_NAMES,
    MIDI_MESSAGE_TYPES,
    Action,
    AllOf,
    AnyOf,
    Condition,
    ConditionalAction,
    DaysOfWeek,
    DelayAction,
    KeystrokeAction,
    MidiMessage,
    ModeChangeAction,
    ModeIs,
    Not,
    PluginAction,
    RepeatAction,
    SendMidiAction,
    SequenceAction,
    ShellAction,
    TextAction,
    TimeRange,
)
from midimon.engine.config_check import Checker, is_int, is_str_list, is_table
from midimon.plugins.description.manifest import NAME_PATTERN
from midimon.plugins.description.params_schema import ParamsSchema, check_params


class ActionParser:
    """Validates action tables (recursively) into Action specs."""

    def __init__(
        self,
        check: Checker,
        mode_names: list[str],
        params_schemas: Mapping[str, ParamsSchema] | None = None,
    ) -> None:
        self.check = check
        self.mode_names = mode_names
        # plugin name -> its declared params: each Plugin action's params are checked there
        self.params_schemas = params_schemas or {}
        # type -> (every key its table may have, its parser, called with the parser first:
        # bound methods here would tie the parser into a reference cycle)
        self.parsers: dict[str, tuple[frozenset[str], Callable[..., Action | None]]] = _PARSERS

    def parse(self, table: Any, loc: str, fld: str) -> Action | None:
        """The action spec for ``table``, or None after recording its errors."""
        if not is_table(table):
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
        action = parser(self, table, loc, fld)
        return action if len(self.check.errors) == before else None

    def _plugin(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        name = t.get("plugin")
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            self.check.error(loc, f"{fld}.plugin", "must be a plugin name (a-z, 0-9, _)")
        params = t.get("params", {})
        if not is_table(params):
            self.check.error(loc, f"{fld}.params", "must be a table of plugin parameters")
            return None
        expanded = {
            k: str(Path(v).expanduser()) if isinstance(v, str) and v.startswith("~/") else v
            for k, v in params.items()
        }
        if not isinstance(name, str):
            return None
        schema = self.params_schemas.get(name)
        if schema is not None:
            self._check_params(name, schema, expanded, loc, fld)
        return PluginAction(name, expanded)

    def _check_params(
        self, plugin: str, schema: ParamsSchema, params: dict[str, Any], loc: str, fld: str
    ) -> None:
        """The params against the plugin's plugin.toml: errors (missing, wrong type, out of
        range) and unknown names as warnings with the closest declared name."""
        errors, unknown = check_params(schema, params)
        for issue in errors:
            self.check.error(loc, f"{fld}.params.{issue.param}", issue.message(plugin))
        where = f"{self.check.path}: " if self.check.path else ""
        for issue in unknown:
            self.check.warnings.append(
                f"{where}{loc}: {fld}.params.{issue.param}: {issue.message(plugin)}; it is "
                "passed on, but the plugin may ignore or refuse it"
            )

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
        if not is_str_list(argv):
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
        if not is_table(m) or m.get("type") not in MIDI_MESSAGE_TYPES:
            self.check.error(loc, f"{fld}.type", f"must be one of: {', '.join(MIDI_MESSAGE_TYPES)}")
            return None
        _, number_key, value_key = MIDI_MESSAGE_TYPES[m["type"]]
        self.check.unknown(loc, f"{fld}.", m, {"type", "channel", number_key, value_key or ""})
        ok = True
        values: dict[str, int] = {}
        for key, low, high, default in (
            ("channel", 0, 15, 0),
            (number_key, 0, 127, None),
            (value_key, 0, 127, 100 if value_key == "velocity" else 0),
        ):
            if key is None:
                continue
            value = m.get(key, default)
            if is_int(value) and low <= value <= high:
                values[key] = value
            else:
                self.check.error(loc, f"{fld}.{key}", f"{key} must be an integer in {low}..{high}")
                ok = False
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
        if is_int(mode) and 0 <= mode < len(self.mode_names):  # upstream: index into [[modes]]
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

    def _ms(
        self, t: dict[str, Any], key: str, loc: str, fld: str, default: int | None = None
    ) -> int | None:
        value = t.get(key, default)
        if not (is_int(value) and 0 <= value <= MAX_MS):
            self.check.error(loc, f"{fld}.{key}", f"{key} must be an integer in 0..{MAX_MS} (ms)")
            return None
        return value

    def _delay(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        ms = self._ms(t, "ms", loc, fld)
        return None if ms is None else DelayAction(ms)

    def _repeat(self, t: dict[str, Any], loc: str, fld: str) -> Action | None:
        count = t.get("count")
        if not (is_int(count) and 1 <= count <= MAX_REPEAT):
            self.check.error(loc, f"{fld}.count", f"count must be an integer in 1..{MAX_REPEAT}")
        delay = self._ms(t, "delay_ms", loc, fld, 0)
        action = self.parse(t.get("action"), loc, f"{fld}.action")
        if action is None or delay is None or not is_int(count):
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
        if not is_table(c) or c.get("type") not in kinds:
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
            if not is_str_list(days) or any(d.lower()[:3] not in DAY_NAMES for d in days):
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
        if not is_str_list(keys):
            self.check.error(loc, f"{fld}.keys", 'must be a non-empty list of key names ["a", ...]')
            return None
        modifiers = t.get("modifiers", [])
        bad = not is_str_list(modifiers, allow_empty=True) or any(
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


_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _time_range(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str) or value.count("-") != 1:
        return None
    start, end = (_HHMM.fullmatch(p.strip()) for p in value.split("-"))
    if not start or not end:
        return None
    return int(start[1]) * 60 + int(start[2]), int(end[1]) * 60 + int(end[2])


# type -> (every key its table may have, its parser: ActionParser's method, unbound)
_PARSERS: dict[str, tuple[frozenset[str], Callable[..., Action | None]]] = {
    "Plugin": (frozenset({"type", "plugin", "params"}), ActionParser._plugin),
    "Shell": (frozenset({"type", "argv", "shell", "command"}), ActionParser._shell),
    "SendMidi": (frozenset({"type", "port", "messages"}), ActionParser._send_midi),
    "ModeChange": (frozenset({"type", "mode"}), ActionParser._mode_change),
    "Sequence": (frozenset({"type", "actions"}), ActionParser._sequence),
    "Delay": (frozenset({"type", "ms"}), ActionParser._delay),
    "Repeat": (frozenset({"type", "action", "count", "delay_ms"}), ActionParser._repeat),
    "Conditional": (
        frozenset({"type", "condition", "conditions", "then", "else"}),
        ActionParser._conditional,
    ),
    "Keystroke": (frozenset({"type", "keys", "modifiers"}), ActionParser._keystroke),
    "Text": (frozenset({"type", "text"}), ActionParser._text),
}
