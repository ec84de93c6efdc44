"""The EventProcessor that turns MidiEvents into fired triggers (the trigger state machine).

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

The specs themselves are data in ``trigger_specs`` and their TOML schema and ``parse_trigger``
in ``trigger_schema``; both are re-exported here so ``midimon.engine.triggers`` keeps working.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, NamedTuple

from midimon.engine.events import MidiEvent
from midimon.engine.trigger_schema import (
    REQUIRED,
    TRIGGER_TYPES,
    Check,
    FieldSpec,
    TimingDefaults,
    TriggerParse,
    TriggerType,
    int_in,
    one_of,
    parse_trigger,
)
from midimon.engine.trigger_specs import (
    AFTERTOUCH_SOURCES,
    DEFAULT_VELOCITY_LEVELS,
    DIRECTIONS,
    ENCODINGS,
    MS,
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
from midimon.plugins.loading.context import TriggerContext, TriggerKind

__all__ = [
    "AFTERTOUCH_SOURCES",
    "DEFAULT_VELOCITY_LEVELS",
    "DIRECTIONS",
    "ENCODINGS",
    "MS",
    "REQUIRED",
    "TRIGGER_TYPES",
    "AftertouchTrigger",
    "CCTrigger",
    "Check",
    "DoubleTapTrigger",
    "EncoderTurnTrigger",
    "EventProcessor",
    "FieldSpec",
    "FiredTrigger",
    "Handler",
    "LongPressTrigger",
    "NoteChordTrigger",
    "NoteTrigger",
    "PitchBendTrigger",
    "PluginTrigger",
    "TimingDefaults",
    "TriggerParse",
    "TriggerSpec",
    "TriggerType",
    "VelocityRangeTrigger",
    "encoder_delta",
    "int_in",
    "one_of",
    "parse_trigger",
]


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
    event_value: float = 0.0  # a Plugin trigger's event value, unrounded (``value`` rounds it)

    @property
    def kind(self) -> TriggerKind:
        """The TriggerKind of the spec that fired."""
        return self[0].KIND

    def to_context(self, mode: str, wall_time_ms: int | None = None) -> TriggerContext:
        """The TriggerContext handed to a plugin's ``execute`` (for a Plugin trigger: naming
        the plugin and event that fired it)."""
        spec = self[0]
        if type(spec) is PluginTrigger:
            return TriggerContext.from_engine(
                self.velocity,
                self.channel,
                self.number,
                self.value,
                TriggerKind.PLUGIN,
                mode,
                self.timestamp_ns,
                time.time_ns() // MS if wall_time_ms is None else wall_time_ms,
                spec.plugin,
                spec.event,
                self.event_value,
            )
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
        # dict.fromkeys of a dict reuses its stored hashes (Mapper.trigger_set)
        self.triggers: tuple[TriggerSpec, ...] = tuple(dict.fromkeys(triggers))
        self._held: dict[LongPressTrigger, MidiEvent] = {}  # armed long presses
        #: The same dict, read-only for others: while it is not empty, every event must go
        #: through ``process`` (a long press may fall due before it).
        self.pending_holds: Mapping[LongPressTrigger, MidiEvent] = self._held
        self._last_tap: dict[DoubleTapTrigger, int] = {}
        self._chord_presses: dict[NoteChordTrigger, dict[int, MidiEvent]] = defaultdict(dict)
        # The stateful handlers hold their state, not the processor: a bound method in the
        # routes would make a reference cycle, and a replaced config would then wait for the
        # cycle collector (which the daemon keeps off the running config: daemon/heap.py).
        self._stateful: dict[str, Handler] = {
            "down": partial(_long_press_down, self._held),
            "up": partial(_long_press_up, self._held),
            "tap": partial(_double_tap, self._last_tap),
            "chord": partial(_chord, self._chord_presses),
        }
        self._routes: dict[tuple[str, int], list[tuple[Any, int | None, Handler]]] = {}
        for spec in self.triggers:
            for key, handler in self._keys(spec):
                self._routes.setdefault(key, []).append((spec, spec.channel, handler))

    def _keys(self, spec: TriggerSpec) -> list[tuple[tuple[str, int], Handler]]:
        """The (event kind, number) routes of one spec, with their handlers."""
        if isinstance(spec, NoteTrigger):
            return [(("note_on", spec.note), self._note)]
        if isinstance(spec, VelocityRangeTrigger):
            return [(("note_on", spec.note), self._velocity_range)]
        if isinstance(spec, LongPressTrigger):
            return [
                (("note_on", spec.note), self._stateful["down"]),
                (("note_off", spec.note), self._stateful["up"]),
            ]
        if isinstance(spec, DoubleTapTrigger):
            return [(("note_on", spec.note), self._stateful["tap"])]
        if isinstance(spec, NoteChordTrigger):
            return [(("note_on", note), self._stateful["chord"]) for note in spec.notes]
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
        if isinstance(spec, PluginTrigger):
            return []  # plugin events: midimon.engine.plugin_events, never MIDI
        raise TypeError(f"not a trigger spec: {spec!r}")

    # -- public API

    @property
    def routes(self) -> Mapping[tuple[str, int], list[tuple[Any, int | None, Handler]]]:
        """(event kind, number) -> [(spec, channel or None, handler)], in firing order (read
        only: what ``midimon.engine.dispatch_table`` compiles)."""
        return self._routes

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


def _long_press_down(
    held: dict[LongPressTrigger, MidiEvent],
    spec: LongPressTrigger,
    event: MidiEvent,
    fired: list[FiredTrigger],
) -> None:
    held[spec] = event


def _long_press_up(
    held: dict[LongPressTrigger, MidiEvent],
    spec: LongPressTrigger,
    event: MidiEvent,
    fired: list[FiredTrigger],
) -> None:
    press = held.pop(spec, None)
    if press is not None:
        held_ns = event.timestamp_ns - press.timestamp_ns
        if held_ns >= spec.hold_ms * MS:  # due, but no tick saw it yet
            fired.append(_fire(spec, press, held_ns // MS, event.timestamp_ns))


def _double_tap(
    last_tap: dict[DoubleTapTrigger, int],
    spec: DoubleTapTrigger,
    event: MidiEvent,
    fired: list[FiredTrigger],
) -> None:
    ts = event.timestamp_ns
    first = last_tap.pop(spec, None)
    if first is not None and ts - first <= spec.window_ms * MS:
        fired.append(_fire(spec, event, (ts - first) // MS))
    else:
        last_tap[spec] = ts


def _chord(
    chord_presses: dict[NoteChordTrigger, dict[int, MidiEvent]],
    spec: NoteChordTrigger,
    event: MidiEvent,
    fired: list[FiredTrigger],
) -> None:
    ts = event.timestamp_ns
    presses = chord_presses[spec]
    presses[event.number] = event
    window = spec.window_ms * MS
    for note, earlier in list(presses.items()):
        if ts - earlier.timestamp_ns > window:
            del presses[note]
    if len(presses) == len(spec.notes):
        spread = ts - min(p.timestamp_ns for p in presses.values())
        presses.clear()
        fired.append(_fire(spec, event, spread // MS))


def _fire(spec: Any, event: MidiEvent, value: int = 0, at: int | None = None) -> FiredTrigger:
    kind, channel, number, velocity, ts = event
    if kind != "note_on" and kind != "note_off":
        velocity = 0
    return FiredTrigger(spec, channel, number, velocity, value, ts if at is None else at, ts)
