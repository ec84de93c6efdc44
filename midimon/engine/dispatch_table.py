"""The compiled trigger table: raw MIDI bytes -> the triggers that can fire and their actions.

Built once per config (load and reload, before the swap) from the EventProcessor's routes and
the Mapper's per-mode tables, so the daemon's compiled dispatch (``midimon.daemon.dispatch``)
looks an event up by its raw bytes without decoding it into a MidiEvent, without hashing a
trigger spec and without asking the mapper: ``rows[status][data1]`` (status byte with its
channel, data1 the note or controller; 0 for channel aftertouch and pitch bend) is

- ``None``: no trigger of this config listens to it, in any mode (the event only counts);
- :data:`FALLBACK`: a stateful trigger listens (LongPress, DoubleTap, NoteChord): the event goes
  through the reference path (decode -> EventProcessor -> Mapper), whose state it needs;
- a tuple of :class:`Route`: the stateless triggers (Note, VelocityRange, CC, EncoderTurn,
  Aftertouch, PitchBend) listening on that status and number, in the EventProcessor's order,
  each with the range its value must lie in and its actions per mode already merged with the
  global ones (what ``Mapper.match`` would return in that mode).

A row is ``None`` when nothing listens to its status at all. The note-on row of a channel
exists whenever its note-off row does, because a note-on with velocity 0 is a note-off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from midimon.engine.action_specs import Action
from midimon.engine.trigger_specs import (
    DIRECTIONS,
    ENCODINGS,
    AftertouchTrigger,
    CCTrigger,
    EncoderTurnTrigger,
    NoteTrigger,
    PitchBendTrigger,
    TriggerSpec,
    VelocityRangeTrigger,
)
from midimon.engine.triggers import encoder_delta

#: The entry of a (status, number) a stateful trigger listens to: use the reference path.
FALLBACK: Final = "fallback"

#: How a route's fired ``value`` is made from the value it checks (velocity, CC value, ...).
VALUE_ZERO: Final = 0  # Note, VelocityRange: the value is 0 (the velocity is in ``velocity``)
VALUE_SAME: Final = 1  # CC, Aftertouch, PitchBend: the value checked
VALUE_TABLE: Final = 2  # EncoderTurn: ``values[checked]``, None when the step does not fire

#: status nibble of each event kind the EventProcessor routes on
KIND_STATUS: Final[dict[str, int]] = {
    "note_off": 0x80,
    "note_on": 0x90,
    "poly_aftertouch": 0xA0,
    "cc": 0xB0,
    "aftertouch": 0xD0,
    "pitch_bend": 0xE0,
}

#: (encoding, direction) -> CC value -> the signed step it fires with, or None (no step, or
#: the other direction): EncoderTurn's rule, worked out for all 128 values once.
ENCODER_VALUES: Final[dict[tuple[str, str], tuple[int | None, ...]]] = {
    (encoding, direction): tuple(
        delta if delta and (direction == "any" or (delta > 0) == (direction == "cw")) else None
        for delta in (encoder_delta(value, encoding) for value in range(128))
    )
    for encoding in ENCODINGS
    for direction in DIRECTIONS
}

Step = tuple[Action, Any]
"""One action of a route and what the dispatcher prepared for it (None: nothing)."""


class Route(NamedTuple):
    """One stateless trigger on one (status, number): fires when ``low <= checked <= high``."""

    spec: TriggerSpec
    low: int
    high: int
    how: int  # VALUE_ZERO, VALUE_SAME or VALUE_TABLE
    values: tuple[int | None, ...] | None  # VALUE_TABLE's table
    by_mode: dict[str, tuple[Step, ...]]  # mode -> its actions then the global ones


Entry = tuple[Route, ...] | str | None
Row = list[Entry]


class DispatchTable(NamedTuple):
    """What the compiled dispatch reads per event (immutable once built; swapped whole)."""

    rows: list[Row | None]  # 256 status bytes -> 128 numbers -> Entry


NOTHING_COMPILED: Final = DispatchTable([None] * 256)
"""A table where nothing listens (what a daemon on the reference path keeps)."""


# type -> (low, high, how, values) of a stateless spec: the EventProcessor handler's rule
_BOUNDS: Final[dict[type, Callable[[Any], tuple[int, int, int, tuple[int | None, ...] | None]]]] = {
    NoteTrigger: lambda s: (s.velocity_min, s.velocity_max, VALUE_ZERO, None),
    VelocityRangeTrigger: lambda s: (s.min, s.max, VALUE_ZERO, None),
    CCTrigger: lambda s: (s.value_min, s.value_max, VALUE_SAME, None),
    EncoderTurnTrigger: lambda s: (0, 127, VALUE_TABLE, ENCODER_VALUES[s.encoding, s.direction]),
    AftertouchTrigger: lambda s: (s.pressure_min, s.pressure_max, VALUE_SAME, None),
    PitchBendTrigger: lambda s: (s.min, s.max, VALUE_SAME, None),
}


_STATELESS_TYPES: Final = frozenset(_BOUNDS)


def _bounds(spec: TriggerSpec) -> tuple[int, int, int, tuple[int | None, ...] | None]:
    """(low, high, how, values) of a stateless spec: the EventProcessor handler's rule."""
    rule = _BOUNDS.get(type(spec))
    if rule is None:
        raise TypeError(f"not a stateless trigger spec: {spec!r}")
    return rule(spec)


def compile_table(
    routes: Mapping[tuple[str, int], list[tuple[Any, int | None, Any]]],
    mode_tables: Mapping[str, Mapping[TriggerSpec, tuple[Action, ...]]],
    global_table: Mapping[TriggerSpec, tuple[Action, ...]],
    prepare: Callable[[Action], Any],
) -> DispatchTable:
    """Compile the EventProcessor's ``routes`` ((kind, number) -> [(spec, channel, handler)])
    and the Mapper's tables into a DispatchTable; ``prepare(action)`` makes what the dispatcher
    keeps beside each action (called once per distinct action object)."""
    rows: list[Row | None] = [None] * 256
    compiled: dict[int, Route] = {}  # id(spec) -> its Route (a spec may sit on many keys)
    steps: dict[int, Step] = {}  # id(action) -> (action, prepared)
    modes = tuple(mode_tables.items())

    def step(action: Action) -> Step:
        found = steps.get(id(action))
        if found is None:
            found = steps[id(action)] = (action, prepare(action))
        return found

    # Hashing a trigger spec runs Python (a dataclass __hash__): when no spec sits in two
    # tables, which is the usual config, each route's spec is the very key object of the one
    # table that holds it, found by id() with no hashing at all.
    owner: dict[int, tuple[str | None, tuple[Action, ...]]] = {}
    for mode, table in (*modes, (None, global_table)):
        for key, actions in table.items():
            owner[id(key)] = (mode, actions)
    distinct = {id(spec) for listeners in routes.values() for spec, _, _ in listeners}
    by_identity = len(owner) == len(distinct) == sum(len(t) for _, t in modes) + len(global_table)

    def actions_by_mode(spec: TriggerSpec) -> dict[str, tuple[Step, ...]]:
        if by_identity:
            mode, actions = owner[id(spec)]
            steps_of = tuple(map(step, actions))
            return {mode: steps_of} if mode is not None else dict.fromkeys(mode_tables, steps_of)
        shared = global_table.get(spec, ()) if global_table else ()
        by_mode: dict[str, tuple[Step, ...]] = {}
        for mode, table in modes:
            actions = (*table.get(spec, ()), *shared)
            if actions:
                by_mode[mode] = tuple(map(step, actions))
        return by_mode

    def route(spec: TriggerSpec) -> Route:
        found = compiled.get(id(spec))
        if found is None:
            found = compiled[id(spec)] = Route(spec, *_bounds(spec), actions_by_mode(spec))
        return found

    def entry(selected: list[tuple[Any, int | None, Any]]) -> Entry:
        if not selected:
            return None
        for spec, _, _ in selected:
            if type(spec) not in _STATELESS_TYPES:
                return FALLBACK
        return tuple([route(spec) for spec, _, _ in selected])

    def place(status: int, number: int, found: Entry) -> None:
        row = rows[status]
        if row is None:
            row = rows[status] = [None] * 128
        row[number] = found

    for (kind, number), listeners in routes.items():
        base = KIND_STATUS[kind]
        anywhere_listeners: list[tuple[Any, int | None, Any]] = []
        by_channel: dict[int, list[tuple[Any, int | None, Any]]] = {}
        for listener in listeners:  # in the EventProcessor's order within each channel
            wanted = listener[1]
            if wanted is None:
                anywhere_listeners.append(listener)
            else:
                by_channel.setdefault(wanted, []).append(listener)
        if not anywhere_listeners:  # the usual key: each listens on its own channel
            for channel, selected in by_channel.items():
                place(base | channel, number, entry(selected))
            continue
        # Some listen on every channel: a channel's entry keeps the order of all its listeners.
        anywhere = entry(anywhere_listeners)
        for channel in range(16):
            found = (
                entry([r for r in listeners if r[1] is None or r[1] == channel])
                if channel in by_channel
                else anywhere
            )
            place(base | channel, number, found)
    for channel in range(16):  # a note-on with velocity 0 is a note-off: look at both rows
        if rows[0x80 | channel] is not None and rows[0x90 | channel] is None:
            rows[0x90 | channel] = [None] * 128
    return DispatchTable(rows)
