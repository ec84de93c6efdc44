"""compile_table on real parsed configs: which raw (status, number) rows exist, which go to the
reference path, and the per-mode actions each stateless route carries. The compiled path is
checked against the reference path event by event in tests/daemon/test_dispatch.py."""

from __future__ import annotations

from typing import Any

from midimon.engine.config import parse_config
from midimon.engine.dispatch_table import FALLBACK, VALUE_SAME, VALUE_ZERO, compile_table
from midimon.engine.mapping import Mapper
from midimon.engine.triggers import EventProcessor

CONFIG = """
[[modes]]
name = "A"
[[modes.mappings]]
trigger = { type = "Note", note = 36, channel = 2 }
action = { type = "Text", text = "a36" }
[[modes.mappings]]
trigger = { type = "CC", controller = 7, value_min = 10, value_max = 20 }
action = { type = "Text", text = "a-cc7" }
[[modes.mappings]]
trigger = { type = "LongPress", note = 40 }
action = { type = "Text", text = "long" }

[[modes]]
name = "B"
[[modes.mappings]]
trigger = { type = "Note", note = 38 }
action = { type = "Text", text = "b38" }

[[global_mappings]]
trigger = { type = "Note", note = 38 }
action = { type = "Text", text = "g38" }
"""


def _compiled() -> tuple[Any, list[object]]:
    mapper = Mapper(parse_config(CONFIG))
    processor = EventProcessor(mapper.trigger_set())
    prepared: list[object] = []

    def prepare(action: object) -> object:
        prepared.append(action)
        return None

    return compile_table(processor.routes, *mapper.tables, prepare), prepared


def test_rows_follow_status_channel_and_number() -> None:
    """A Note on channel 2 has its row on 0x92 only; one on every channel on all 16; nothing
    listens elsewhere; the note-on row exists wherever a note-off row does."""
    table, _ = _compiled()
    rows = table.rows
    assert rows[0x92] is not None and rows[0x92][36] is not None
    assert rows[0x93] is None or rows[0x93][36] is None
    assert all(rows[0x90 | ch] is not None and rows[0x90 | ch][38] for ch in range(16))
    assert rows[0x90][37] is None and rows[0xE0] is None
    for channel in range(16):
        if rows[0x80 | channel] is not None:
            assert rows[0x90 | channel] is not None


def test_stateful_triggers_fall_back_and_routes_carry_bounds_and_modes() -> None:
    """LongPress goes to the reference path; a CC route keeps its value range; a mode's
    actions come before the global ones, and a mode without the trigger gets the global
    ones only; each distinct action is prepared once."""
    table, prepared = _compiled()
    assert table.rows[0x90][40] == FALLBACK
    (cc,) = table.rows[0xB0][7]
    assert (cc.low, cc.high, cc.how) == (10, 20, VALUE_SAME)
    (note,) = table.rows[0x90][38]
    assert note.how == VALUE_ZERO
    texts = {mode: [a.text for a, _ in steps] for mode, steps in note.by_mode.items()}
    assert texts == {"A": ["g38"], "B": ["b38", "g38"]}
    assert len(prepared) == len({id(a) for a in prepared})
