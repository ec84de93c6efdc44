"""EventProcessor: every trigger type fires where it should and nowhere else."""

from __future__ import annotations

import pytest

from midimon.engine.events import MidiEvent
from midimon.engine.triggers import (
    MS,
    AftertouchTrigger,
    CCTrigger,
    DoubleTapTrigger,
    EncoderTurnTrigger,
    EventProcessor,
    FiredTrigger,
    LongPressTrigger,
    NoteChordTrigger,
    NoteTrigger,
    PitchBendTrigger,
    TimingDefaults,
    TriggerSpec,
    VelocityRangeTrigger,
    encoder_delta,
    parse_trigger,
)
from midimon.plugins.loading.context import TriggerKind


class Clock:
    """An injected clock, in nanoseconds."""

    def __init__(self) -> None:
        self.ns = 1_000 * MS

    def __call__(self) -> int:
        return self.ns

    def advance(self, ms: int) -> int:
        self.ns += ms * MS
        return self.ns


def on(note: int, velocity: int = 100, t_ms: int = 0, channel: int = 0) -> MidiEvent:
    return MidiEvent("note_on", channel, note, velocity, t_ms * MS)


def off(note: int, t_ms: int = 0, channel: int = 0) -> MidiEvent:
    return MidiEvent("note_off", channel, note, 0, t_ms * MS)


def cc(controller: int, value: int, t_ms: int = 0, channel: int = 0) -> MidiEvent:
    return MidiEvent("cc", channel, controller, value, t_ms * MS)


def feed(proc: EventProcessor, *events: MidiEvent) -> list[FiredTrigger]:
    out: list[FiredTrigger] = []
    for event in events:
        out += proc.process(event)
    return out


def specs(fired: list[FiredTrigger]) -> list[TriggerSpec]:
    return [f.trigger for f in fired]


# -- Note and VelocityRange


def test_note_fires_on_press_only() -> None:
    """Note fires on its note's press, not on release nor on other notes."""
    spec = NoteTrigger(36)
    proc = EventProcessor([spec])
    assert specs(proc.process(on(36))) == [spec]
    assert proc.process(off(36)) == []
    assert proc.process(on(37)) == []


def test_note_velocity_min() -> None:
    """Note with velocity_min ignores softer presses."""
    proc = EventProcessor([NoteTrigger(36, velocity_min=64)])
    assert proc.process(on(36, 63)) == []
    assert len(proc.process(on(36, 64))) == 1


def test_channel_filter() -> None:
    """A trigger with a channel fires only on that channel; without one, on any channel."""
    only_2 = NoteTrigger(36, channel=2)
    anyc = NoteTrigger(38)
    proc = EventProcessor([only_2, anyc])
    assert proc.process(on(36, channel=1)) == []
    assert specs(proc.process(on(36, channel=2))) == [only_2]
    assert specs(proc.process(on(38, channel=9))) == [anyc]


@pytest.mark.parametrize(
    ("level", "inside", "outside"),
    [("soft", (1, 40), (41,)), ("medium", (41, 90), (40, 91)), ("hard", (91, 127), (90,))],
)
def test_velocity_levels_boundaries(
    level: str, inside: tuple[int, ...], outside: tuple[int, ...]
) -> None:
    """Named velocity levels fire on their bounds and not one past them."""
    spec = parse_trigger({"type": "VelocityRange", "note": 36, "level": level}).spec
    assert spec is not None
    proc = EventProcessor([spec])
    for velocity in inside:
        assert specs(proc.process(on(36, velocity))) == [spec], velocity
    for velocity in outside:
        assert proc.process(on(36, velocity)) == [], velocity


def test_velocity_levels_are_config() -> None:
    """Level bounds come from the timing defaults (advanced_settings)."""
    timing = TimingDefaults(velocity_levels={"soft": (1, 20), "ghost": (1, 5)})
    spec = parse_trigger({"type": "VelocityRange", "note": 1, "level": "soft"}, timing).spec
    assert spec == VelocityRangeTrigger(1, 1, 20)
    assert parse_trigger({"type": "VelocityRange", "note": 1, "level": "ghost"}, timing).spec
    bad = parse_trigger({"type": "VelocityRange", "note": 1, "level": "medium"}, timing)
    assert bad.spec is None and "soft, ghost" in bad.errors[0][1]


def test_velocity_range_min_max() -> None:
    """An explicit min/max range fires inside and not outside."""
    proc = EventProcessor([VelocityRangeTrigger(36, 50, 60)])
    assert [len(proc.process(on(36, v))) for v in (49, 50, 60, 61)] == [0, 1, 1, 0]


# -- LongPress


def test_long_press_fires_on_tick_while_held() -> None:
    """LongPress fires from tick() once the note is held past hold_ms, exactly once."""
    clock = Clock()
    spec = LongPressTrigger(36, hold_ms=500)
    proc = EventProcessor([spec], now_ns=clock)
    assert proc.process(MidiEvent("note_on", 0, 36, 90, clock.ns)) == []
    clock.advance(499)
    assert proc.tick() == []
    assert proc.next_deadline_ns() == clock.ns + MS
    clock.advance(1)
    fired = proc.tick()
    assert specs(fired) == [spec]
    assert fired[0].velocity == 90 and fired[0].value == 500
    assert fired[0].timestamp_ns == clock.ns
    assert fired[0].event_timestamp_ns == clock.ns - 500 * MS
    assert proc.tick(clock.advance(1000)) == []
    assert proc.process(MidiEvent("note_off", 0, 36, 0, clock.ns)) == []


def test_long_press_released_early_does_not_fire() -> None:
    """Releasing before hold_ms cancels the long press."""
    proc = EventProcessor([LongPressTrigger(36, hold_ms=500)])
    assert feed(proc, on(36, t_ms=0), off(36, t_ms=499)) == []
    assert proc.tick(10_000 * MS) == []


def test_long_press_release_after_threshold_without_tick() -> None:
    """A release after hold_ms that no tick saw fires the long press on the release."""
    proc = EventProcessor([LongPressTrigger(36, hold_ms=500)])
    fired = feed(proc, on(36, t_ms=0), off(36, t_ms=700))
    assert len(fired) == 1 and fired[0].value == 700


def test_long_press_due_fires_before_a_later_event() -> None:
    """An event after the deadline first delivers the due long press."""
    lp, other = LongPressTrigger(36, hold_ms=500), NoteTrigger(40)
    proc = EventProcessor([lp, other])
    assert specs(feed(proc, on(36, t_ms=0), on(40, t_ms=600))) == [lp, other]


# -- DoubleTap


def test_double_tap_inside_window() -> None:
    """A second press within window_ms fires DoubleTap, with the interval as value."""
    spec = DoubleTapTrigger(36, window_ms=300)
    proc = EventProcessor([spec])
    assert proc.process(on(36, t_ms=0)) == []
    fired = feed(proc, off(36, t_ms=50), on(36, t_ms=300))
    assert specs(fired) == [spec] and fired[0].value == 300


def test_double_tap_outside_window() -> None:
    """A second press after the window does not fire; it starts a new pair."""
    proc = EventProcessor([DoubleTapTrigger(36, window_ms=300)])
    assert feed(proc, on(36, t_ms=0), on(36, t_ms=301)) == []
    assert len(proc.process(on(36, t_ms=400))) == 1


def test_triple_tap_fires_once() -> None:
    """A third quick press starts a new pair rather than firing again."""
    proc = EventProcessor([DoubleTapTrigger(36, window_ms=300)])
    fired = feed(proc, on(36, t_ms=0), on(36, t_ms=100), on(36, t_ms=200))
    assert len(fired) == 1


# -- NoteChord


def test_chord_inside_window_any_order() -> None:
    """A chord fires on the press completing it, whatever the order."""
    spec = NoteChordTrigger((36, 40, 43), window_ms=50)
    for order in ((36, 40, 43), (43, 36, 40), (40, 43, 36)):
        proc = EventProcessor([spec])
        fired = feed(proc, *(on(n, t_ms=i * 20) for i, n in enumerate(order)))
        assert specs(fired) == [spec]
        assert fired[0].number == order[-1] and fired[0].value == 40


def test_chord_outside_window() -> None:
    """Notes spread over more than window_ms do not make a chord."""
    proc = EventProcessor([NoteChordTrigger((36, 40), window_ms=50)])
    assert feed(proc, on(36, t_ms=0), on(40, t_ms=51)) == []


def test_chord_incomplete_and_rearm() -> None:
    """A partial chord does not fire; after firing, every note must be pressed again."""
    proc = EventProcessor([NoteChordTrigger((36, 40, 43), window_ms=50)])
    assert feed(proc, on(36, t_ms=0), on(40, t_ms=10)) == []
    assert len(proc.process(on(43, t_ms=20))) == 1
    assert proc.process(on(43, t_ms=30)) == []


# -- CC and EncoderTurn


def test_cc_value_range() -> None:
    """CC fires for its controller with the value in range, carrying the value."""
    spec = CCTrigger(7, value_min=64, value_max=100)
    proc = EventProcessor([spec])
    assert proc.process(cc(7, 63)) == [] and proc.process(cc(7, 101)) == []
    assert proc.process(cc(8, 80)) == []
    fired = proc.process(cc(7, 64))
    assert specs(fired) == [spec] and fired[0].value == 64 and fired[0].number == 7


@pytest.mark.parametrize(
    ("encoding", "value", "delta"),
    [
        ("twos_complement", 1, 1),
        ("twos_complement", 63, 63),
        ("twos_complement", 127, -1),
        ("twos_complement", 65, -63),
        ("twos_complement", 0, 0),
        ("sign_magnitude", 1, 1),
        ("sign_magnitude", 65, -1),
        ("sign_magnitude", 127, -63),
        ("binary_offset", 65, 1),
        ("binary_offset", 63, -1),
        ("binary_offset", 64, 0),
        ("binary_offset", 127, 63),
    ],
)
def test_encoder_delta(encoding: str, value: int, delta: int) -> None:
    """Each relative encoding decodes to the signed step."""
    assert encoder_delta(value, encoding) == delta


@pytest.mark.parametrize(
    ("encoding", "cw_value", "ccw_value", "still"),
    [("twos_complement", 3, 125, 0), ("binary_offset", 67, 61, 64), ("sign_magnitude", 3, 67, 0)],
)
def test_encoder_directions(encoding: str, cw_value: int, ccw_value: int, still: int) -> None:
    """cw fires only on clockwise steps, ccw only counter-clockwise, any on both; 0 never."""
    cw = EncoderTurnTrigger(20, "cw", encoding)
    ccw = EncoderTurnTrigger(20, "ccw", encoding)
    both = EncoderTurnTrigger(20, "any", encoding)
    proc = EventProcessor([cw, ccw, both])
    fired = proc.process(cc(20, cw_value))
    assert specs(fired) == [cw, both] and fired[0].value == 3
    fired = proc.process(cc(20, ccw_value))
    assert specs(fired) == [ccw, both] and fired[0].value == -3
    assert proc.process(cc(20, still)) == []
    assert proc.process(cc(21, cw_value)) == []


# -- Aftertouch and PitchBend


def test_aftertouch_channel_and_poly() -> None:
    """source channel/poly/any pick channel pressure, poly aftertouch, or both."""
    chan = AftertouchTrigger(50, 127, "channel")
    poly = AftertouchTrigger(50, 127, "poly", note=36)
    both = AftertouchTrigger(50, 127, "any")
    proc = EventProcessor([chan, poly, both])
    assert specs(proc.process(MidiEvent("aftertouch", 0, 0, 60, 0))) == [chan, both]
    assert specs(proc.process(MidiEvent("poly_aftertouch", 0, 36, 60, 0))) == [poly, both]
    assert specs(proc.process(MidiEvent("poly_aftertouch", 0, 37, 60, 0))) == [both]
    assert proc.process(MidiEvent("aftertouch", 0, 0, 49, 0)) == []


def test_aftertouch_channel_filter() -> None:
    """An aftertouch trigger with a channel ignores other channels."""
    proc = EventProcessor([AftertouchTrigger(channel=3)])
    assert proc.process(MidiEvent("aftertouch", 2, 0, 60, 0)) == []
    assert len(proc.process(MidiEvent("aftertouch", 3, 0, 60, 0))) == 1


def test_pitch_bend_range() -> None:
    """PitchBend fires inside min..max, carrying the signed bend."""
    spec = PitchBendTrigger(min=1000, max=8191, channel=0)
    proc = EventProcessor([spec])
    assert proc.process(MidiEvent("pitch_bend", 0, 0, 999, 0)) == []
    assert proc.process(MidiEvent("pitch_bend", 1, 0, 5000, 0)) == []
    fired = proc.process(MidiEvent("pitch_bend", 0, 0, 8191, 0))
    assert specs(fired) == [spec] and fired[0].value == 8191
    down = EventProcessor([PitchBendTrigger(max=-1)])
    assert len(down.process(MidiEvent("pitch_bend", 0, 0, -8192, 0))) == 1


def test_unrelated_events_fire_nothing() -> None:
    """Program changes and notes without triggers fire nothing."""
    proc = EventProcessor([CCTrigger(7), NoteTrigger(36)])
    assert proc.process(MidiEvent("program_change", 0, 7, 0, 0)) == []
    assert proc.process(on(7)) == []


# -- conflicts on one pad


def test_note_long_press_double_tap_on_one_pad() -> None:
    """Note fires on every press, DoubleTap on the second quick press, LongPress after hold."""
    clock = Clock()
    note, lp, dt = NoteTrigger(36), LongPressTrigger(36, 500), DoubleTapTrigger(36, 300)
    proc = EventProcessor([note, lp, dt], now_ns=clock)
    t0 = clock.ns // MS
    assert specs(feed(proc, on(36, t_ms=t0))) == [note]
    assert specs(feed(proc, off(36, t_ms=t0 + 80))) == []
    assert specs(feed(proc, on(36, t_ms=t0 + 200))) == [note, dt]
    clock.advance(200 + 500)
    assert specs(proc.tick()) == [lp]
    assert feed(proc, off(36, t_ms=t0 + 900)) == []


def test_chord_notes_also_fire_their_notes() -> None:
    """Notes of a chord still fire their own Note triggers; the chord fires on the last one."""
    n36, n40, chord = NoteTrigger(36), NoteTrigger(40), NoteChordTrigger((36, 40), 50)
    proc = EventProcessor([n36, n40, chord])
    assert specs(feed(proc, on(36, t_ms=0), on(40, t_ms=10))) == [n36, n40, chord]


def test_duplicate_specs_fire_once() -> None:
    """Equal specs given twice are processed once."""
    proc = EventProcessor([NoteTrigger(36), NoteTrigger(36)])
    assert len(proc.process(on(36))) == 1


def test_reset_forgets_state() -> None:
    """reset() drops held notes and first taps."""
    proc = EventProcessor([LongPressTrigger(36, 100), DoubleTapTrigger(36, 300)])
    proc.process(on(36, t_ms=0))
    proc.reset()
    assert proc.tick(1_000 * MS) == [] and proc.process(on(36, t_ms=10)) == []


# -- context


def test_to_context() -> None:
    """A fired trigger becomes a TriggerContext with kind, numbers, mode and timestamps."""
    fired = EventProcessor([NoteTrigger(36)]).process(on(36, 99, t_ms=7, channel=4))[0]
    ctx = fired.to_context("Live", wall_time_ms=123)
    assert (ctx.velocity, ctx.channel, ctx.number, ctx.value) == (99, 4, 36, 0)
    assert ctx.trigger_kind == TriggerKind.NOTE and ctx.mode == "Live"
    assert ctx.timestamp_ns == 7 * MS and ctx.wall_time_ms == 123


def test_encoder_context_has_signed_delta() -> None:
    """An encoder's context value is its signed step."""
    fired = EventProcessor([EncoderTurnTrigger(1)]).process(cc(1, 126))[0]
    ctx = fired.to_context("Default")
    assert ctx.value == -2 and ctx.trigger_kind == TriggerKind.ENCODER


def test_channel_filter_on_cc_encoder_and_long_press() -> None:
    """Channel filters apply to controller and timing triggers too."""
    cc_spec, enc = CCTrigger(7, channel=1), EncoderTurnTrigger(8, channel=1)
    lp = LongPressTrigger(36, 100, channel=1)
    proc = EventProcessor([cc_spec, enc, lp])
    assert proc.process(cc(7, 5, channel=0)) == [] and proc.process(cc(8, 1, channel=2)) == []
    assert specs(feed(proc, cc(7, 5, channel=1), cc(8, 1, channel=1))) == [cc_spec, enc]
    proc.process(on(36, t_ms=0, channel=0))
    assert proc.tick(500 * MS) == []
    proc.process(on(36, t_ms=1000, channel=1))
    assert specs(proc.tick(1100 * MS)) == [lp]


def test_processor_rejects_non_specs() -> None:
    """Something that is not a trigger spec is refused when the processor is built."""
    with pytest.raises(TypeError, match="not a trigger spec"):
        EventProcessor([object()])  # type: ignore[list-item]
