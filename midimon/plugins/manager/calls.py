"""The call path of PluginManager: execute(), a call under the plugin's lock, what an answer,
a crash or a timeout turns into, and the restart backoff and auto-disable after failures.

:class:`CallPath` is a base of :class:`~midimon.plugins.manager.plugin_manager.PluginManager`
and works on its state, declared below; the manager's lifecycle (discovery, load, start,
unload) stays in plugin_manager.py, the pipelined calls in started_calls.py.
"""

from __future__ import annotations

import abc
import collections
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import (
    LoadError,
    PluginDisabled,
    PluginError,
    WorkerCrashed,
    WorkerTimeout,
)
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import EncodedParams, encode_params
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grant_admin import GrantAdmin
from midimon.plugins.manager.grants import PluginStateStore
from midimon.plugins.manager.ratelimit import TokenBucket
from midimon.plugins.manager.results import ExecutionResult, LoadedPlugin, Outcome, ResultMaker
from midimon.plugins.manager.stats import PluginStats
from midimon.plugins.sandbox.denials import Denial
from midimon.plugins.sandbox.runners import Runner
from midimon.plugins.settings import PluginSettings

#: A crashed/timed-out worker restarts after FIRST_BACKOFF s, doubling within the window.
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 5.0


def _usable(runner: Runner) -> bool:
    """False for an isolated runner whose worker died (its reader reports it meanwhile)."""
    return runner.usable


class CallPath(abc.ABC):
    """execute() and its steps, for PluginManager (its state, declared here for the type
    checker; the abstract methods are PluginManager's)."""

    settings: PluginSettings
    state: PluginStateStore
    audit: AuditLog
    grants: GrantAdmin
    _clock: Callable[[], float]  # monotonic seconds of the crash backoff and window
    _sleep: Callable[[float], None]
    _lock: threading.RLock
    _loaded: dict[str, LoadedPlugin]
    _stats: dict[str, PluginStats]
    _buckets: dict[str, TokenBucket]
    _crashes: dict[str, collections.deque[float]]  # plugin -> its recent crash times

    @abc.abstractmethod
    def load(self, name: str) -> PluginManifest:
        """Verify, start and initialize the plugin (PluginManager's)."""

    @abc.abstractmethod
    def _start(self, loaded: LoadedPlugin) -> None:
        """Start a runner for a verified plugin and initialize it (PluginManager's)."""

    # -- execute()'s steps, public for PreparedCall (manager/prepared.py) ---------------------
    def peek_loaded(self, name: str) -> LoadedPlugin | None:
        """The loaded plugin ``name`` without the manager's lock (one dict read, as execute())."""
        return self._loaded.get(name)

    def counters(self, name: str) -> PluginStats:
        """The live counters of a loaded plugin (``stats`` gives them as a dict)."""
        return self._stats[name]

    def rate_bucket(self, name: str) -> TokenBucket:
        """The plugin's rate-limit bucket (made from its settings at first use)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            settings = self.settings.execution_for(name)
            bucket = self._buckets[name] = TokenBucket(settings.rate_limit, settings.rate_burst)
        return bucket

    def execute(
        self, name: str, params: Mapping[str, Any] | str | EncodedParams, context: TriggerContext
    ) -> ExecutionResult:
        """Run a plugin's action once. Never raises for plugin trouble: see the outcome."""
        started = time.perf_counter()
        stats = self._stats[name]

        def result(outcome: Outcome, message: str, status: int | None = None) -> ExecutionResult:
            return ExecutionResult(
                name, outcome, message, status, round((time.perf_counter() - started) * 1000, 4)
            )

        try:
            payload = encode_params(params)
        except ValueError as exc:
            return result(Outcome.FAILED, str(exc))
        reason = self.state.disabled_reason(name)
        if reason is not None:
            return result(Outcome.DISABLED, str(PluginDisabled(name, reason)))
        if not self.rate_bucket(name).try_take():
            stats.rate_limited += 1
            self.audit.record("rate_limit", name)
            return result(Outcome.RATE_LIMITED, f"{name}: rate limit reached; call refused")
        loaded = self._loaded.get(name)  # one dict read is atomic: no lock on the hot path
        if loaded is None:
            try:
                self.load(name)
            except PluginDisabled as exc:
                return result(Outcome.DISABLED, str(exc))
            except (PluginError, OSError) as exc:
                return result(Outcome.UNAVAILABLE, str(exc))
            with self._lock:
                loaded = self._loaded.get(name)
            if loaded is None:
                return result(Outcome.UNAVAILABLE, f"{name} was unloaded")
        if loaded.needs_restart:  # grants changed: judge this call by the new ones
            self.grants.refresh(loaded)
        refusal = self.grants.refuse_ungranted(loaded, payload)  # audited as "deny"
        if refusal is not None:
            stats.denials += 1
            return result(Outcome.DENIED, refusal)
        settings = self.settings.execution_for(name)
        deadline = time.monotonic() + settings.timeout
        # Uncontended (the usual case) without a timed wait; else wait up to the timeout.
        if not (loaded.lock.acquire(False) or loaded.lock.acquire(timeout=settings.timeout)):
            stats.timeouts += 1
            return result(Outcome.TIMEOUT, f"{name} is busy with another call past its timeout")
        try:
            return self.call_locked(loaded, payload, context, deadline, stats, result)
        finally:
            loaded.lock.release()

    def call_locked(
        self,
        loaded: LoadedPlugin,
        payload: EncodedParams,
        context: TriggerContext,
        deadline: float,
        stats: PluginStats,
        result: ResultMaker,
    ) -> ExecutionResult:
        """One call with the plugin's lock held: (re)start its runner when needed, then run."""
        if loaded.runner is None or loaded.needs_restart or not _usable(loaded.runner):
            wait = loaded.restart_after - self._clock()
            if wait > 0:
                self._sleep(min(wait, max(0.0, deadline - time.monotonic())))
            if loaded.runner is not None:
                loaded.runner.kill()
            loaded.runner = None
            self.grants.refresh(loaded, audit=True)
            try:
                self._start(loaded)
            except LoadError as exc:
                stats.failures += 1
                return result(Outcome.UNAVAILABLE, str(exc))
        runner = loaded.runner
        assert runner is not None
        timeout = max(0.001, deadline - time.monotonic())
        stats.executions += 1
        stats.last_execution = time.time()
        call_started = time.perf_counter()
        return self.complete_call(
            loaded,
            stats,
            result,
            call_started,
            lambda: runner.execute(payload, context, timeout),
            runner,
        )

    def complete_call(
        self,
        loaded: LoadedPlugin,
        stats: PluginStats,
        result: ResultMaker,
        call_started: float,
        run: Callable[[], tuple[int, str]],
        runner: Runner | None = None,
    ) -> ExecutionResult:
        """Run ``run()`` (the runner call, or the wait for its answer) and turn what happens
        into an ExecutionResult: stats, audit, and restart or disable after a failure.
        ``runner``: the runner the call went to (only that one is killed after a failure)."""
        name = loaded.manifest.name
        settings = self.settings.execution_for(name)
        try:
            status, message = run()
        except WorkerTimeout as exc:
            stats.timeouts += 1
            self._after_failure(
                loaded, "timeout", f"no answer within {exc.seconds:g} s", runner=runner
            )
            return result(
                Outcome.TIMEOUT,
                f"{name} timed out after {settings.timeout:g} s; its worker was killed "
                "and restarts for the next call",
            )
        except WorkerCrashed as exc:
            return self._crashed(loaded, exc, stats, result, runner)
        stats.add_latency(time.perf_counter() - call_started)
        if status == 0:
            stats.successes += 1
            return result(Outcome.OK, message, status)
        stats.failures += 1
        self.audit.record("execute_failed", name, status=status, message=message[:500])
        return result(Outcome.FAILED, message, status)

    def _crashed(
        self,
        loaded: LoadedPlugin,
        exc: WorkerCrashed,
        stats: PluginStats,
        result: ResultMaker,
        runner: Runner | None = None,
    ) -> ExecutionResult:
        name = loaded.manifest.name
        denial: Denial | None = exc.denial
        if denial is not None:
            stats.denials += 1
            self.audit.record(
                "deny",
                name,
                syscall=denial.syscall,
                capability=denial.capability.value if denial.capability else None,
                detail=denial.detail,
            )
            self._after_failure(loaded, "deny", str(exc), count_crash=False, runner=runner)
            return result(Outcome.DENIED, f"{name}: {exc}")
        stats.crashes += 1
        self._after_failure(loaded, "crash", str(exc), runner=runner)
        return result(Outcome.CRASHED, f"{name} crashed: {exc}; its worker restarts")

    def _after_failure(
        self,
        loaded: LoadedPlugin,
        event: str,
        detail: str,
        count_crash: bool = True,
        runner: Runner | None = None,
    ) -> None:
        """Kill the runner, log the event, back off, and disable after too many crashes.
        ``runner``: the one that failed; a newer one (restarted meanwhile) is left running."""
        name = loaded.manifest.name
        settings = self.settings.execution_for(name)
        failed = loaded.runner if runner is None else runner
        if failed is not None:
            failed.kill()
        if loaded.runner is failed:
            loaded.runner = None
        if event != "deny":
            self.audit.record(event, name, detail=detail)
        if not count_crash:
            return
        now = self._clock()
        crashes = self._crashes[name]
        crashes.append(now)
        while crashes and crashes[0] < now - settings.crash_window:
            crashes.popleft()
        loaded.restart_after = now + min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (len(crashes) - 1))
        if len(crashes) > settings.max_crashes:
            reason = (
                f"{len(crashes)} crashes or timeouts within {settings.crash_window:g} s "
                f"(last: {detail})"
            )
            self.state.set_disabled(name, reason)
            self.audit.record("disable", name, reason=reason)

