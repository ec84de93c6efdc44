"""The compiled dispatch: raw MIDI bytes -> compiled trigger table -> prepared plugin call.

``Daemon.feed`` is one of three paths, chosen once per daemon by ``MIDIMON_DISPATCH``:

- ``native`` (the default where midimon's native library is built): the compiled path's common
  case (stateless triggers whose actions are all in-process ``inline`` plugin calls) walked in C,
  in front of the compiled path, which takes every other message
  (``midimon.daemon.native_dispatch``);
- ``compiled``: the bytes index the table compiled at load/reload
  (``midimon.engine.dispatch_table``), with no MidiEvent built and no trigger spec hashed;
  a stateless trigger fires straight into its actions for the current mode, and a Plugin
  action of an ``inline`` in-process plugin goes through its PreparedCall. A message no
  mapping listens to only counts.
- ``reference``: today's engine, step by step (decode -> EventProcessor -> Mapper -> action
  executor -> PluginManager.execute). It is the specification the compiled path is tested
  against (tests/daemon/test_dispatch.py, the native path too) and stays selectable while it is.

The compiled path hands an event to the reference path whenever that path's state matters:
a stateful trigger (LongPress, DoubleTap, NoteChord) listens to it, a long press is held (it
may fall due before the event), ``midimon monitor`` wants MIDI events, or the message is not
in canonical form (running status, extra bytes, a data byte over 127, not ``bytes``). Both
paths run under the engine lock and count, publish and queue exactly alike.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from midimon.engine.action_specs import Action, PluginAction
from midimon.engine.dispatch_table import FALLBACK, VALUE_SAME, VALUE_ZERO, Step
from midimon.engine.errors import ConfigError
from midimon.engine.trigger_specs import MS
from midimon.engine.triggers import FiredTrigger
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.prepared import PreparedCall
from midimon.plugins.manager.results import Outcome

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon
    from midimon.engine.actions import ActionExecutor
    from midimon.engine.trigger_specs import TriggerSpec

log = logging.getLogger("midimon.engine.actions")  # where the reference logs a failing action

DISPATCH_VARIABLE: Final = "MIDIMON_DISPATCH"
DISPATCH_PATHS: Final = ("native", "compiled", "reference")


class Feed(Protocol):
    """``Daemon.feed``: one raw MIDI message and its monotonic time (default: now)."""

    def __call__(self, data: bytes, timestamp_ns: int | None = None) -> None:
        """Handle the message (see feed_compiled and Daemon.feed_reference)."""


def dispatch_path(environ: Mapping[str, str] = os.environ) -> str:
    """The dispatch path ``MIDIMON_DISPATCH`` selects (``compiled`` when unset or empty);
    ConfigError naming the variable and the choices for anything else."""
    raw = environ.get(DISPATCH_VARIABLE, "")
    value = raw.strip().lower() or DISPATCH_PATHS[0]
    if value not in DISPATCH_PATHS:
        raise ConfigError(
            None, f"environment variable {DISPATCH_VARIABLE}", None,
            f"{raw!r} is not a dispatch path; expected one of: {', '.join(DISPATCH_PATHS)}",
        )  # fmt: skip
    return value


def preparer(daemon: Daemon, executor: ActionExecutor) -> Callable[[Action], Any]:
    """What the table compiler keeps beside each action: a PreparedCall for a Plugin action
    (its params encoded by ``executor`` at the first call), None for the others."""
    manager = daemon.manager

    def prepare(action: Action) -> PreparedCall | None:
        if type(action) is not PluginAction:
            return None
        return PreparedCall(manager, action.plugin, lambda: executor.encoded_params(action))

    return prepare


def feed_compiled(self: Daemon, data: bytes, timestamp_ns: int | None = None) -> None:
    """``Daemon.feed`` on the compiled path (bound to the daemon as its ``feed``): the same
    effects as ``Daemon.feed_reference``."""
    stamp = timestamp_ns or time.monotonic_ns()
    if self._stopping:
        return
    with self._engine_lock:
        feed_compiled_locked(self, data, stamp)


def feed_compiled_locked(self: Daemon, data: bytes, stamp: int) -> None:
    """``feed_compiled``'s work, the engine lock held (the native dispatch hands it each message
    it leaves to Python)."""
    self.counters.midi_in += 1
    if (
        type(data) is not bytes
        or len(data) < 2
        or self.processor.pending_holds
        or self.registry.events.wants("midi")
    ):
        self._process_reference(data, stamp)
        return
    status = data[0]
    row: Any = self._table.rows[status]
    if row is None:  # nothing listens to this status (or it is not one)
        return
    kind = status & 0xF0
    if kind == 0xD0:  # channel aftertouch: status, pressure
        if len(data) != 2 or data[1] > 0x7F:
            self._process_reference(data, stamp)
            return
        entry: Any = row[0]
        number = velocity = 0
        checked = data[1]
    else:
        if len(data) != 3 or data[1] > 0x7F or data[2] > 0x7F:
            self._process_reference(data, stamp)
            return
        number = data[1]
        checked = data[2]
        if kind == 0x90:
            if not checked:  # a note-on with velocity 0 is a note-off
                off = self._table.rows[status - 0x10]
                if off is not None and off[number] is not None:
                    self._process_reference(data, stamp)
                return
            velocity = checked
            entry = row[number]
        elif kind == 0xE0:  # pitch bend: LSB, MSB
            checked = ((checked << 7) | number) - 8192
            number = velocity = 0
            entry = row[0]
        else:  # poly aftertouch, CC (and note-off, whose listeners are all stateful)
            velocity = checked if kind == 0x80 else 0
            entry = row[number]
    if entry is None:
        return
    if entry is FALLBACK:
        self._process_reference(data, stamp)
        return
    channel = status & 0x0F
    for spec, low, high, how, values, by_mode in entry:
        if low <= checked <= high:
            if how == VALUE_ZERO:
                value = 0
            elif how == VALUE_SAME:
                value = checked
            else:
                found: int | None = values[checked]
                if found is None:
                    continue
                value = found
            self.counters.triggers += 1
            steps = by_mode.get(self.mapper.mode)
            if steps:  # else: a trigger of a mode that is not active
                _fire_compiled(self, spec, channel, number, velocity, value, stamp, steps)


def _fire_compiled(
    self: Daemon,
    spec: TriggerSpec,
    channel: int,
    number: int,
    velocity: int,
    value: int,
    stamp: int,
    steps: tuple[Step, ...],
) -> None:
    """``Daemon._dispatch`` for a trigger the table fired, its actions already matched."""
    mode = self.mapper.mode
    events = self.registry.events
    if events.wants("trigger"):
        events.publish(
            {
                "type": "trigger",
                "trigger": type(spec).__name__,
                "number": number,
                "velocity": velocity,
                "value": value,
                "mode": mode,
                "actions": len(steps),
            }
        )
    fired = None
    origin = self.origin
    for action, prepared in steps:
        loaded = None if prepared is None else prepared.inline_loaded()
        if loaded is None:  # not an inline plugin, or something changed: the usual way
            if fired is None:
                fired = FiredTrigger(spec, channel, number, velocity, value, stamp, stamp)
            self._dispatch_action(action, fired)
            continue
        # Should the call be refused for a grant revoked meanwhile, the grant request names
        # this mapping and trigger (the FiredTrigger is only built then).
        origin.action = action
        origin.fired = (spec, channel, number, velocity, value, stamp)
        # What _run_action -> executor.run -> manager.execute do for it, flat: no FiredTrigger,
        # ExecutionResult or ActionOutcome built, the event for `midimon monitor` only when
        # someone watches.
        context = TriggerContext.from_engine(
            velocity, channel, number, value, spec.KIND, mode, stamp, time.time_ns() // MS
        )
        started = time.perf_counter()
        detail: str | None = None
        try:
            outcome, message, _ = prepared.run(loaded, context)
            ok = outcome is Outcome.OK
            if not ok or events.wants("action"):
                detail = f"{prepared.name}: {outcome.value}: {message}"
        except Exception as exc:  # an action must never take the daemon down
            log.exception("%s action failed", "Plugin")
            ok = False
            detail = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        self.executor.plugin_done(ok, None if ok else detail)
        if ok:
            self.counters.actions_ok += 1
        else:
            self.counters.actions_failed += 1
        if events.wants("action"):
            events.publish(
                {
                    "type": "action",
                    "action": "Plugin",
                    "ok": ok,
                    "detail": detail,
                    "ms": round(elapsed * 1000, 3),
                }
            )
