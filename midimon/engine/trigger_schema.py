"""Trigger tables as data: the field schema of each trigger type (checks, defaults, upstream
aliases) and ``parse_trigger``, which validates a table against it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from midimon.engine.events import PITCH_BEND_MAX, PITCH_BEND_MIN
from midimon.engine.trigger_specs import (
    AFTERTOUCH_SOURCES,
    DEFAULT_VELOCITY_LEVELS,
    DIRECTIONS,
    ENCODINGS,
    AftertouchTrigger,
    CCTrigger,
    DoubleTapTrigger,
    EncoderTurnTrigger,
    LongPressTrigger,
    NoteChordTrigger,
    NoteTrigger,
    PitchBendTrigger,
    PluginTrigger,
    TriggerSpec,
    VelocityRangeTrigger,
)


@dataclass(frozen=True)
class TimingDefaults:
    """Defaults that trigger fields take from [advanced_settings]."""

    chord_timeout_ms: int = 50
    double_tap_timeout_ms: int = 300
    hold_threshold_ms: int = 1000
    velocity_levels: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: dict(DEFAULT_VELOCITY_LEVELS)
    )


Check = Callable[[Any], str | None]  # returns what would be accepted, or None when fine
# A cross-field check: the (field, message) of each problem among a table's checked values.
Finish = Callable[[dict[str, Any], TimingDefaults], list[tuple[str, str]]]
REQUIRED = object()


def int_in(low: int, high: int) -> Check:
    """A check for an integer in low..high."""

    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"must be an integer in {low}..{high}"

    return check


def one_of(*choices: str) -> Check:
    """A check for one of the given strings."""

    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of: {', '.join(choices)}"

    return check


def _note_list(value: Any) -> str | None:
    if (
        not isinstance(value, list)
        or len(value) < 2
        or any(int_in(0, 127)(v) for v in value)
        or len(set(value)) != len(value)
    ):
        return "must be a list of at least 2 distinct integers in 0..127"
    return None


@dataclass(frozen=True)
class FieldSpec:
    """One field of a trigger table: its check, its default (a value, REQUIRED, or a function
    of the TimingDefaults), the key names upstream MIDIMon configs use for it, and value
    spellings they use (``"Clockwise"`` for ``"cw"``)."""

    name: str
    check: Check
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    value_aliases: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerType:
    """A trigger type: its spec class, its fields, and an optional cross-field check."""

    cls: type
    fields: tuple[FieldSpec, ...]
    finish: Finish | None = None
    #: Every key a table of this type may have: ``type``, the field names and their aliases.
    keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {name for f in self.fields for name in (f.name, *f.aliases)}
        object.__setattr__(self, "keys", frozenset({"type", *names}))


NOTE = int_in(0, 127)
VALUE = int_in(0, 127)
MS_RANGE = int_in(1, 60_000)
CHANNEL = FieldSpec("channel", int_in(0, 15), None)
UPSTREAM_WINDOW = ("timeout_ms", "max_interval_ms")


def _ordered(low: str, high: str) -> Finish:
    def finish(values: dict[str, Any], _: TimingDefaults) -> list[tuple[str, str]]:
        if values[low] > values[high]:
            return [
                (low, f"{low} ({values[low]}) must not be greater than {high} ({values[high]})")
            ]
        return []

    return finish


def _velocity_range(values: dict[str, Any], timing: TimingDefaults) -> list[tuple[str, str]]:
    level = values.pop("level")
    if level is not None:
        if values["min"] is not None or values["max"] is not None:
            return [("level", "give either level or min/max, not both")]
        if level not in timing.velocity_levels:
            return [("level", f"must be one of: {', '.join(timing.velocity_levels)}")]
        values["min"], values["max"] = timing.velocity_levels[level]
        return []
    if values["min"] is None or values["max"] is None:
        return [
            (
                "min",
                "give min and max (integers in 1..127) or a level "
                f"({', '.join(timing.velocity_levels)})",
            )
        ]
    return _ordered("min", "max")(values, timing)


def _chord(values: dict[str, Any], _: TimingDefaults) -> list[tuple[str, str]]:
    values["notes"] = tuple(sorted(values["notes"]))
    return []


def _aftertouch(values: dict[str, Any], timing: TimingDefaults) -> list[tuple[str, str]]:
    if values["note"] is not None and values["source"] != "poly":
        return [("note", 'a note filter needs source = "poly" (channel pressure has no note)')]
    return _ordered("pressure_min", "pressure_max")(values, timing)


_PLUGIN_NAME = re.compile(r"[a-z0-9_]+")
MAX_EVENT_NAME = 255  # bytes (MIDIMON_MAX_EVENT_NAME)


def _plugin_name(value: Any) -> str | None:
    ok = isinstance(value, str) and _PLUGIN_NAME.fullmatch(value) is not None
    return None if ok else "must be a plugin name ([a-z0-9_]+)"


def _event_name(value: Any) -> str | None:
    if not isinstance(value, str) or not 0 < len(value.encode("utf-8")) <= MAX_EVENT_NAME:
        return f'must be an event name of 1..{MAX_EVENT_NAME} bytes (e.g. "/pad/1")'
    return None


def _number(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return None if ok else "must be a number"


def _plugin_range(values: dict[str, Any], _: TimingDefaults) -> list[tuple[str, str]]:
    for key in ("value_min", "value_max"):
        if values[key] is not None:
            values[key] = float(values[key])
    low, high = values["value_min"], values["value_max"]
    if low is not None and high is not None and low > high:
        return [("value_min", f"value_min ({low:g}) must not be greater than value_max ({high:g})")]
    return []


#: Trigger type name (as written in TOML) -> how to build and check it.
TRIGGER_TYPES: dict[str, TriggerType] = {
    "Note": TriggerType(
        NoteTrigger,
        (
            FieldSpec("note", NOTE),
            FieldSpec("velocity_min", int_in(1, 127), 1),
            FieldSpec("velocity_max", int_in(1, 127), 127),
            CHANNEL,
        ),
        _ordered("velocity_min", "velocity_max"),
    ),
    "VelocityRange": TriggerType(
        VelocityRangeTrigger,
        (
            FieldSpec("note", NOTE),
            FieldSpec("min", int_in(1, 127), None, ("min_velocity",)),
            FieldSpec("max", int_in(1, 127), None, ("max_velocity",)),
            FieldSpec(
                "level", lambda v: None if isinstance(v, str) else "must be a level name", None
            ),
            CHANNEL,
        ),
        _velocity_range,
    ),
    "LongPress": TriggerType(
        LongPressTrigger,
        (
            FieldSpec("note", NOTE),
            FieldSpec(
                "hold_ms",
                MS_RANGE,
                lambda t: t.hold_threshold_ms,
                ("duration_ms", "min_duration_ms"),
            ),
            CHANNEL,
        ),
    ),
    "DoubleTap": TriggerType(
        DoubleTapTrigger,
        (
            FieldSpec("note", NOTE),
            FieldSpec("window_ms", MS_RANGE, lambda t: t.double_tap_timeout_ms, UPSTREAM_WINDOW),
            CHANNEL,
        ),
    ),
    "NoteChord": TriggerType(
        NoteChordTrigger,
        (
            FieldSpec("notes", _note_list),
            FieldSpec("window_ms", MS_RANGE, lambda t: t.chord_timeout_ms, UPSTREAM_WINDOW),
            CHANNEL,
        ),
        _chord,
    ),
    "CC": TriggerType(
        CCTrigger,
        (
            FieldSpec("controller", NOTE, REQUIRED, ("cc",)),
            FieldSpec("value_min", VALUE, 0),
            FieldSpec("value_max", VALUE, 127),
            CHANNEL,
        ),
        _ordered("value_min", "value_max"),
    ),
    "EncoderTurn": TriggerType(
        EncoderTurnTrigger,
        (
            FieldSpec("controller", NOTE, REQUIRED, ("cc",)),
            FieldSpec(
                "direction",
                one_of(*DIRECTIONS),
                "any",
                value_aliases={"Clockwise": "cw", "CounterClockwise": "ccw"},
            ),
            FieldSpec("encoding", one_of(*ENCODINGS), "twos_complement"),
            CHANNEL,
        ),
    ),
    "Aftertouch": TriggerType(
        AftertouchTrigger,
        (
            FieldSpec("pressure_min", VALUE, 0),
            FieldSpec("pressure_max", VALUE, 127),
            FieldSpec("source", one_of(*AFTERTOUCH_SOURCES), "any"),
            FieldSpec("note", NOTE, None),
            CHANNEL,
        ),
        _aftertouch,
    ),
    "PitchBend": TriggerType(
        PitchBendTrigger,
        (
            FieldSpec("min", int_in(PITCH_BEND_MIN, PITCH_BEND_MAX), PITCH_BEND_MIN),
            FieldSpec("max", int_in(PITCH_BEND_MIN, PITCH_BEND_MAX), PITCH_BEND_MAX),
            CHANNEL,
        ),
        _ordered("min", "max"),
    ),
    "Plugin": TriggerType(
        PluginTrigger,
        (
            FieldSpec("plugin", _plugin_name),
            FieldSpec("event", _event_name),
            FieldSpec("value_min", _number, None),
            FieldSpec("value_max", _number, None),
            CHANNEL,
        ),
        _plugin_range,
    ),
}


@dataclass(frozen=True)
class TriggerParse:
    """The result of ``parse_trigger``: the spec (None on error), errors and unknown keys.

    Each error is ``(field, message)`` with field relative to the trigger table.
    """

    spec: TriggerSpec | None
    errors: tuple[tuple[str, str], ...] = ()
    unknown: tuple[str, ...] = ()


def parse_trigger(table: Any, timing: TimingDefaults | None = None) -> TriggerParse:
    """Validate a trigger table (``{ type = "Note", note = 36 }``) against TRIGGER_TYPES."""
    timing = timing or TimingDefaults()
    if not isinstance(table, dict):
        return TriggerParse(
            None, (("", 'must be a table with a type, e.g. { type = "Note", note = 36 }'),)
        )
    kind = table.get("type")
    ttype = TRIGGER_TYPES.get(kind) if isinstance(kind, str) else None
    if ttype is None:
        return TriggerParse(None, (("type", f"must be one of: {', '.join(TRIGGER_TYPES)}"),))
    errors: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for spec in ttype.fields:
        name = spec.name
        if spec.aliases:
            given = [k for k in (name, *spec.aliases) if k in table]
            if len(given) > 1:
                errors.append((given[1], f"{' and '.join(given)} are the same field; give one"))
                continue
            key = given[0] if given else None
        else:
            key = name if name in table else None
        if key is not None:
            value = table[key]
            if spec.value_aliases and isinstance(value, str):
                value = spec.value_aliases.get(value, value)
            problem = spec.check(value)
            if problem:
                errors.append((key, f"{key} {problem}, got {table[key]!r}"))
                continue
            values[name] = value
        elif spec.default is REQUIRED:
            errors.append((name, f"{name} is required ({kind} needs {_required_names(ttype)})"))
        else:
            default = spec.default
            values[name] = default(timing) if callable(default) else default
    keys = ttype.keys
    unknown = () if keys.issuperset(table) else tuple(k for k in table if k not in keys)
    if errors:
        return TriggerParse(None, tuple(errors), unknown)
    if ttype.finish:
        errors = ttype.finish(values, timing)
        if errors:
            return TriggerParse(None, tuple(errors), unknown)
    return TriggerParse(ttype.cls(**values), (), unknown)


def _required_names(ttype: TriggerType) -> str:
    return ", ".join(f.name for f in ttype.fields if f.default is REQUIRED)


def describe_trigger_types() -> dict[str, list[dict[str, Any]]]:
    """Each trigger type's fields for a generic form (the panel's trigger editor): name,
    whether required, the default when it is a plain value, and the accepted form in words,
    with a range (``kind`` integer, ``min``, ``max``) or ``choices`` when the check has one
    (read from the words its check gives for a value it refuses)."""
    import re

    def field_info(spec: FieldSpec) -> dict[str, Any]:
        words = spec.check(object()) or ""
        out: dict[str, Any] = {"name": spec.name, "required": spec.default is REQUIRED,
                               "expected": words.removeprefix("must be ")}  # fmt: skip
        if spec.default is not REQUIRED and isinstance(spec.default, (int, str)):
            out["default"] = spec.default
        found = re.search(r"integer in (-?\d+)\.\.(-?\d+)", words)
        if found:
            out.update(kind="integer", min=int(found.group(1)), max=int(found.group(2)))
        elif "one of: " in words:
            out.update(kind="enum", choices=words.split("one of: ", 1)[1].split(", "))
        elif "list" in words:
            out["kind"] = "integers"
        else:
            out["kind"] = "string"
        return out

    return {name: [field_info(f) for f in kind.fields] for name, kind in TRIGGER_TYPES.items()}
