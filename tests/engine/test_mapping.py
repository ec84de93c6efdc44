"""Mapper: modes, match order (mode then global), and compile time for a large config."""

from __future__ import annotations

import time

import pytest

from midimon import _toml
from midimon.engine.config import (
    ModeChangeAction,
    PluginAction,
    TextAction,
    default_config_path,
    load_config,
    parse_config,
)
from midimon.engine.events import decode
from midimon.engine.mapping import Mapper
from midimon.engine.triggers import MS, EventProcessor, FiredTrigger, NoteTrigger
from midimon.plugins.loading.context import TriggerKind

CONFIG = """
[[modes]]
name = "A"
[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "Text", text = "a36" }
[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "Text", text = "a36-second" }
[[modes.mappings]]
trigger = { type = "CC", controller = 7 }
action = { type = "Text", text = "a-cc7" }

[[modes]]
name = "B"
[[modes.mappings]]
trigger = { type = "Note", note = 38 }
action = { type = "Text", text = "b38" }

[[modes]]
name = "C"

[[global_mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "Text", text = "g36" }
[[global_mappings]]
trigger = { type = "Note", note = 50 }
action = { type = "ModeChange", mode = "next" }
"""


def fire(spec: object, number: int = 36) -> FiredTrigger:
    return FiredTrigger(spec, 0, number, 100, 0, 0, 0)  # type: ignore[arg-type]


def texts(actions: list) -> list[str]:
    return [a.text for a in actions]


def test_mode_mappings_then_global() -> None:
    """The current mode's actions come first, in file order, then the global ones."""
    mapper = Mapper(parse_config(CONFIG))
    assert mapper.mode == "A"
    assert texts(mapper.match(fire(NoteTrigger(36)))) == ["a36", "a36-second", "g36"]


def test_other_modes_do_not_match() -> None:
    """Another mode's mappings are inactive; the global ones stay active."""
    mapper = Mapper(parse_config(CONFIG))
    assert mapper.match(fire(NoteTrigger(38), 38)) == []
    mapper.set_mode("B")
    assert texts(mapper.match(fire(NoteTrigger(38), 38))) == ["b38"]
    assert texts(mapper.match(fire(NoteTrigger(36)))) == ["g36"]


def test_unmapped_trigger_matches_nothing() -> None:
    """A trigger nobody mapped (or a different spec on the same note) matches nothing."""
    mapper = Mapper(parse_config(CONFIG))
    assert mapper.match(fire(NoteTrigger(36, velocity_min=100))) == []
    assert mapper.match(fire(NoteTrigger(99), 99)) == []


def test_set_mode_unknown() -> None:
    """Switching to a mode that does not exist names the modes there are."""
    mapper = Mapper(parse_config(CONFIG))
    with pytest.raises(KeyError, match="A, B, C"):
        mapper.set_mode("Z")
    assert mapper.mode == "A"


def test_initial_mode() -> None:
    """A mapper can start in a named mode."""
    assert Mapper(parse_config(CONFIG), mode="C").mode == "C"


def test_step_and_mode_change_actions() -> None:
    """next/previous wrap around; a named ModeChange switches directly."""
    mapper = Mapper(parse_config(CONFIG))
    assert mapper.apply_mode_change(ModeChangeAction(relative="previous")) == "C"
    assert mapper.apply_mode_change(ModeChangeAction(relative="next")) == "A"
    assert mapper.apply_mode_change(ModeChangeAction(relative="next")) == "B"
    assert mapper.apply_mode_change(ModeChangeAction("A")) == "A"


def test_triggers_cover_all_modes() -> None:
    """Mapper.triggers lists each distinct trigger of every mode and the global mappings."""
    mapper = Mapper(parse_config(CONFIG))
    assert len(mapper.triggers) == 4


def test_midi_to_actions_end_to_end() -> None:
    """Raw bytes -> MidiEvent -> fired trigger -> actions and a TriggerContext."""
    config = load_config(default_config_path())
    mapper = Mapper(config)
    proc = EventProcessor(mapper.triggers, now_ns=lambda: 0)
    event = decode(bytes([0x90, 36, 110]), 5 * MS)
    assert event is not None
    fired_all = proc.process(event)  # Note 36 (Default) and VelocityRange 36 hard (Performance)
    assert len(fired_all) == 2
    matched = [(f, a) for f in fired_all for a in mapper.match(f)]
    [(fired, action)] = matched
    assert isinstance(action, PluginAction) and action.plugin == "http_request"
    ctx = fired.to_context(mapper.mode, wall_time_ms=1)
    assert (ctx.number, ctx.velocity, ctx.trigger_kind, ctx.mode) == (
        36,
        110,
        TriggerKind.NOTE,
        "Default",
    )
    # pad 43 switches mode (global), and holding it brings Default back
    [fired] = proc.process(decode([0x90, 43, 100], 10 * MS))
    [change] = mapper.match(fired)
    assert mapper.apply_mode_change(change) == "Performance"
    [held] = proc.tick(10 * MS + config.advanced.hold_threshold_ms * MS)
    [back] = mapper.match(held)
    assert mapper.apply_mode_change(back) == "Default"


def big_config(count: int) -> str:
    kinds = [
        '{{ type = "Note", note = {n}, channel = {c} }}',
        '{{ type = "CC", controller = {n}, channel = {c} }}',
        '{{ type = "LongPress", note = {n}, channel = {c} }}',
        '{{ type = "EncoderTurn", controller = {n}, direction = "cw", channel = {c} }}',
        '{{ type = "VelocityRange", note = {n}, level = "hard", channel = {c} }}',
    ]
    parts = []
    for mode in range(5):
        parts.append(f'[[modes]]\nname = "Mode {mode}"\n')
        for i in range(count // 5):
            trigger = kinds[i % len(kinds)].format(n=i % 128, c=(i // 128) % 16)
            parts.append(
                f'[[modes.mappings]]\ndescription = "m{mode}-{i}"\ntrigger = {trigger}\n'
                f'action = {{ type = "Plugin", plugin = "http_request", '
                f'params = {{ url = "http://127.0.0.1:8080/{mode}/{i}" }} }}\n'
            )
    return "".join(parts)


def test_500_mappings_compile_fast() -> None:
    """A 500-mapping config parses and compiles (times printed; the figure is in DESIGN)."""
    text = big_config(500)
    start = time.perf_counter()
    _toml.loads(text)
    toml_done = time.perf_counter()
    config = parse_config(text)
    parsed = time.perf_counter()
    mapper = Mapper(config)
    proc = EventProcessor(mapper.triggers)
    compiled = time.perf_counter()
    assert sum(len(m.mappings) for m in config.modes) == 500
    toml_ms = (toml_done - start) * 1e3
    print(
        f"\n500 mappings: TOML alone {toml_ms:.2f} ms, "
        f"TOML+validate {(parsed - toml_done) * 1e3:.2f} ms, "
        f"Mapper+EventProcessor compile {(compiled - parsed) * 1e3:.2f} ms"
    )
    [fired] = proc.process(decode([0x90, 4, 127], 0))
    assert fired.trigger.TYPE == "VelocityRange"
    mapper.set_mode("Mode 3")
    [action] = mapper.match(fired)
    assert action.params["url"].endswith("/3/4")


def test_text_action_type() -> None:
    """Mapped actions are the config's action specs."""
    mapper = Mapper(parse_config(CONFIG))
    assert isinstance(mapper.match(fire(NoteTrigger(36)))[0], TextAction)


def test_on_change_hears_every_mode_change_once() -> None:
    """The listener gets the new mode after set_mode / step_mode, not for a no-op."""
    from midimon.engine.config import parse_config
    from midimon.engine.mapping import Mapper

    mapper = Mapper(parse_config('[[modes]]\nname = "A"\n[[modes]]\nname = "B"\n'))
    heard: list[str] = []
    mapper.on_change = heard.append
    mapper.set_mode("A")
    mapper.step_mode(1)
    mapper.set_mode("A")
    assert heard == ["B", "A"]
