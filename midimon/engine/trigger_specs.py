"""Trigger specs as data: one frozen dataclass per trigger type, and the value sets they use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from midimon.engine.events import PITCH_BEND_MAX, PITCH_BEND_MIN
from midimon.plugins.loading.context import TriggerKind

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


@dataclass(frozen=True)
class PluginTrigger:
    """An event a trigger plugin emitted (``osc_in``'s ``/pad/1``, a gamepad's ``BTN_SOUTH``),
    optionally only with a value in value_min..value_max and, when the event carries a
    channel, on that channel. Never fired by MIDI: plugin events come through their own queue
    (``midimon.engine.plugin_events``)."""

    TYPE: ClassVar[str] = "Plugin"
    KIND: ClassVar[TriggerKind] = TriggerKind.PLUGIN
    plugin: str
    event: str
    value_min: float | None = None
    value_max: float | None = None
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
    | PluginTrigger
)
