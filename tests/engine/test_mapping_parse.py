"""Mapping tables into MappingSpecs (midimon/engine/mapping_parse.py), and their reuse across
reloads: only an unchanged mapping in an unchanged context is taken from the last parse, and a
parse with reuse gives what a parse without it gives, errors and warnings included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midimon.engine.config import InvalidConfig, parse_config
from midimon.engine.mapping_parse import MappingReuse
from midimon.plugins.description.params_schema import ParamSpec, ParamsSchema

# Mapping bodies, valid and not: values equal under == but of another TOML type (true for 1,
# 1.0 for 1) must be told apart; a ModeChange naming a mode that may not exist; an unknown
# key (a warning); a Plugin action whose params a schema may refuse; a LongPress taking its
# hold from [advanced_settings].
BODIES = (
    'trigger = { type = "Note", note = 1 }\naction = { type = "Shell", argv = ["true"] }',
    'trigger = { type = "Note", note = true }\naction = { type = "Shell", argv = ["true"] }',
    'trigger = { type = "Note", note = 1.0 }\naction = { type = "Shell", argv = ["true"] }',
    'trigger = { type = "Note", note = 2, colour = 3 }\naction = { type = "Text", text = "x" }',
    'trigger = { type = "CC", controller = 7 }\naction = { type = "ModeChange", mode = "Edit" }',
    'trigger = { type = "LongPress", note = 3 }\naction = { type = "Text", text = "held" }',
    'trigger = { type = "Note", note = 4 }\n'
    'action = { type = "Plugin", plugin = "shifter", params = { semitones = 20 } }',
    'trigger = { type = "Note", note = 5 }\naction = { type = "Shell", argv = ["x"] }\nled = "x"',
)
ADVANCED = ("", "[advanced_settings]\nhold_threshold_ms = 700\n")
SECOND_MODE = ("Edit", "Other")
SCHEMAS = (
    None,
    {"shifter": ParamsSchema((ParamSpec("semitones", "integer", min=-12, max=12),))},
)


def config_text(bodies: list[int], advanced: int = 0, second: int = 0) -> str:
    lines = [ADVANCED[advanced], '[[modes]]\nname = "Default"']
    for index, body in enumerate(bodies):
        lines.append(f'[[modes.mappings]]\ndescription = "m{index % 3}"\n{BODIES[body]}')
    lines.append(f'[[modes]]\nname = "{SECOND_MODE[second]}"')
    return "\n".join(lines) + "\n"


def outcome(text: str, schemas, reuse: MappingReuse | None):
    try:
        config = parse_config(text, "/cfg/config.toml", schemas, reuse)
    except InvalidConfig as exc:
        return "invalid", [str(e) for e in exc.errors], list(exc.warnings)
    return "ok", config, list(config.warnings)


VALID = config_text([0, 3, 4, 5, 0])


def same(a, b) -> bool:
    return a.trigger is b.trigger and a.action is b.action


def test_an_unchanged_config_reuses_every_quiet_mapping() -> None:
    reuse = MappingReuse()
    first = parse_config(VALID, "/cfg/config.toml", None, reuse)
    assert (reuse.reused, reuse.parsed) == (0, 5)
    second = parse_config(VALID, "/cfg/config.toml", None, reuse)
    # the one whose parse warned (an unknown key) is parsed again, warning again
    assert (reuse.reused, reuse.parsed) == (4, 1)
    pairs = zip(first.modes[0].mappings, second.modes[0].mappings, strict=True)
    assert [same(a, b) for a, b in pairs] == [True, False, True, True, True]
    assert second == first and second.warnings == first.warnings
    assert any("colour" in w for w in first.warnings)


def test_only_the_edited_mapping_is_parsed_again() -> None:
    reuse = MappingReuse()
    first = parse_config(VALID, "/cfg/config.toml", None, reuse)
    edited = VALID.replace("note = 3 }", "note = 9 }")
    second = parse_config(edited, "/cfg/config.toml", None, reuse)
    assert (reuse.reused, reuse.parsed) == (3, 2)  # the edited one and the one that warns
    old, new = first.modes[0].mappings, second.modes[0].mappings
    assert [same(a, b) for a, b in zip(old, new, strict=True)] == [True, False, True, False, True]
    assert new[3].trigger.note == 9


def test_a_mapping_that_moved_is_reused_under_its_new_location() -> None:
    def text(bodies: list[int]) -> str:
        each = '[[modes.mappings]]\ndescription = "b{}"\n{}\n'
        mappings = "".join(each.format(b, BODIES[b]) for b in bodies)
        return f'[[modes]]\nname = "Default"\n{mappings}[[modes]]\nname = "Edit"\n'

    reuse = MappingReuse()
    first = parse_config(text([0, 4, 5]), "/cfg/config.toml", None, reuse).modes[0].mappings
    moved = parse_config(text([6, 0, 4, 5]), "/cfg/config.toml", None, reuse).modes[0].mappings
    assert (reuse.reused, reuse.parsed) == (3, 1)  # one added at the top, three moved down
    assert [same(a, b) for a, b in zip(first, moved[1:], strict=True)] == [True] * 3
    assert [m.location for m in moved[1:]] == [
        'modes[0] "Default" mappings[1] ("b0")',
        'modes[0] "Default" mappings[2] ("b4")',
        'modes[0] "Default" mappings[3] ("b5")',
    ]
    assert moved == parse_config(text([6, 0, 4, 5]), "/cfg/config.toml").modes[0].mappings


def test_equal_tables_in_one_file_get_their_own_objects() -> None:
    reuse = MappingReuse()
    twice = config_text([0, 0, 0, 0])  # descriptions m0, m1, m2, m0: the 1st and 4th are equal
    parse_config(twice, "/cfg/config.toml", None, reuse)
    again = parse_config(twice, "/cfg/config.toml", None, reuse).modes[0].mappings
    assert reuse.reused == 4
    assert len({id(m.action) for m in again}) == 4 and again[0].action == again[3].action


@pytest.mark.parametrize("value", ["true", "1.0"])
def test_a_value_equal_under_eq_but_of_another_type_is_parsed(value: str) -> None:
    reuse = MappingReuse()
    parse_config(VALID, "/cfg/config.toml", None, reuse)
    with pytest.raises(InvalidConfig, match=r"trigger\.note"):
        parse_config(VALID.replace("note = 1 }", f"note = {value} }}"), "/cfg/config.toml",
                     None, reuse)  # fmt: skip


def test_a_changed_context_reuses_nothing() -> None:
    reuse = MappingReuse()
    parse_config(VALID, "/cfg/config.toml", None, reuse)
    # the ModeChange's target is gone: its unchanged table is an error now
    with pytest.raises(InvalidConfig, match=r"action\.mode: must name a mode"):
        parse_config(config_text([0, 3, 4, 5, 0], second=1), "/cfg/config.toml", None, reuse)
    longer = parse_config(config_text([5], advanced=1), "/cfg/config.toml", None, reuse)
    assert longer.modes[0].mappings[0].trigger.hold_ms == 700
    assert reuse.reused == 0


def test_a_failed_parse_keeps_what_the_last_good_one_left() -> None:
    reuse = MappingReuse()
    parse_config(VALID, "/cfg/config.toml", None, reuse)
    with pytest.raises(InvalidConfig):
        parse_config(config_text([1]), "/cfg/config.toml", None, reuse)
    parse_config(VALID, "/cfg/config.toml", None, reuse)
    assert (reuse.reused, reuse.parsed) == (4, 1)  # as after a good parse of VALID


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, len(BODIES) - 1), max_size=6),
            st.integers(0, len(ADVANCED) - 1),
            st.integers(0, len(SECOND_MODE) - 1),
            st.integers(0, len(SCHEMAS) - 1),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_reloads_with_reuse_give_what_fresh_parses_give(steps) -> None:
    reuse = MappingReuse()
    for bodies, advanced, second, schemas in steps:
        text = config_text(bodies, advanced, second)
        fresh = outcome(text, SCHEMAS[schemas], None)
        reused = outcome(text, SCHEMAS[schemas], reuse)
        assert reused == fresh
