"""Action tables as data for forms: each action type's fields, the conditions of a Conditional,
the messages of a SendMidi and a mode's own fields, described with their kinds, ranges and
choices (the panel's action editor is generated from this; ``action_parser`` checks the same
names and ranges, and a test keeps the two in step)."""

from __future__ import annotations

from typing import Any

from midimon.engine.action_specs import DAY_NAMES, MIDI_MESSAGE_TYPES

MAX_MS = 3_600_000  # a Delay's ms and a Repeat's delay_ms: at most an hour
MAX_REPEAT = 1000  # a Repeat's count
MODIFIERS = ("ctrl", "control", "shift", "alt", "option", "super", "cmd", "command", "meta")
#: A mode's colour: a colour name (one of the device template's [leds.colors] for LED
#: feedback) or "#rrggbb" (the panel shows either as the mode's colour).
COLOR_PATTERN = r"#[0-9a-fA-F]{6}|[A-Za-z][A-Za-z0-9_ -]{0,31}"


def _field(
    name: str, kind: str, help: str, *, required: bool = False, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "kind": kind, "required": required, "help": help, **extra}


def _ms(name: str, help: str, *, required: bool = False, **extra: Any) -> dict[str, Any]:
    return _field(name, "integer", help, required=required, min=0, max=MAX_MS, **extra)


#: Field kinds: string, strings (a list of strings), integer (min, max), boolean, enum
#: (choices), set (a list taken from choices), mode (a mode's name; ``choices`` adds others),
#: plugin and params (the plugin action selector and its params form), node and nodes (one or
#: a list of tables of ``family``, each with its own ``type``), color.
ACTION_FIELDS: dict[str, list[dict[str, Any]]] = {
    "Plugin": [
        _field("plugin", "plugin", "the plugin to run", required=True),
        _field("params", "params", "the plugin's params (its plugin.toml declares them)"),
    ],
    "Keystroke": [
        _field("keys", "strings", 'key names pressed in order, e.g. "c" or "F5"', required=True),
        _field("modifiers", "set", "held while the keys are pressed", choices=list(MODIFIERS)),
    ],
    "Text": [_field("text", "string", "the text typed", required=True)],
    "Shell": [
        _field("argv", "strings", "the program and its arguments, run without a shell"),
        _field("shell", "boolean", "run command through /bin/sh instead of argv", default=False),
        _field("command", "string", "the shell command line (with shell = true)"),
    ],
    "SendMidi": [
        _field("port", "string", "the output port's name (default: the daemon's output)"),
        _field(
            "messages", "nodes", "the messages sent, in order", required=True, family="midi_message"
        ),
    ],
    "ModeChange": [
        _field(
            "mode",
            "mode",
            "the mode switched to, or the next/previous one",
            required=True,
            choices=["next", "previous"],
        ),
    ],
    "Sequence": [
        _field("actions", "nodes", "run one after another", required=True, family="action"),
    ],
    "Delay": [_ms("ms", "milliseconds to wait (inside a Sequence)", required=True)],
    "Repeat": [
        _field("action", "node", "the action repeated", required=True, family="action"),
        _field("count", "integer", "how many times", required=True, min=1, max=MAX_REPEAT),
        _ms("delay_ms", "milliseconds between two runs", default=0),
    ],
    "Conditional": [
        _field(
            "condition", "node", "run then when this holds (or give conditions)", family="condition"
        ),
        _field(
            "conditions",
            "nodes",
            "instead of condition: run then when all of these hold",
            family="condition",
        ),
        _field("then", "node", "run when the condition holds", required=True, family="action"),
        _field("else", "node", "run when it does not (optional)", family="action"),
    ],
}

CONDITION_FIELDS: dict[str, list[dict[str, Any]]] = {
    "Mode": [_field("mode", "mode", "true in this mode", required=True)],
    "TimeRange": [
        _field(
            "range",
            "string",
            'true between two times, "HH:MM-HH:MM" (24-hour clock; may wrap midnight)',
            required=True,
            pattern=r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d",
            example="09:00-17:30",
        ),
    ],
    "Days": [_field("days", "set", "true on these days", required=True, choices=list(DAY_NAMES))],
    "And": [_field("conditions", "nodes", "true when all hold", required=True, family="condition")],
    "Or": [_field("conditions", "nodes", "true when one holds", required=True, family="condition")],
    "Not": [
        _field("condition", "node", "true when this does not", required=True, family="condition")
    ],
}


def _midi_message_fields() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for kind, (_, number, value) in MIDI_MESSAGE_TYPES.items():
        fields = [
            _field("channel", "integer", "MIDI channel (0 = channel 1)", min=0, max=15, default=0),
            _field(number, "integer", f"the {number}", required=True, min=0, max=127),
        ]
        if value:
            default = 100 if value == "velocity" else 0
            fields.append(_field(value, "integer", f"the {value}", min=0, max=127, default=default))
        out[kind] = fields
    return out


MODE_FIELDS: list[dict[str, Any]] = [
    _field(
        "color",
        "color",
        "the mode's colour in the panel and, with LED feedback, on its pads",
        pattern=COLOR_PATTERN,
    ),
    _field("apps", "strings", "the applications this mode follows (window class or process)"),
]


def describe_action_types(color_names: list[str] | None = None) -> dict[str, Any]:
    """The forms of the action editor: ``action``, ``condition`` and ``midi_message`` map each
    type to its fields; ``mode`` lists a mode's own fields (its colour's choices are
    ``color_names``, the LED colour names of the device templates)."""
    mode = [dict(f) for f in MODE_FIELDS]
    mode[0]["choices"] = list(color_names or [])
    return {
        "action": ACTION_FIELDS,
        "condition": CONDITION_FIELDS,
        "midi_message": _midi_message_fields(),
        "mode": mode,
    }
