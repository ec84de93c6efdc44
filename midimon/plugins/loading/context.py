"""TriggerContext: the event that fired a plugin action, as handed to ``execute``."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field


class TriggerKind(enum.IntEnum):
    """What fired the action; values are MIDIMON_TRIGGER_* in the C ABI."""

    MANUAL = 0
    NOTE = 1
    VELOCITY_RANGE = 2
    LONG_PRESS = 3
    DOUBLE_TAP = 4
    CHORD = 5
    CC = 6
    ENCODER = 7
    AFTERTOUCH = 8
    PITCH_BEND = 9
    PLUGIN = 10  # an event a trigger plugin emitted (ABI 1.1)

    @classmethod
    def from_name(cls, name: str) -> TriggerKind:
        """``note``, ``long-press``, ``PITCH_BEND`` -> TriggerKind; ValueError lists the choices."""
        key = name.strip().upper().replace("-", "_")
        try:
            return cls[key]
        except KeyError:
            choices = ", ".join(k.name.lower() for k in cls)
            raise ValueError(f"unknown trigger kind {name!r}; expected one of: {choices}") from None


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")


@dataclass(frozen=True)
class TriggerContext:
    """One trigger, validated when built.

    ``number`` is the note or controller number; ``value`` the CC value, pressure, pitch bend
    (-8192..8191) or encoder delta. Timestamps default to now.
    """

    velocity: int = 0
    channel: int = 0
    number: int = 0
    value: int = 0
    trigger_kind: TriggerKind = TriggerKind.MANUAL
    mode: str = "Default"
    timestamp_ns: int = field(default_factory=time.monotonic_ns)
    wall_time_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    # ABI 1.1, a trigger plugin's event (TriggerKind.PLUGIN): which plugin and event fired, and
    # the event's value unrounded (None: the same as ``value``).
    source: str = ""
    event_name: str = ""
    event_value: float | None = None

    def __post_init__(self) -> None:
        _check_range("velocity", self.velocity, 0, 127)
        _check_range("channel", self.channel, 0, 15)
        _check_range("number", self.number, 0, 127)
        _check_range("value", self.value, -(2**31), 2**31 - 1)
        if not isinstance(self.mode, str) or "\x00" in self.mode:
            raise ValueError(f"mode must be a string without NUL bytes, got {self.mode!r}")
        for key in ("source", "event_name"):
            text = getattr(self, key)
            if not isinstance(text, str) or "\x00" in text or len(text.encode("utf-8")) > 255:
                raise ValueError(f"{key} must be a string of at most 255 bytes without NUL")
        object.__setattr__(self, "trigger_kind", TriggerKind(self.trigger_kind))

    @classmethod
    def from_engine(
        cls,
        velocity: int,
        channel: int,
        number: int,
        value: int,
        trigger_kind: TriggerKind,
        mode: str,
        timestamp_ns: int,
        wall_time_ms: int,
        source: str = "",
        event_name: str = "",
        event_value: float | None = None,
    ) -> TriggerContext:
        """Build without the range checks, for values the engine already validated.

        The MIDI decoder and trigger state machine only produce in-range values, and mode names
        come from a validated config; skipping ``__post_init__`` saves its checks on every
        plugin call (see benchmarks/README.md, costs).
        """
        context = object.__new__(cls)
        context.__dict__.update(
            velocity=velocity, channel=channel, number=number, value=value,
            trigger_kind=trigger_kind, mode=mode, timestamp_ns=timestamp_ns,
            wall_time_ms=wall_time_ms, source=source, event_name=event_name,
            event_value=event_value,
        )  # fmt: skip
        return context

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly dict (for logs, audit and the worker protocol)."""
        return {
            "velocity": self.velocity,
            "channel": self.channel,
            "note": self.number,
            "value": self.value,
            "trigger_kind": self.trigger_kind.name.lower(),
            "mode": self.mode,
            "timestamp_ns": self.timestamp_ns,
            "wall_time_ms": self.wall_time_ms,
            **(
                {"source": self.source, "event": self.event_name, "event_value": self.plugin_value}
                if self.source
                else {}
            ),
        }

    @property
    def plugin_value(self) -> float:
        """The event's value unrounded (``value`` when the trigger was not a plugin event)."""
        return float(self.value) if self.event_value is None else self.event_value
