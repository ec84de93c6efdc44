"""PreparedCall: ``PluginManager.execute(name, params, context)`` for one configured action,
with what does not change between two calls looked up once.

The daemon's compiled dispatch makes one per Plugin action of a config. A call checks, without
any side effect, that what it looked up still holds (the same loaded plugin, runner, settings
and grants; nothing missing; no restart pending); then it does exactly what ``execute`` does,
in the same order: the disabled check, the rate limit, the plugin's call lock with the same
timeout, the stats, the audit of failures. Whenever a check does not hold, the whole call is
``execute``'s own (and the next call looks everything up again), so every rule of the manager
(grants, rate limits, timeouts, restarts, audit) applies unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from midimon.plugins.errors import WorkerCrashed, WorkerTimeout
from midimon.plugins.loading.loader import EncodedParams
from midimon.plugins.manager.results import ExecutionResult, Outcome
from midimon.plugins.sandbox.runners import IsolatedRunner
from midimon.plugins.sandbox.wire import Wire

if TYPE_CHECKING:
    from midimon.plugins.description.capabilities import Capability
    from midimon.plugins.loading.context import TriggerContext
    from midimon.plugins.manager.plugin_manager import PluginManager
    from midimon.plugins.manager.ratelimit import TokenBucket
    from midimon.plugins.manager.results import LoadedPlugin
    from midimon.plugins.sandbox.runners import Runner
    from midimon.plugins.settings import PluginSettings


class NativeCall(NamedTuple):
    """A call the native dispatch may make: the plugin, its encoded params, the plugin's token
    bucket and the call lock's timeout (seconds)."""

    loaded: LoadedPlugin
    payload: EncodedParams
    bucket: TokenBucket
    timeout: float


class PreparedCall:
    """One plugin with fixed, already encoded params; call it with a TriggerContext."""

    __slots__ = (
        "_bucket", "_granted", "_inline", "_loaded", "_manager", "_params", "_ready",
        "_runner", "_settings", "_timeout", "name", "payload",
    )  # fmt: skip

    def __init__(self, manager: PluginManager, name: str, params: Callable[[], Any]) -> None:
        """``params()`` gives the call's params (EncodedParams, or what execute() reports as
        invalid); asked once, at the first call, so that preparing a config costs nothing."""
        self._manager = manager
        self.name = name
        self._params = params
        self.payload: Any = None
        self._loaded: LoadedPlugin | None = None
        self._runner: Runner | None = None
        self._settings: PluginSettings | None = None
        self._granted: frozenset[Capability] | None = None
        self._ready = False  # what was looked up allows the prepared path
        self._inline = False
        self._timeout = 0.0
        self._bucket: TokenBucket | None = None

    def _current(self) -> LoadedPlugin | None:
        """The loaded plugin when the lookups still hold (looking them up again when they do
        not); None when the prepared path cannot be used now."""
        manager = self._manager
        loaded = manager.peek_loaded(self.name)  # one dict read, as in execute()
        if (
            loaded is self._loaded
            and loaded is not None
            and loaded.runner is self._runner
            and manager.settings is self._settings
            and loaded.granted is self._granted
        ):
            return loaded if self._ready else None
        self._loaded = loaded
        self._settings = settings = manager.settings
        if loaded is None:
            self._runner = self._granted = None
            self._ready = self._inline = False
            return None
        self._runner = runner = loaded.runner
        self._granted = loaded.granted
        execution = settings.execution_for(self.name)
        self._timeout = execution.timeout
        self._inline = runner is not None and runner.in_process and execution.inline
        self._ready = runner is not None and not (loaded.manifest.capabilities - loaded.granted)
        self._bucket = manager.rate_bucket(self.name) if self._ready else None
        return loaded if self._ready else None

    def runs_inline(self) -> bool:
        """``PluginManager.runs_inline(name)``, from the lookups while they hold."""
        self._current()
        return self._inline

    def inline_loaded(self) -> LoadedPlugin | None:
        """The loaded plugin when it runs inline and the prepared path applies now (then
        :meth:`run` it), else None (then ask :meth:`runs_inline` and call as usual)."""
        loaded = self._current()
        return loaded if self._inline else None

    def native_call(self) -> NativeCall | None:
        """What the native dispatch needs to make this call itself, when the prepared path
        applies now to an inline plugin that is enabled, needs no restart and has valid params;
        else None (the call stays Python's)."""
        loaded = self.inline_loaded()
        if loaded is None or loaded.needs_restart or loaded.runner is None:
            return None
        if self._manager.state.disabled_reason(self.name) is not None:
            return None
        payload = self.payload
        if payload is None:
            payload = self.payload = self._params()
        if type(payload) is not EncodedParams or self._bucket is None:
            return None
        return NativeCall(loaded, payload, self._bucket, self._timeout)

    def isolated_call(self) -> NativeCall | None:
        """What the native dispatch needs to send this call to an isolated plugin's worker
        itself: when the prepared path applies now, the worker takes calls, the plugin is
        enabled, needs no restart, and its params are valid and fit one message; else None."""
        loaded = self._current()
        runner = loaded.runner if loaded is not None else None
        if loaded is None or loaded.needs_restart or type(runner) is not IsolatedRunner:
            return None
        if not runner.usable or self._manager.state.disabled_reason(self.name) is not None:
            return None
        payload = self.payload
        if payload is None:
            payload = self.payload = self._params()
        if type(payload) is not EncodedParams or len(payload) > Wire.PARAMS_CHUNK:
            return None
        assert self._bucket is not None  # looked up whenever the prepared path is ready
        return NativeCall(loaded, payload, self._bucket, self._timeout)

    def __call__(self, context: TriggerContext) -> ExecutionResult:
        """``PluginManager.execute(name, payload, context)``: the same result and effects."""
        started = time.perf_counter()
        outcome, message, status = self.run(self._current(), context)
        return _result(self.name, started, outcome, message, status)

    def run(
        self, loaded: LoadedPlugin | None, context: TriggerContext
    ) -> tuple[Outcome, str, int | None]:
        """``execute``'s (outcome, message, status), no ExecutionResult built; ``loaded`` is
        what :meth:`inline_loaded` (or the lookups) just gave."""
        manager = self._manager
        name = self.name
        payload = self.payload
        if payload is None:
            payload = self.payload = self._params()
        if (
            loaded is None
            or loaded.needs_restart
            or type(payload) is not EncodedParams
            or manager.state.disabled_reason(name) is not None  # execute() reports it
        ):
            done = manager.execute(name, payload, context)
            return done.outcome, done.message, done.status
        stats = manager.counters(name)
        bucket = self._bucket
        assert bucket is not None  # looked up whenever the prepared path is ready
        if not bucket.try_take():
            stats.rate_limited += 1
            manager.audit.record("rate_limit", name)
            return Outcome.RATE_LIMITED, f"{name}: rate limit reached; call refused", None
        timeout = self._timeout
        deadline = time.monotonic() + timeout
        lock = loaded.lock
        if not (lock.acquire(False) or lock.acquire(timeout=timeout)):
            stats.timeouts += 1
            return Outcome.TIMEOUT, f"{name} is busy with another call past its timeout", None
        try:
            runner = loaded.runner
            if runner is None or loaded.needs_restart:  # changed while we waited: restart
                done = manager.call_locked(loaded, payload, context, deadline, stats, _handed_back)
                return done.outcome, done.message, done.status
            stats.executions += 1
            call_started = time.perf_counter()
            try:
                status, message = runner.execute(
                    payload, context, max(0.001, deadline - time.monotonic())
                )
            except (WorkerTimeout, WorkerCrashed) as exc:
                failure = exc

                def again() -> tuple[int, str]:
                    raise failure

                done = manager.complete_call(loaded, stats, _handed_back, call_started, again)
                return done.outcome, done.message, done.status
            finally:
                stats.last_execution = time.time()
            stats.add_latency(time.perf_counter() - call_started)
            if status == 0:
                stats.successes += 1
                return Outcome.OK, message, status
            stats.failures += 1
            manager.audit.record("execute_failed", name, status=status, message=message[:500])
            return Outcome.FAILED, message, status
        finally:
            lock.release()


def _handed_back(outcome: Outcome, message: str, status: int | None = None) -> ExecutionResult:
    """The ``result`` function the manager's own steps take when the prepared path hands a
    call back to them: only the outcome, message and status are read from it."""
    return ExecutionResult("", outcome, message, status)


def _result(
    name: str, started: float, outcome: Outcome, message: str, status: int | None = None
) -> ExecutionResult:
    return ExecutionResult(
        name, outcome, message, status, round((time.perf_counter() - started) * 1000, 4)
    )
