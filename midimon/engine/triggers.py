"""Trigger specs as data, and the EventProcessor that turns MidiEvents into fired triggers.

Semantics when one pad carries several triggers (every trigger is independent; none waits for
or suppresses another, so a Note action never lags behind a possible double tap):

- ``Note`` / ``VelocityRange`` fire on the press (note_on), immediately.
- ``LongPress`` fires once more while the note is still held ``hold_ms`` after its press (found
  by ``tick``; a release after the threshold that ``tick`` has not seen yet fires it on the
  release). Releasing earlier cancels it.
- ``DoubleTap`` fires on the second press when it comes within ``window_ms`` of the first press
  (press to press); that press also fires ``Note``. A third quick press starts a new pair.
- ``NoteChord`` fires on the press that completes the set, when every note of it was pressed
  within ``window_ms`` of the others (any order; a press counts whether or not the note was
  released since); the single notes still fire their own ``Note`` triggers. The chord then
  re-arms: each note must be pressed again.
- A trigger that fires later (LongPress) is matched against the mode current when it fires.
- ``CC``, ``Aftertouch`` and ``PitchBend`` fire on every message whose value is in range;
  ``EncoderTurn`` on every relative step in the chosen direction (0 steps never fire).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from midimon.engine.events import PITCH_BEND_MAX, PITCH_BEND_MIN, MidiEvent
from midimon.plugins.loading.context import TriggerContext, TriggerKind

MS = 1_000_000  # nanoseconds per millisecond

#: Named velocity levels for ``VelocityRange(level=...)``; overridable in [advanced_settings].
DEFAULT_VELOCITY_LEVELS: dict[str, tuple[int, int]] = {
    "soft": (1, 40),
    "medium": (41, 90),
    "hard": (91, 127),
}

ENCODINGS = ("twos_complement", "sign_magnitude", "binary_offset")
DIRECTIONS = ("cw", "ccw", "any")
AFTERTOUCH_SOURCES = ("channel", "poly", "any")


# --------------------------------------------------------------------------- trigger specs


@dataclass(frozen=True)
class NoteTrigger:
    """A key or pad pressed with velocity in velocity_min..velocity_max."""

    TYPE: ClassVar[str] = "Note"
    KIND: ClassVar[TriggerKind] = TriggerKind.NOTE
    note: int
    velocity_min: int = 1
    velocity_max: int = 127
    channel: int | None = None


@dataclass(frozen=True)
class VelocityRangeTrigger:
    """A press whose velocity lies in min..max (or a named level: soft, medium, hard)."""

    TYPE: ClassVar[str] = "VelocityRange"
    KIND: ClassVar[TriggerKind] = TriggerKind.VELOCITY_RANGE
    note: int
    min: int
    max: int
    channel: int | None = None


@dataclass(frozen=True)
class LongPressTrigger:
    """A note held at least hold_ms."""

    TYPE: ClassVar[str] = "LongPress"
    KIND: ClassVar[TriggerKind] = TriggerKind.LONG_PRESS
    note: int
    hold_ms: int
    channel: int | None = None


@dataclass(frozen=True)
class DoubleTapTrigger:
    """Two presses of a note within window_ms (press to press)."""

    TYPE: ClassVar[str] = "DoubleTap"
    KIND: ClassVar[TriggerKind] = TriggerKind.DOUBLE_TAP
    note: int
    window_ms: int
    channel: int | None = None


@dataclass(frozen=True)
class NoteChordTrigger:
    """Every note of ``notes`` (sorted, distinct) pressed within window_ms, in any order."""

    TYPE: ClassVar[str] = "NoteChord"
    KIND: ClassVar[TriggerKind] = TriggerKind.CHORD
    notes: tuple[int, ...]
    window_ms: int
    channel: int | None = None


@dataclass(frozen=True)
class CCTrigger:
    """A control change whose value is in value_min..value_max."""

    TYPE: ClassVar[str] = "CC"
    KIND: ClassVar[TriggerKind] = TriggerKind.CC
    controller: int
    value_min: int = 0
    value_max: int = 127
    channel: int | None = None


@dataclass(frozen=True)
class EncoderTurnTrigger:
    """A relative encoder step (CC) in a direction, decoded with the chosen encoding."""

    TYPE: ClassVar[str] = "EncoderTurn"
    KIND: ClassVar[TriggerKind] = TriggerKind.ENCODER
    controller: int
    direction: str = "any"
    encoding: str = "twos_complement"
    channel: int | None = None


@dataclass(frozen=True)
class AftertouchTrigger:
    """Channel pressure and/or poly aftertouch (optionally of one note) in pressure range."""

    TYPE: ClassVar[str] = "Aftertouch"
    KIND: ClassVar[TriggerKind] = TriggerKind.AFTERTOUCH
    pressure_min: int = 0
    pressure_max: int = 127
    source: str = "any"
    note: int | None = None
    channel: int | None = None


@dataclass(frozen=True)
class PitchBendTrigger:
    """A pitch bend whose value (-8192..8191) is in min..max."""

    TYPE: ClassVar[str] = "PitchBend"
    KIND: ClassVar[TriggerKind] = TriggerKind.PITCH_BEND
    min: int = PITCH_BEND_MIN
    max: int = PITCH_BEND_MAX
    channel: int | None = None


TriggerSpec = (
    NoteTrigger
    | VelocityRangeTrigger
    | LongPressTrigger
    | DoubleTapTrigger
    | NoteChordTrigger
    | CCTrigger
    | EncoderTurnTrigger
    | AftertouchTrigger
    | PitchBendTrigger
)


# --------------------------------------------------------------------------- the schema table


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
    finish: Callable[[dict[str, Any], TimingDefaults], list[tuple[str, str]]] | None = None
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


def _ordered(low: str, high: str) -> Callable[[dict[str, Any], TimingDefaults], list]:
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


# --------------------------------------------------------------------------- fired triggers


class FiredTrigger(NamedTuple):
    """A trigger that fired: the spec, and what a TriggerContext needs (immutable; a
    NamedTuple because one is built per firing on the hot path).

    ``timestamp_ns`` is when it fired (the event's time, or the tick's for a long press);
    ``event_timestamp_ns`` the MIDI event that started it (the press, for a long press).
    ``value``: the CC value, pressure, pitch bend, encoder delta (signed), hold time in ms
    (LongPress), press-to-press interval in ms (DoubleTap) or chord spread in ms (NoteChord).
    """

    trigger: TriggerSpec
    channel: int
    number: int
    velocity: int
    value: int
    timestamp_ns: int
    event_timestamp_ns: int

    @property
    def kind(self) -> TriggerKind:
        """The TriggerKind of the spec that fired."""
        return self[0].KIND

    def to_context(self, mode: str, wall_time_ms: int | None = None) -> TriggerContext:
        """The TriggerContext handed to a plugin's ``execute``."""
        return TriggerContext.from_engine(
            self.velocity,
            self.channel,
            self.number,
            self.value,
            self[0].KIND,
            mode,
            self.timestamp_ns,
            time.time_ns() // MS if wall_time_ms is None else wall_time_ms,
        )


def encoder_delta(value: int, encoding: str) -> int:
    """The signed step a relative encoder sends as a CC value (positive = clockwise).

    twos_complement: 1..63 -> +1..+63, 65..127 -> -63..-1 (64 -> -64);
    sign_magnitude: 1..63 -> +1..+63, 65..127 -> -1..-63 (bit 6 is the sign);
    binary_offset: 64+n -> +n, 64-n -> -n (64 = no movement).
    """
    if encoding == "twos_complement":
        return value - 128 if value >= 64 else value
    if encoding == "sign_magnitude":
        return -(value - 64) if value >= 64 else value
    if encoding == "binary_offset":
        return value - 64
    raise ValueError(f"encoding must be one of: {', '.join(ENCODINGS)}, got {encoding!r}")


# --------------------------------------------------------------------------- the processor


Handler = Callable[[Any, MidiEvent, list[FiredTrigger]], None]


class EventProcessor:
    """Turns MidiEvents into FiredTriggers for a fixed set of trigger specs.

    The specs are compiled into one route table keyed by (event kind, note/controller); each
    route holds the spec, its channel filter and its handler, so an event touches only the
    triggers that could fire on it. Timing state is kept per spec. ``now_ns`` is the clock
    ``tick()`` uses when not given a time (default ``time.monotonic_ns``); events carry their
    own timestamps. Not thread-safe: feed events and ticks from one thread.
    """

    def __init__(
        self, triggers: Iterable[TriggerSpec], now_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self.now_ns = now_ns
        self.triggers: tuple[TriggerSpec, ...] = tuple(dict.fromkeys(triggers))
        self._routes: dict[tuple[str, int], list[tuple[Any, int | None, Handler]]] = {}
        for spec in self.triggers:
            for key, handler in self._keys(spec):
                self._routes.setdefault(key, []).append((spec, spec.channel, handler))
        self._held: dict[LongPressTrigger, MidiEvent] = {}  # armed long presses
        self._last_tap: dict[DoubleTapTrigger, int] = {}
        self._chord_presses: dict[NoteChordTrigger, dict[int, MidiEvent]] = defaultdict(dict)

    def _keys(self, spec: TriggerSpec) -> list[tuple[tuple[str, int], Handler]]:
        """The (event kind, number) routes of one spec, with their handlers."""
        if isinstance(spec, NoteTrigger):
            return [(("note_on", spec.note), self._note)]
        if isinstance(spec, VelocityRangeTrigger):
            return [(("note_on", spec.note), self._velocity_range)]
        if isinstance(spec, LongPressTrigger):
            return [
                (("note_on", spec.note), self._long_press_down),
                (("note_off", spec.note), self._long_press_up),
            ]
        if isinstance(spec, DoubleTapTrigger):
            return [(("note_on", spec.note), self._double_tap)]
        if isinstance(spec, NoteChordTrigger):
            return [(("note_on", note), self._chord) for note in spec.notes]
        if isinstance(spec, CCTrigger):
            return [(("cc", spec.controller), self._cc)]
        if isinstance(spec, EncoderTurnTrigger):
            return [(("cc", spec.controller), self._encoder)]
        if isinstance(spec, AftertouchTrigger):
            keys: list[tuple[tuple[str, int], Handler]] = []
            if spec.source in ("channel", "any"):
                keys.append((("aftertouch", 0), self._pressure))
            if spec.source in ("poly", "any"):
                notes = range(128) if spec.note is None else (spec.note,)
                keys += [(("poly_aftertouch", n), self._pressure) for n in notes]
            return keys
        if isinstance(spec, PitchBendTrigger):
            return [(("pitch_bend", 0), self._pitch_bend)]
        raise TypeError(f"not a trigger spec: {spec!r}")

    # -- public API

    def process(self, event: MidiEvent) -> list[FiredTrigger]:
        """Every trigger this event fires, after any long press that fell due before it."""
        fired = self.tick(event.timestamp_ns) if self._held else []
        routes = self._routes.get((event.kind, event.number))
        if routes:
            channel = event.channel
            for spec, wanted, handler in routes:
                if wanted is None or wanted == channel:
                    handler(spec, event, fired)
        return fired

    def tick(self, now_ns: int | None = None) -> list[FiredTrigger]:
        """Fire the long presses held past their threshold at ``now_ns`` (default: the clock)."""
        now = self.now_ns() if now_ns is None else now_ns
        fired: list[FiredTrigger] = []
        for spec, press in list(self._held.items()):
            held_ns = now - press.timestamp_ns
            if held_ns >= spec.hold_ms * MS:
                del self._held[spec]
                fired.append(_fire(spec, press, held_ns // MS, now))
        return fired

    def next_deadline_ns(self) -> int | None:
        """When the next long press falls due (so a caller knows when to ``tick``), or None."""
        if not self._held:
            return None
        return min(p.timestamp_ns + s.hold_ms * MS for s, p in self._held.items())

    def reset(self) -> None:
        """Forget all timing state (held notes, first taps, partial chords)."""
        self._held.clear()
        self._last_tap.clear()
        self._chord_presses.clear()

    # -- handlers, one per trigger type and event

    @staticmethod
    def _note(spec: NoteTrigger, event: MidiEvent, fired: list[FiredTrigger]) -> None:
        if spec.velocity_min <= event.value <= spec.velocity_max:
            fired.append(_fire(spec, event))

    @staticmethod
    def _velocity_range(
        spec: VelocityRangeTrigger, event: MidiEvent, fired: list[FiredTrigger]
    ) -> None:
        if spec.min <= event.value <= spec.max:
            fired.append(_fire(spec, event))

    def _long_press_down(
        self, spec: LongPressTrigger, event: MidiEvent, fired: list[FiredTrigger]
    ) -> None:
        self._held[spec] = event

    def _long_press_up(
        self, spec: LongPressTrigger, event: MidiEvent, fired: list[FiredTrigger]
    ) -> None:
        press = self._held.pop(spec, None)
        if press is not None:
            held_ns = event.timestamp_ns - press.timestamp_ns
            if held_ns >= spec.hold_ms * MS:  # due, but no tick saw it yet
                fired.append(_fire(spec, press, held_ns // MS, event.timestamp_ns))

    def _double_tap(
        self, spec: DoubleTapTrigger, event: MidiEvent, fired: list[FiredTrigger]
    ) -> None:
        ts = event.timestamp_ns
        first = self._last_tap.pop(spec, None)
        if first is not None and ts - first <= spec.window_ms * MS:
            fired.append(_fire(spec, event, (ts - first) // MS))
        else:
            self._last_tap[spec] = ts

    def _chord(self, spec: NoteChordTrigger, event: MidiEvent, fired: list[FiredTrigger]) -> None:
        ts = event.timestamp_ns
        presses = self._chord_presses[spec]
        presses[event.number] = event
        window = spec.window_ms * MS
        for note, earlier in list(presses.items()):
            if ts - earlier.timestamp_ns > window:
                del presses[note]
        if len(presses) == len(spec.notes):
            spread = ts - min(p.timestamp_ns for p in presses.values())
            presses.clear()
            fired.append(_fire(spec, event, spread // MS))

    @staticmethod
    def _cc(spec: CCTrigger, event: MidiEvent, fired: list[FiredTrigger]) -> None:
        if spec.value_min <= event.value <= spec.value_max:
            fired.append(_fire(spec, event, event.value))

    @staticmethod
    def _encoder(spec: EncoderTurnTrigger, event: MidiEvent, fired: list[FiredTrigger]) -> None:
        delta = encoder_delta(event.value, spec.encoding)
        if delta and (spec.direction == "any" or (delta > 0) == (spec.direction == "cw")):
            fired.append(_fire(spec, event, delta))

    @staticmethod
    def _pressure(spec: AftertouchTrigger, event: MidiEvent, fired: list[FiredTrigger]) -> None:
        if spec.pressure_min <= event.value <= spec.pressure_max:
            fired.append(_fire(spec, event, event.value))

    @staticmethod
    def _pitch_bend(spec: PitchBendTrigger, event: MidiEvent, fired: list[FiredTrigger]) -> None:
        if spec.min <= event.value <= spec.max:
            fired.append(_fire(spec, event, event.value))


def _fire(spec: Any, event: MidiEvent, value: int = 0, at: int | None = None) -> FiredTrigger:
    kind, channel, number, velocity, ts = event
    if kind != "note_on" and kind != "note_off":
        velocity = 0
    return FiredTrigger(spec, channel, number, velocity, value, ts if at is None else at, ts)
