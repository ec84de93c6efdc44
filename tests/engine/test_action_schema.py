"""The action editor's schema names exactly the keys the action parser accepts, and a table
built from each type's required fields (nested ones filled the same way) parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from midimon.engine.action_parser import ActionParser
from midimon.engine.action_schema import COLOR_PATTERN, describe_action_types
from midimon.engine.config import parse_config
from midimon.engine.config_check import Checker

SCHEMA = describe_action_types(["red"])


def sample(family: str, kind: str) -> dict[str, Any]:
    """A valid table of ``kind`` from its required fields (minimum, first choice, nested)."""
    table: dict[str, Any] = {"type": kind}
    for field in SCHEMA[family][kind]:
        if not field["required"]:
            continue
        table[field["name"]] = value_of(field)
    return table


def value_of(field: dict[str, Any]) -> Any:
    kind = field["kind"]
    if kind == "integer":
        return field["min"]
    if kind == "node":
        return sample(field["family"], "Delay" if field["family"] == "action" else "Mode")
    if kind == "nodes":
        first = next(iter(SCHEMA[field["family"]]))
        return [sample(field["family"], "Delay" if field["family"] == "action" else first)]
    if kind == "set":
        return field["choices"][:1]
    if kind == "strings":
        return ["c"]
    if kind == "mode":
        return "Default"
    if kind == "plugin":
        return "file_log"
    if "example" in field:
        return field["example"]
    return "text"


@pytest.mark.parametrize("kind", list(SCHEMA["action"]))
def test_each_action_type_names_the_parsers_keys_and_its_sample_parses(kind: str) -> None:
    """Field names plus ``type`` are the keys the parser knows; the sample has no error."""
    parser = ActionParser(Checker(Path("c.toml")), ["Default"])
    known, _ = parser.parsers[kind]
    assert {f["name"] for f in SCHEMA["action"][kind]} | {"type"} == known
    table = sample("action", kind)
    if kind == "Conditional":  # condition or conditions: one of the two
        table["condition"] = sample("condition", "Mode")
    if kind == "Shell":  # argv, or shell = true with command
        table["argv"] = ["true"]
    assert parser.parse(table, "m", "action") is not None, parser.check.errors
    assert set(parser.parsers) == set(SCHEMA["action"])


@pytest.mark.parametrize("kind", ["Mode", "TimeRange", "Days", "And", "Or", "Not"])
def test_each_condition_parses(kind: str) -> None:
    """A Conditional whose condition is built from the condition schema parses."""
    parser = ActionParser(Checker(Path("c.toml")), ["Default"])
    table = {"type": "Conditional", "condition": sample("condition", kind),
             "then": {"type": "Delay", "ms": 1}}  # fmt: skip
    assert parser.parse(table, "m", "action") is not None, parser.check.errors


def test_midi_messages_and_mode_colour() -> None:
    """SendMidi messages from the schema parse; a mode's colour is a name or #rrggbb, checked
    by the config loader (anything else is an error naming both forms)."""
    parser = ActionParser(Checker(Path("c.toml")), ["Default"])
    messages = [sample("midi_message", kind) for kind in SCHEMA["midi_message"]]
    assert parser.parse({"type": "SendMidi", "messages": messages}, "m", "a") is not None
    assert SCHEMA["mode"][0]["choices"] == ["red"]
    for good in ("blue", "#1a2B3c", "light blue"):
        assert re.fullmatch(COLOR_PATTERN, good)
    config = parse_config('[[modes]]\nname = "A"\ncolor = "#00aa55"\n')
    assert config.modes[0].color == "#00aa55"
    with pytest.raises(Exception, match=r'colour name \("blue"\) or "#rrggbb"'):
        parse_config('[[modes]]\nname = "A"\ncolor = "#12"\n')
