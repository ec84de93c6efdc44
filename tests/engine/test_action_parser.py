"""Action tables validate into action specs; each mistake names the field and what would do."""

from __future__ import annotations

from pathlib import Path

import pytest

from midimon import _toml
from midimon.engine.action_parser import ActionParser
from midimon.engine.action_specs import (
    Action,
    AllOf,
    AnyOf,
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
from midimon.engine.config_check import Checker, ConfigError

MODES = ["Default", "Edit"]


def parse(action: str) -> tuple[Action | None, Checker]:
    """Parse ``action = <action>`` (TOML) with modes Default and Edit; the checker holds errors."""
    check = Checker(Path("c.toml"))
    table = _toml.loads(f"action = {action}")["action"]
    return ActionParser(check, MODES).parse(table, "modes[1] mappings[0]", "action"), check


def parsed(action: str) -> Action | None:
    """The spec of a valid action table (no error, no warning)."""
    spec, check = parse(action)
    assert not check.errors and not check.warnings, [str(e) for e in check.errors]
    return spec


def single_error(action: str) -> ConfigError:
    """The one error an invalid action table gives; the action itself is dropped."""
    spec, check = parse(action)
    assert spec is None
    assert len(check.errors) == 1, [str(e) for e in check.errors]
    return check.errors[0]


def test_every_action_type_parses() -> None:
    """Each action type validates into its spec."""
    assert parsed('{ type = "Plugin", plugin = "http_request", params = { a = 1 } }') == (
        PluginAction("http_request", {"a": 1})
    )
    assert parsed('{ type = "Shell", argv = ["playerctl", "play-pause"] }') == ShellAction(
        ("playerctl", "play-pause")
    )
    assert parsed('{ type = "Shell", shell = true, command = "a | b" }') == ShellAction(
        command="a | b", shell=True
    )
    send = parsed(
        '{ type = "SendMidi", port = "out", messages = [{ type = "note_on", channel = 1, '
        'note = 60, velocity = 90 }, { type = "program_change", program = 5 }] }'
    )
    assert send == SendMidiAction(
        (MidiMessage("note_on", 1, 60, 90), MidiMessage("program_change", 0, 5)), "out"
    )
    assert parsed('{ type = "ModeChange", mode = "Default" }') == ModeChangeAction("Default")
    assert parsed('{ type = "ModeChange", mode = "previous" }') == ModeChangeAction(
        relative="previous"
    )
    assert parsed(
        '{ type = "Sequence", actions = [{ type = "Delay", ms = 5 }, '
        '{ type = "Text", text = "a" }] }'
    ) == SequenceAction((DelayAction(5), TextAction("a")))
    assert parsed(
        '{ type = "Repeat", count = 3, delay_ms = 10, action = { type = "Text", text = "a" } }'
    ) == RepeatAction(TextAction("a"), 3, 10)
    assert parsed(
        '{ type = "Keystroke", keys = ["space"], modifiers = ["Ctrl", "shift"] }'
    ) == KeystrokeAction(("space",), ("ctrl", "shift"))
    cond = parsed(
        '{ type = "Conditional", condition = { type = "Or", conditions = ['
        '{ type = "Mode", mode = "Edit" }, { type = "Not", condition = '
        '{ type = "Days", days = ["sat", "Sunday"] } }] }, '
        'then = { type = "Text", text = "a" }, else = { type = "Text", text = "b" } }'
    )
    assert cond == ConditionalAction(
        AnyOf((ModeIs("Edit"), Not(DaysOfWeek(frozenset({5, 6}))))),
        TextAction("a"),
        TextAction("b"),
    )
    listed = parsed(
        '{ type = "Conditional", conditions = [{ type = "TimeRange", range = "22:00-06:30" }], '
        'then = { type = "Text", text = "a" } }'
    )
    assert listed == ConditionalAction(AllOf((TimeRange(22 * 60, 6 * 60 + 30),)), TextAction("a"))


@pytest.mark.parametrize(
    ("action", "field", "words"),
    [
        ('{ type = "Launch" }', "action.type", "Plugin, Shell, SendMidi"),
        ('"Plugin"', "action", "table with a type"),
        ('{ type = "Plugin", plugin = "Bad Name" }', "action.plugin", "a-z, 0-9"),
        ('{ type = "Plugin", plugin = "x", params = 3 }', "action.params", "table"),
        ('{ type = "Shell" }', "action.argv", "list of strings"),
        ('{ type = "Shell", argv = "ls -l" }', "action.argv", "list of strings"),
        ('{ type = "Shell", argv = [] }', "action.argv", "non-empty"),
        ('{ type = "Shell", command = "ls" }', "action.command", "shell = true"),
        ('{ type = "Shell", shell = true }', "action.command", "non-empty string"),
        ('{ type = "Shell", shell = "yes", argv = ["a"] }', "action.shell", "true or false"),
        ('{ type = "SendMidi", messages = [] }', "action.messages", "non-empty list"),
        (
            '{ type = "SendMidi", messages = [{ type = "sysex" }] }',
            "action.messages[0].type",
            "note_on, note_off, cc, program_change",
        ),
        (
            '{ type = "SendMidi", messages = [{ type = "note_on", note = 1, channel = 16 }] }',
            "action.messages[0].channel",
            "0..15",
        ),
        (
            '{ type = "SendMidi", messages = [{ type = "cc", value = 1 }] }',
            "action.messages[0].controller",
            "0..127",
        ),
        ('{ type = "ModeChange", mode = "Live" }', "action.mode", '(Default, Edit), be "next"'),
        ('{ type = "ModeChange", mode = 2 }', "action.mode", "index 0..1"),
        ('{ type = "Sequence", actions = [] }', "action.actions", "non-empty list"),
        (
            '{ type = "Sequence", actions = [{ type = "Text", text = "a" }, { type = "Delay" }] }',
            "action.actions[1].ms",
            "0..3600000",
        ),
        ('{ type = "Delay", ms = -5 }', "action.ms", "0..3600000"),
        (
            '{ type = "Repeat", count = 0, action = { type = "Text", text = "a" } }',
            "action.count",
            "1..1000",
        ),
        ('{ type = "Repeat", count = 2 }', "action.action", "table with a type"),
        (
            '{ type = "Conditional", then = { type = "Text", text = "a" } }',
            "action.condition",
            "condition = {...} or conditions",
        ),
        (
            '{ type = "Conditional", condition = { type = "TimeRange", range = "9:00-17:00" }, '
            'then = { type = "Text", text = "a" } }',
            "action.condition.range",
            "HH:MM-HH:MM",
        ),
        (
            '{ type = "Conditional", condition = { type = "Days", days = ["someday"] }, '
            'then = { type = "Text", text = "a" } }',
            "action.condition.days",
            "mon, tue",
        ),
        (
            '{ type = "Conditional", condition = { type = "Mode", mode = "Live" }, '
            'then = { type = "Text", text = "a" } }',
            "action.condition.mode",
            "Default, Edit",
        ),
        (
            '{ type = "Conditional", condition = { type = "Not", condition = '
            '{ type = "Weather" } }, then = { type = "Text", text = "a" } }',
            "action.condition.condition.type",
            "Mode, TimeRange, Days, And, Or, Not",
        ),
        (
            '{ type = "Conditional", condition = { type = "Mode", mode = "Edit" }, '
            'then = { type = "Text", text = "a" }, else = { type = "Delay" } }',
            "action.else.ms",
            "0..3600000",
        ),
        ('{ type = "Keystroke", keys = [] }', "action.keys", "non-empty list"),
        (
            '{ type = "Keystroke", keys = ["a"], modifiers = ["hyper"] }',
            "action.modifiers",
            "ctrl, control, shift, alt, option",
        ),
        ('{ type = "Text", text = 5 }', "action.text", "non-empty string"),
    ],
)
def test_action_errors(action: str, field: str, words: str) -> None:
    """Each kind of action mistake names the mapping, the field and what would be accepted."""
    error = single_error(action)
    assert error.path == Path("c.toml")
    assert error.location == "modes[1] mappings[0]"
    assert error.field == field
    assert words in error.message


def test_unknown_action_key_is_a_warning_with_a_suggestion() -> None:
    """A misspelt key of a valid action is a warning with "did you mean", not an error."""
    spec, check = parse('{ type = "Text", text = "a", txet = "b" }')
    assert spec == TextAction("a")
    assert not check.errors
    assert check.warnings == [
        "c.toml: modes[1] mappings[0]: action.txet: unknown key, ignored"
        " (did you mean action.text?)"
    ]


def test_mode_index_names_the_mode() -> None:
    """An upstream mode index in a ModeChange resolves to that mode's name; out of range fails."""
    assert parsed('{ type = "ModeChange", mode = 1 }') == ModeChangeAction("Edit")
    assert "mode index 0..1" in single_error('{ type = "ModeChange", mode = 2 }').message
