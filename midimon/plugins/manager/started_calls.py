"""Calls the daemon's MIDI thread hands to an isolated plugin's worker without waiting.

:class:`StartedCalls` is a base of :class:`~midimon.plugins.manager.plugin_manager.PluginManager`
and works on its state, declared below. A started call goes into the worker's pipeline
(sandbox/pipeline.py): several calls are in flight at once, answered in order on the worker's
reader thread, which turns each answer into the same ExecutionResult execute() gives (stats,
audit, restart or disable after a failure) and hands it to the caller's ``on_done``.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from typing import Any

from midimon.plugins.errors import CallNotRun, PipelineFull, WorkerCrashed, WorkerError
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import EncodedParams, encode_params
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grants import PluginStateStore
from midimon.plugins.manager.ratelimit import TokenBucket
from midimon.plugins.manager.results import ExecutionResult, LoadedPlugin, Outcome, StartedCall
from midimon.plugins.manager.stats import PluginStats
from midimon.plugins.sandbox.pending import PendingCall
from midimon.plugins.sandbox.runners import IsolatedRunner
from midimon.plugins.settings import PluginSettings

DROP_AUDIT_SECONDS = 1.0  # at most one "dropped" audit line per plugin and second


class StartedCalls(abc.ABC):
    """The start_call / finish_call methods of PluginManager (its state, declared here for
    the type checker; the abstract methods are PluginManager's)."""

    settings: PluginSettings
    state: PluginStateStore
    audit: AuditLog
    _loaded: dict[str, LoadedPlugin]
    _stats: dict[str, PluginStats]
    _drop_audit: dict[str, tuple[float, int]]  # plugin -> (last audit line, drops since)

    @abc.abstractmethod
    def rate_bucket(self, name: str) -> TokenBucket:
        """The plugin's rate-limit bucket."""

    @abc.abstractmethod
    def complete_call(
        self,
        loaded: LoadedPlugin,
        stats: PluginStats,
        result: Callable[..., ExecutionResult],
        call_started: float,
        run: Callable[[], tuple[int, str]],
        runner: Any = None,
    ) -> ExecutionResult:
        """Run ``run()`` and turn what happens into an ExecutionResult (PluginManager's)."""

    def start_call(
        self,
        name: str,
        params: Mapping[str, Any] | str | EncodedParams,
        context: TriggerContext,
        on_done: Callable[[StartedCall], None] | None = None,
    ) -> StartedCall | None:
        """Hand a call to an isolated plugin's worker now, without waiting for its answer.

        Only when nothing stands in the way: the plugin is loaded with a running worker,
        enabled, granted and within its rate limit; calls already in flight do not stand in
        the way (they are pipelined). Otherwise None: use :meth:`execute`, which handles (and
        reports) every other case. Never blocks, so the daemon's MIDI thread can call it.

        ``on_done(call)`` runs once ``call.result`` is set: on the worker's reader thread, or
        at once on this thread when the call was dropped (its queue full: Outcome.DROPPED,
        counted and audited). Without ``on_done``, :meth:`finish_call` waits for the result.
        """
        loaded = self._loaded.get(name)
        if (
            loaded is None
            or loaded.needs_restart
            or type(loaded.runner) is not IsolatedRunner
            or not loaded.runner.usable
            or self.state.disabled_reason(name) is not None
            or loaded.manifest.capabilities - loaded.granted
        ):
            return None
        try:
            payload = encode_params(params)
        except ValueError:
            return None
        if not loaded.lock.acquire(False):
            return None  # a restart or an execute() holds it: execute() waits its turn
        try:
            runner = loaded.runner
            if type(runner) is not IsolatedRunner or loaded.needs_restart:
                return None
            if not self.rate_bucket(name).try_take():
                return None  # execute() reports the refusal
            stats = self._stats[name]
            call = StartedCall(loaded, stats, time.perf_counter(), runner, on_done)
            timeout = self.settings.execution_for(name).timeout
            try:
                runner.submit(payload, context, timeout, self._answered, call)
            except PipelineFull as exc:
                full = exc
            except (WorkerError, ValueError):  # gone, or params over the wire limit
                return None  # execute() restarts it or reports the failure
            else:
                stats.executions += 1
                stats.last_execution = time.time()
                return call
        finally:
            loaded.lock.release()
        self._call_dropped(call, full)  # reported without holding the plugin's lock
        return call

    def finish_call(self, call: StartedCall) -> ExecutionResult:
        """The result of a :meth:`start_call` call, waiting for it when needed; the same
        result execute() gives."""
        if call.result is None and call.event is not None:
            call.event.wait()
        assert call.result is not None
        return call.result

    def abandon_call(self, call: StartedCall) -> None:
        """Give up a started call (shutting down): nothing to release, its answer is read by
        the worker's reader thread and stopping the plugin fails it if it never comes."""
        return None

    def adopter(
        self, loaded: LoadedPlugin, runner: IsolatedRunner, on_done: Callable[[StartedCall], None]
    ) -> Callable[[int, float, float], PendingCall]:
        """What turns a call the native dispatch sent to ``runner``'s worker itself into this
        manager's started call, as :meth:`start_call` would have made it (native_channel.py's
        Adopter): counted, answered on the reader thread, ``on_done`` run with its result."""
        stats = self._stats[loaded.manifest.name]

        def adopt(seq: int, sent_at: float, timeout: float) -> PendingCall:
            # sent_at is CLOCK_MONOTONIC, as time.perf_counter() on Linux (the only platform
            # with a native dispatch): the call's time counts from the send
            call = StartedCall(loaded, stats, sent_at, runner, on_done)
            stats.executions += 1
            stats.last_execution = time.time()
            pending = PendingCall(seq, timeout, self._answered, call)
            pending.sent_at = sent_at
            return pending

        return adopt

    # -- on the worker's reader thread ------------------------------------------------------------
    def _answered(self, pending: PendingCall) -> None:
        call: StartedCall = pending.tag  # type: ignore[assignment]
        loaded = call.loaded
        name = loaded.manifest.name
        error = pending.error

        def result(outcome: Outcome, message: str, status: int | None = None) -> ExecutionResult:
            elapsed_ms = round((time.perf_counter() - call.started) * 1000, 4)
            return ExecutionResult(name, outcome, message, status, elapsed_ms)

        if isinstance(error, CallNotRun):
            call.stats.not_run += 1
            if error.first:  # one audit line for all the calls this failure took along
                self.audit.record(
                    "not_run", name, calls=error.count, cause=str(error.cause)[:500]
                )
            outcome = result(Outcome.NOT_RUN, str(error))
        elif type(error) is WorkerError:
            # Not a crash or timeout of the worker (its reader failed): report, restart.
            outcome = self.complete_call(
                loaded, call.stats, result, call.started,
                lambda: _raise(WorkerCrashed(name, "execute", None, None, detail=str(error))),
                call.runner,
            )  # fmt: skip
        else:
            outcome = self.complete_call(
                loaded, call.stats, result, call.started, pending.outcome, call.runner
            )
        self._deliver(call, outcome)

    def _call_dropped(self, call: StartedCall, exc: PipelineFull) -> None:
        name = call.loaded.manifest.name
        call.stats.dropped += 1
        now = time.monotonic()
        last, since = self._drop_audit.get(name, (float("-inf"), 0))
        since += 1
        if now - last >= DROP_AUDIT_SECONDS:
            self.audit.record("dropped", name, calls=since, queue_size=exc.queue_size)
            last, since = now, 0
        self._drop_audit[name] = (last, since)
        self._deliver(call, ExecutionResult(name, Outcome.DROPPED, str(exc)))

    @staticmethod
    def _deliver(call: StartedCall, outcome: ExecutionResult) -> None:
        call.result = outcome
        if call.on_done is not None:
            call.on_done(call)
        elif call.event is not None:
            call.event.set()


def _raise(error: BaseException) -> tuple[int, str]:
    raise error
