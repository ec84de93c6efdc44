"""TriggerContext: what fired an action, checked when built (the engine's own fast path
skips the checks for values it validated), and its JSON form for logs and the worker."""

from __future__ import annotations

import time

import pytest

from midimon.plugins.loading.context import TriggerContext, TriggerKind


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("velocity", 128, "velocity must be an integer in 0..127, got 128"),
        ("velocity", True, "velocity must be an integer in 0..127, got True"),
        ("channel", 16, "channel must be an integer in 0..15, got 16"),
        ("number", -1, "number must be an integer in 0..127, got -1"),
        ("value", 2**31, "value must be an integer in -2147483648..2147483647"),
        ("mode", "a\x00b", "mode must be a string without NUL bytes"),
        ("mode", 3, "mode must be a string"),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object, message: str) -> None:
    """Each field is checked and the message names it, the range, and the value given."""
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        TriggerContext(**{field: value})  # type: ignore[arg-type]


def test_defaults_and_kinds() -> None:
    """A bare context is a manual trigger in mode Default, stamped now; a kind given as its
    number becomes the TriggerKind (its MIDIMON_TRIGGER_* value)."""
    before_ns, before_ms = time.monotonic_ns(), time.time_ns() // 1_000_000
    context = TriggerContext()
    assert (context.trigger_kind, context.mode) == (TriggerKind.MANUAL, "Default")
    assert context.timestamp_ns >= before_ns and context.wall_time_ms >= before_ms
    assert TriggerContext(trigger_kind=6).trigger_kind is TriggerKind.CC  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TriggerContext(trigger_kind=42)  # type: ignore[arg-type]


def test_kind_names_as_people_type_them() -> None:
    """from_name takes any case and hyphens; an unknown name lists the choices."""
    assert TriggerKind.from_name("long-press") is TriggerKind.LONG_PRESS
    assert TriggerKind.from_name(" PITCH_BEND ") is TriggerKind.PITCH_BEND
    with pytest.raises(ValueError, match="expected one of: manual, note, velocity_range"):
        TriggerKind.from_name("slap")


def test_from_engine_equals_the_checked_one() -> None:
    """The engine's unchecked constructor builds the same value as the checked one."""
    args = (100, 9, 36, -8192, TriggerKind.PITCH_BEND, "Live", 123, 456)
    fast = TriggerContext.from_engine(*args)
    checked = TriggerContext(*args)
    assert fast == checked and hash(fast) == hash(checked)


def test_json_form() -> None:
    """as_dict names the note 'note' and the kind in lower case, as plugins read them."""
    context = TriggerContext(90, 1, 60, 5, TriggerKind.DOUBLE_TAP, "Mode 2", 7, 8)
    assert context.as_dict() == {
        "velocity": 90, "channel": 1, "note": 60, "value": 5, "trigger_kind": "double_tap",
        "mode": "Mode 2", "timestamp_ns": 7, "wall_time_ms": 8,
    }  # fmt: skip
