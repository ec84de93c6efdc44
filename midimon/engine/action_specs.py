"""What a mapping's action is, as data: one frozen dataclass per action type and per condition
of a Conditional action (validated by ``action_parser``, run by ``actions``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PluginAction:
    """Run a native plugin with these params (a JSON-able table)."""

    plugin: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShellAction:
    """Run a program: ``argv`` without a shell, or ``command`` through /bin/sh when
    ``shell = true`` was asked for explicitly."""

    argv: tuple[str, ...] = ()
    command: str | None = None
    shell: bool = False


MIDI_MESSAGE_TYPES: dict[str, tuple[int, str, str | None]] = {
    # type -> (status nibble, number field, value field)
    "note_on": (0x90, "note", "velocity"),
    "note_off": (0x80, "note", "velocity"),
    "cc": (0xB0, "controller", "value"),
    "program_change": (0xC0, "program", None),
}


@dataclass(frozen=True)
class MidiMessage:
    """One message of a SendMidi action."""

    type: str
    channel: int
    number: int
    value: int = 0

    def to_bytes(self) -> bytes:
        """The raw MIDI bytes."""
        status, _, value_field = MIDI_MESSAGE_TYPES[self.type]
        head = [status | self.channel, self.number]
        return bytes([*head, self.value] if value_field else head)


@dataclass(frozen=True)
class SendMidiAction:
    """Send MIDI messages, to a named output port or the default one."""

    messages: tuple[MidiMessage, ...]
    port: str | None = None


@dataclass(frozen=True)
class ModeChangeAction:
    """Switch to a mode by name, or ``relative`` = "next"/"previous" (wrapping around)."""

    mode: str | None = None
    relative: str | None = None


@dataclass(frozen=True)
class SequenceAction:
    """Run actions one after another."""

    actions: tuple[Action, ...]


@dataclass(frozen=True)
class DelayAction:
    """Wait ``ms`` milliseconds (inside a Sequence)."""

    ms: int


@dataclass(frozen=True)
class RepeatAction:
    """Run ``action`` ``count`` times, ``delay_ms`` apart."""

    action: Action
    count: int
    delay_ms: int = 0


@dataclass(frozen=True)
class KeystrokeAction:
    """Press ``keys`` (in order) while holding ``modifiers``."""

    keys: tuple[str, ...]
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextAction:
    """Type a string."""

    text: str


# -- conditions


@dataclass(frozen=True)
class ModeIs:
    """True when the current mode is ``mode``."""

    mode: str

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return mode == self.mode


@dataclass(frozen=True)
class TimeRange:
    """True between start and end (minutes after midnight; end excluded; may wrap midnight)."""

    start: int
    end: int

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        minute = now.hour * 60 + now.minute
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class DaysOfWeek:
    """True on the given days (0 = Monday ... 6 = Sunday)."""

    days: frozenset[int]

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return now.weekday() in self.days


@dataclass(frozen=True)
class AllOf:
    """True when every condition is."""

    conditions: tuple[Condition, ...]

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return all(c.evaluate(mode, now) for c in self.conditions)


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is."""

    conditions: tuple[Condition, ...]

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return any(c.evaluate(mode, now) for c in self.conditions)


@dataclass(frozen=True)
class Not:
    """True when the condition is not."""

    condition: Condition

    def evaluate(self, mode: str, now: datetime) -> bool:
        """Whether the condition holds."""
        return not self.condition.evaluate(mode, now)


Condition = ModeIs | TimeRange | DaysOfWeek | AllOf | AnyOf | Not


@dataclass(frozen=True)
class ConditionalAction:
    """Run ``then`` when ``condition`` holds, else ``otherwise`` (if any)."""

    condition: Condition
    then: Action
    otherwise: Action | None = None


Action = (
    PluginAction
    | ShellAction
    | SendMidiAction
    | ModeChangeAction
    | SequenceAction
    | DelayAction
    | RepeatAction
    | ConditionalAction
    | KeystrokeAction
    | TextAction
)
