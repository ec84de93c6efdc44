"""Carrying out actions: plugins, programs, MIDI out, mode changes, sequences, conditions.

The executor runs on the daemon's action threads, never on the MIDI input thread. A failing
action is logged and counted and never stops the daemon; ``run`` returns what happened to each
leaf action so the daemon can report it (STATUS, the event stream, the tests).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from midimon.engine.action_specs import (
    Action,
    ConditionalAction,
    DelayAction,
    KeystrokeAction,
    ModeChangeAction,
    PluginAction,
    RepeatAction,
    SendMidiAction,
    SequenceAction,
    ShellAction,
    TextAction,
)
from midimon.engine.errors import ActionError  # defined there; importable here as before
from midimon.engine.failure_log import FailureLog
from midimon.engine.mapping import Mapper
from midimon.engine.triggers import FiredTrigger
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import EncodedParams, encode_params
from midimon.plugins.manager.results import ExecutionResult, StartedCall

log = logging.getLogger(__name__)

# Names the config accepts for modifiers -> pynput's Key attribute names.
MODIFIER_ALIASES = {"control": "ctrl", "option": "alt", "command": "cmd", "meta": "cmd",
                    "super": "cmd", "win": "cmd"}  # fmt: skip
SHELL_TIMEOUT = 30.0  # seconds a Shell action's program may run before it is killed


# A Plugin action's params: encoded once, or as configured when they could not be encoded (the
# manager then reports that as the call's failure).
PluginParams = EncodedParams | Mapping[str, Any] | str


class PluginRunner(Protocol):
    """What the executor needs of the PluginManager."""

    def execute(self, name: str, params: PluginParams, context: TriggerContext) -> ExecutionResult:
        """Run a plugin action; never raises for plugin trouble (see the result's outcome)."""

    def finish_call(self, call: StartedCall) -> ExecutionResult:
        """The result (as execute's) of a call started earlier with ``start_call``."""


MidiSender = Callable[[str | None, bytes], None]


class ActionOutcome(NamedTuple):
    """What one leaf action did (a NamedTuple: one is made per action, on the hot path)."""

    action: str  # the action type: Plugin, Shell, SendMidi, ModeChange, Delay, Keystroke, Text
    ok: bool
    detail: str
    elapsed_ms: float


def _keyboard() -> Any:
    """A pynput keyboard controller, or ActionError saying what is missing."""
    try:
        from pynput.keyboard import Controller  # optional: X11, macOS, Windows
    except ImportError as exc:
        raise ActionError(
            "Keystroke and Text actions need a desktop session (X11, macOS or Windows) and the "
            f"pynput package (pip install pynput); here: {exc}"
        ) from None
    return Controller()


class ActionExecutor:
    """Runs action specs against the mapper (modes), the plugin manager and MIDI output."""

    def __init__(
        self,
        mapper: Mapper,
        plugins: PluginRunner,
        send_midi: MidiSender,
        *,
        now: Callable[[], datetime] = datetime.now,
        sleep: Callable[[float], None] = time.sleep,
        keyboard: Callable[[], Any] = _keyboard,
    ) -> None:
        self.mapper = mapper
        self.plugins = plugins
        self.send_midi = send_midi
        self._now = now
        self._sleep = sleep
        self._keyboard = keyboard
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # "<Type>.ok" / "<Type>.failed"
        self.failures = FailureLog(log)  # every failure is counted; repeats logged once a minute
        # id(action) -> (action, encoded params); the action is kept so the id stays its own.
        self._params: dict[int, tuple[PluginAction, PluginParams]] = {}

    def run(self, action: Action, fired: FiredTrigger) -> list[ActionOutcome]:
        """Carry out ``action`` for ``fired``; never raises for a failing action."""
        outcomes: list[ActionOutcome] = []
        self._run(action, fired, outcomes)
        return outcomes

    def finish_started(self, action: PluginAction, call: StartedCall) -> list[ActionOutcome]:
        """The outcome of a Plugin action whose call was already sent (``start_call``); its
        time counts from the send, not from when the answer is read."""
        return [self._leaf(action, None, call, call.started)]

    # -- dispatch ------------------------------------------------------------------------------
    def _run(self, action: Action, fired: FiredTrigger, out: list[ActionOutcome]) -> None:
        if isinstance(action, SequenceAction):
            for step in action.actions:
                self._run(step, fired, out)
        elif isinstance(action, RepeatAction):
            for index in range(action.count):
                if index and action.delay_ms:
                    self._sleep(action.delay_ms / 1000)
                self._run(action.action, fired, out)
        elif isinstance(action, ConditionalAction):
            branch = (
                action.then
                if action.condition.evaluate(self.mapper.mode, self._now())
                else action.otherwise
            )
            if branch is not None:
                self._run(branch, fired, out)
        else:
            out.append(self._leaf(action, fired))

    def plugin_done(self, ok: bool, detail: str | None) -> None:
        """Count a Plugin action the daemon's compiled path ran itself, as ``run`` counts
        one (``detail``: the failure's, logged; None when it succeeded)."""
        with self._lock:
            self.counts["Plugin.ok" if ok else "Plugin.failed"] += 1
        if detail is not None:
            self.failures.failed("Plugin", detail)

    def _leaf(
        self,
        action: Action,
        fired: FiredTrigger | None,
        call: StartedCall | None = None,
        started: float | None = None,
    ) -> ActionOutcome:
        kind = type(action).__name__.removesuffix("Action")
        if started is None:
            started = time.perf_counter()
        try:
            ok, detail = self._do(action, fired, call)
        except ActionError as exc:
            ok, detail = False, str(exc)
        except Exception as exc:  # an action must never take the daemon down
            log.exception("%s action failed", kind)
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        return self._outcome(kind, ok, detail, started)

    def _outcome(self, kind: str, ok: bool, detail: str, started: float) -> ActionOutcome:
        """Count one leaf action's result (and log a failure) as an ActionOutcome."""
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.counts[f"{kind}.{'ok' if ok else 'failed'}"] += 1
        if not ok:
            self.failures.failed(kind, detail)
        return ActionOutcome(kind, ok, detail, round(elapsed, 3))

    def _do(
        self, action: Action, fired: FiredTrigger | None, call: StartedCall | None = None
    ) -> tuple[bool, str]:
        if isinstance(action, PluginAction):
            if call is not None:
                result = self.plugins.finish_call(call)
            else:
                assert fired is not None  # only a call started earlier comes without its trigger
                result = self.plugins.execute(
                    action.plugin, self.encoded_params(action), fired.to_context(self.mapper.mode)
                )
            return result.ok, f"{action.plugin}: {result.outcome.value}: {result.message}"
        if isinstance(action, ShellAction):
            return self._shell(action)
        if isinstance(action, SendMidiAction):
            data = b"".join(m.to_bytes() for m in action.messages)
            self.send_midi(action.port, data)
            return True, f"sent {len(action.messages)} message(s)"
        if isinstance(action, ModeChangeAction):
            before = self.mapper.mode
            after = self.mapper.apply_mode_change(action)
            return True, f"mode {before} -> {after}"
        if isinstance(action, DelayAction):
            self._sleep(action.ms / 1000)
            return True, f"waited {action.ms} ms"
        if isinstance(action, KeystrokeAction):
            return self._keystroke(action)
        if isinstance(action, TextAction):
            self._keyboard().type(action.text)
            return True, f"typed {len(action.text)} characters"
        raise ActionError(f"unsupported action {type(action).__name__}")

    def encoded_params(self, action: PluginAction) -> PluginParams:
        """The action's params as JSON, encoded once per config (not on every press)."""
        cached = self._params.get(id(action))
        if cached is None or cached[0] is not action:
            try:
                encoded: PluginParams = encode_params(action.params)
            except ValueError:
                encoded = action.params  # the manager reports it as the call's failure
            cached = self._params[id(action)] = (action, encoded)
        return cached[1]

    def _shell(self, action: ShellAction) -> tuple[bool, str]:
        if action.shell:
            command: Any = action.command
            what = action.command or ""
        else:
            command = list(action.argv)
            what = " ".join(action.argv)
        try:
            done = subprocess.run(
                command,
                shell=action.shell,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=SHELL_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise ActionError(f"program not found: {what}") from None
        except subprocess.TimeoutExpired:
            raise ActionError(f"{what}: still running after {SHELL_TIMEOUT:g} s; killed") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
            return False, f"{what}: exit {done.returncode}" + (f": {tail}" if tail else "")
        return True, f"{what}: exit 0"

    def _keystroke(self, action: KeystrokeAction) -> tuple[bool, str]:
        keyboard = self._keyboard()
        from pynput.keyboard import Key

        def key(name: str) -> Any:
            lowered = name.lower()
            return getattr(Key, MODIFIER_ALIASES.get(lowered, lowered), name)

        modifiers = [key(m) for m in action.modifiers]
        for modifier in modifiers:
            keyboard.press(modifier)
        try:
            for name in action.keys:
                keyboard.tap(key(name))
        finally:
            for modifier in reversed(modifiers):
                keyboard.release(modifier)
        return True, "pressed " + "+".join([*action.modifiers, *action.keys])
