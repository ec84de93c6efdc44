"""The PluginManager: discovery, lifecycle, grants, limits, isolation, stats and audit.

Lifecycle: available (discovered) -> loaded (verified, worker started, initialized) -> enabled.
Plugins load lazily on first execute. Calls to one plugin are serialized; calls to different
plugins run concurrently; no call blocks its caller longer than the plugin's timeout (plus the
worker's start when it has to be (re)started).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from midimon.paths import plugin_search_path, state_dir
from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.description.discovery import DiscoveredPlugin, DiscoveryResult, discover
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import LoadError, PluginCallError, PluginError, PluginNotFound
from midimon.plugins.integrity.pins import claimed_signer
from midimon.plugins.integrity.verify import IntegrityChecker, IntegrityError
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import (
    EncodedParams,
    HostServices,
    LoggingHost,
    encode_params,
    read_binary,
)
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grant_admin import GrantAdmin
from midimon.plugins.manager.grant_guard import FilesystemGuard
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.manager.host_limits import LimitedHost, ServiceLimit
from midimon.plugins.manager.ratelimit import TokenBucket
from midimon.plugins.manager.results import (
    ExecutionResult,
    InProcessRefused,
    LoadedPlugin,
    Outcome,
    PluginDisabled,
    StartedCall,
)
from midimon.plugins.manager.stats import PluginStats
from midimon.plugins.sandbox.denials import Denial, WorkerCrashed, WorkerError, WorkerTimeout
from midimon.plugins.sandbox.grant_paths import sensitive_folders_covered
from midimon.plugins.sandbox.runners import InProcessRunner, IsolatedRunner, Runner, sandbox_spec
from midimon.plugins.settings import PluginSettings

MAX_BACKOFF = 5.0


class _Result(Protocol):
    """How one call's ExecutionResult is made (name and elapsed time filled in)."""

    def __call__(
        self, outcome: Outcome, message: str, status: int | None = None
    ) -> ExecutionResult: ...


class PluginManager(GrantAdmin):
    """Owns every plugin of one daemon (or one CLI command). Thread-safe."""

    def __init__(
        self,
        settings: PluginSettings | None = None,
        *,
        extra_dirs: Iterable[Path] = (),
        host: HostServices | None = None,
        checker: IntegrityChecker | None = None,
        state: PluginStateStore | None = None,
        audit: AuditLog | None = None,
        session_grants: Mapping[str, Iterable[Grant]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or PluginSettings()
        self.extra_dirs = tuple(Path(p) for p in extra_dirs)  # --plugins-dir: for hints
        self.one_off_hints = False  # plugins exec: denial hints give its --grant options too
        self.search_dirs = plugin_search_path([*self.extra_dirs, *self.settings.dirs])
        # Every plugin's log and send_midi pass the per-plugin caps, isolated or in-process.
        self.host = LimitedHost(host or LoggingHost(), self._service_limit, on_report=self._dropped)
        self.checker = checker or IntegrityChecker.for_user()
        self.state = state or PluginStateStore(state_dir() / "plugin_state.json")
        self.audit = audit or AuditLog(state_dir() / "audit.jsonl")
        self.fs_guard = FilesystemGuard(self.state, self.audit, self.checker, self.search_dirs)
        # Grants for this process only (``plugins exec --grant``), never written to disk.
        self.session_grants = {k: tuple(v) for k, v in (session_grants or {}).items()}
        self._clock = clock
        self._lock = threading.RLock()
        self._available: dict[str, DiscoveredPlugin] = {}
        self._discovery: DiscoveryResult | None = None
        self._loaded: dict[str, LoadedPlugin] = {}
        self._load_locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._stats: dict[str, PluginStats] = collections.defaultdict(PluginStats)
        self._buckets: dict[str, TokenBucket] = {}
        self._crashes: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    # -- discovery -------------------------------------------------------------------------
    def discover(self) -> DiscoveryResult:
        """Scan the search path again (manifests only; no plugin code runs)."""
        result = discover(self.search_dirs, self.checker.pins)
        with self._lock:
            self._discovery = result
            self._available = dict(result.plugins)
        return result

    def _ensure_discovered(self) -> None:
        if self._discovery is None:
            self.discover()

    def list_available(self) -> list[DiscoveredPlugin]:
        """Every discovered plugin."""
        self._ensure_discovered()
        with self._lock:
            return list(self._available.values())

    def list_loaded(self) -> list[str]:
        """Names of the loaded plugins."""
        with self._lock:
            return sorted(self._loaded)

    def get_metadata(self, name: str) -> PluginManifest:
        """The manifest of a discovered plugin (rescanning once for a new one), else
        PluginNotFound."""
        self._ensure_discovered()
        with self._lock:
            found = self._available.get(name)
        if found is None:
            found = self.discover().plugins.get(name)
        if found is None:
            raise PluginNotFound(name, self.search_dirs)
        return found.manifest

    # -- enable / disable ----------------------------------------------------------------------
    def enable(self, name: str) -> None:
        """Enable a plugin (also clears an automatic disable and its crash history)."""
        self.get_metadata(name)
        self.state.set_disabled(name, None)
        self._crashes.pop(name, None)
        self.audit.record("enable", name)

    def disable(self, name: str, reason: str = "disabled by the user") -> None:
        """Disable a plugin persistently; its worker is stopped."""
        self.get_metadata(name)
        self.state.set_disabled(name, reason)
        self.audit.record("disable", name, reason=reason)
        self.unload(name)

    def is_enabled(self, name: str) -> bool:
        """Whether the plugin may run."""
        return self.state.disabled_reason(name) is None

    # -- load / unload ---------------------------------------------------------------------
    def load(self, name: str) -> PluginManifest:
        """Verify, start and initialize the plugin (no-op when already loaded)."""
        with self._load_locks[name]:
            with self._lock:
                if name in self._loaded:
                    return self._loaded[name].manifest
            manifest = self.get_metadata(name)
            reason = self.state.disabled_reason(name)
            if reason is not None:
                raise PluginDisabled(name, reason)
            loaded = self._verify(manifest)
            self._start(loaded)
            with self._lock:
                self._loaded[name] = loaded
            return manifest

    def _verify(self, manifest: PluginManifest) -> LoadedPlugin:
        name = manifest.name
        try:  # one read into a sealed memfd, hashed as it is copied; the runners reuse it
            report, data = self.checker.check_binary(manifest, self.settings.policy_for(name))
        except LoadError as exc:
            self.audit.record("load_failed", name, reason=str(exc))
            raise
        self.audit.record(
            "verify",
            name,
            ok=report.ok,
            trust=report.trust,
            sha256=report.sha256,
            failures=[f.message for f in report.failures],
            key_id=(report.signature or {}).get("key_id"),
        )
        if not report.ok:
            raise IntegrityError(report)
        granted, access = self._granted(manifest, report.sha256, report.signer_id, audit=True)
        return LoadedPlugin(manifest, report, data, granted, access, runner=None)

    def _start(self, loaded: LoadedPlugin) -> None:
        """Start a runner for a verified plugin and initialize it."""
        manifest = loaded.manifest
        name = manifest.name
        settings = self.settings.execution_for(name)
        try:
            if settings.isolation == "in-process":
                if loaded.report.trust not in ("signed", "bundled"):
                    raise InProcessRefused(
                        manifest.path,
                        "in-process mode is only for plugins signed by a trusted key (or bundled "
                        f"with midimon); {name} is {loaded.report.trust}",
                    )
                runner: Runner = InProcessRunner(
                    manifest, loaded.data, loaded.report.sha256, self.host, loaded.granted
                )
            else:
                spec = sandbox_spec(manifest, loaded.granted, loaded.access, settings)
                runner = IsolatedRunner(
                    manifest, loaded.data, spec, self.host, start_timeout=max(settings.timeout, 5)
                )
            runner.initialize(settings.timeout)
        except (LoadError, PluginCallError, WorkerError) as exc:
            self.audit.record("load_failed", name, reason=str(exc))
            raise LoadError(manifest.path, f"{name} failed to start: {exc}") from None
        loaded.runner = runner
        loaded.needs_restart = False
        self.checker.record_accepted(loaded.report)
        self.audit.record(
            "load",
            name,
            mode=runner.mode,
            trust=loaded.report.trust,
            sha256=loaded.report.sha256,
            version=manifest.version,
            granted=[c.value for c in sorted_caps(loaded.granted)],
            enforced=runner.enforcement(),
        )

    def unload(self, name: str) -> bool:
        """Shut the plugin down (its worker exits); False when it was not loaded."""
        with self._lock:
            loaded = self._loaded.pop(name, None)
        if loaded is None:
            return False
        with loaded.lock:
            if loaded.runner is not None:
                try:
                    loaded.runner.shutdown()
                except WorkerError:
                    loaded.runner.kill()
        self.audit.record("unload", name)
        return True

    def shutdown(self) -> None:
        """Unload everything."""
        for name in self.list_loaded():
            self.unload(name)

    # -- execute -----------------------------------------------------------------------------
    def runs_inline(self, name: str) -> bool:
        """Whether calls to ``name`` may run on the caller's thread without a hand-over: it is
        loaded in-process and configured ``inline = true`` (never an isolated plugin, whose
        call could wait for its timeout)."""
        loaded = self._loaded.get(name)
        return (
            loaded is not None
            and loaded.runner is not None
            and loaded.runner.in_process
            and self.settings.execution_for(name).inline
        )

    def _service_limit(self, name: str, service: str) -> ServiceLimit:
        settings = self.settings.execution_for(name)
        if service == "log":
            return ServiceLimit(settings.log_rate_limit, settings.log_rate_burst)
        return ServiceLimit(settings.send_midi_rate_limit, settings.send_midi_rate_burst)

    def _dropped(self, name: str, service: str, count: int, span: float, total: int) -> None:
        self.audit.record(
            "host_service_limited",
            name,
            service=service,
            dropped=count,
            seconds=round(span, 3),
            total=total,
        )

    def _bucket(self, name: str) -> TokenBucket:
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
        if not self._bucket(name).try_take():
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
            loaded.granted, loaded.access = self._granted(
                loaded.manifest, loaded.report.sha256, loaded.report.signer_id
            )
        missing = loaded.manifest.capabilities - loaded.granted
        if missing:
            stats.denials += 1
            names = ", ".join(c.value for c in sorted_caps(missing))
            self.audit.record(
                "deny", name, capabilities=sorted(c.value for c in missing), reason="not granted"
            )
            not_applied = "".join(
                f"; its filesystem grant {r.path} was not applied: {r.reason}"
                for r in loaded.access.refused
            )
            return result(
                Outcome.DENIED,
                f"{name} needs {names}, not granted{not_applied}; grant it with: "
                + self.denial_hint(loaded.manifest, missing, payload),
            )
        settings = self.settings.execution_for(name)
        deadline = time.monotonic() + settings.timeout
        # Uncontended (the usual case) without a timed wait; else wait up to the timeout.
        if not (loaded.lock.acquire(False) or loaded.lock.acquire(timeout=settings.timeout)):
            stats.timeouts += 1
            return result(Outcome.TIMEOUT, f"{name} is busy with another call past its timeout")
        try:
            return self._call_locked(loaded, payload, context, deadline, stats, result)
        finally:
            loaded.lock.release()

    def _call_locked(
        self,
        loaded: LoadedPlugin,
        payload: EncodedParams,
        context: TriggerContext,
        deadline: float,
        stats: PluginStats,
        result: _Result,
    ) -> ExecutionResult:
        if loaded.runner is None or loaded.needs_restart:
            wait = loaded.restart_after - self._clock()
            if wait > 0:
                time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            if loaded.runner is not None:
                loaded.runner.kill()
            loaded.runner = None
            granted, access = self._granted(
                loaded.manifest, loaded.report.sha256, loaded.report.signer_id, audit=True
            )
            loaded.granted, loaded.access = granted, access
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
        return self._complete(
            loaded, stats, result, call_started, lambda: runner.execute(payload, context, timeout)
        )

    # -- calls sent ahead (the daemon's MIDI thread) ---------------------------------------------
    def start_call(
        self, name: str, params: Mapping[str, Any] | str | EncodedParams, context: TriggerContext
    ) -> StartedCall | None:
        """Send a call to an isolated plugin's worker now, without waiting for its answer.

        Only when nothing stands in the way: the plugin is loaded with a running worker,
        enabled, granted, within its rate limit and idle. Otherwise None: use :meth:`execute`,
        which handles (and reports) every other case. Never blocks beyond the send itself, so
        the daemon's MIDI thread can call it; the answer is collected on another thread with
        :meth:`finish_call`. A StartedCall holds the plugin's call lock: it must reach
        :meth:`finish_call` or :meth:`abandon_call`.
        """
        loaded = self._loaded.get(name)
        if (
            loaded is None
            or loaded.needs_restart
            or loaded.runner is None
            or loaded.runner.in_process  # would run on this thread: execute() is for that
            or self.state.disabled_reason(name) is not None
            or loaded.manifest.capabilities - loaded.granted
        ):
            return None
        try:
            payload = encode_params(params)
        except ValueError:
            return None
        if not loaded.lock.acquire(False):
            return None  # busy: execute() waits for it, on an action thread
        runner = loaded.runner
        if runner is None or loaded.needs_restart or not self._bucket(name).try_take():
            loaded.lock.release()
            return None
        stats = self._stats[name]
        call = StartedCall(loaded, stats, time.perf_counter())
        try:
            call.seq, call.deadline = runner.send_execute(
                payload, context, self.settings.execution_for(name).timeout
            )
        except (WorkerTimeout, WorkerCrashed) as exc:
            call.error = exc  # reported by finish_call, as execute() would
        except Exception:  # e.g. params over the wire limit: execute() reports it
            loaded.lock.release()
            return None
        stats.executions += 1
        stats.last_execution = time.time()
        return call

    def finish_call(self, call: StartedCall) -> ExecutionResult:
        """Wait for the answer to a :meth:`start_call` call; the same result execute() gives."""
        loaded = call.loaded
        name = loaded.manifest.name

        def result(outcome: Outcome, message: str, status: int | None = None) -> ExecutionResult:
            elapsed_ms = round((time.perf_counter() - call.started) * 1000, 4)
            return ExecutionResult(name, outcome, message, status, elapsed_ms)

        def answer() -> tuple[int, str]:
            if call.error is not None:
                raise call.error
            runner = loaded.runner
            if runner is None:  # killed meanwhile (unload, shutdown)
                raise WorkerCrashed(name, "execute", None, None, killed_by_host=True)
            return runner.receive_execute(call.seq, call.deadline)

        try:
            return self._complete(loaded, call.stats, result, call.started, answer)
        finally:
            loaded.lock.release()

    def abandon_call(self, call: StartedCall) -> None:
        """Give up a started call without its answer (shutting down): its worker is stopped,
        since a late answer would break the next call's exchange."""
        try:
            if call.loaded.runner is not None:
                call.loaded.runner.kill()
            call.loaded.runner = None
        finally:
            call.loaded.lock.release()

    def _complete(
        self,
        loaded: LoadedPlugin,
        stats: PluginStats,
        result: _Result,
        call_started: float,
        run: Callable[[], tuple[int, str]],
    ) -> ExecutionResult:
        """Run ``run()`` (the runner call, or the wait for its answer) and turn what happens
        into an ExecutionResult: stats, audit, and restart or disable after a failure."""
        name = loaded.manifest.name
        settings = self.settings.execution_for(name)
        try:
            status, message = run()
        except WorkerTimeout as exc:
            stats.timeouts += 1
            self._after_failure(loaded, "timeout", f"no answer within {exc.seconds:g} s")
            return result(
                Outcome.TIMEOUT,
                f"{name} timed out after {settings.timeout:g} s; its worker was killed "
                "and restarts for the next call",
            )
        except WorkerCrashed as exc:
            return self._crashed(loaded, exc, stats, result)
        stats.add_latency(time.perf_counter() - call_started)
        if status == 0:
            stats.successes += 1
            return result(Outcome.OK, message, status)
        stats.failures += 1
        self.audit.record("execute_failed", name, status=status, message=message[:500])
        return result(Outcome.FAILED, message, status)

    def _crashed(
        self, loaded: LoadedPlugin, exc: WorkerCrashed, stats: PluginStats, result: _Result
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
            self._after_failure(loaded, "deny", str(exc), count_crash=False)
            return result(Outcome.DENIED, f"{name}: {exc}")
        stats.crashes += 1
        self._after_failure(loaded, "crash", str(exc))
        return result(Outcome.CRASHED, f"{name} crashed: {exc}; its worker restarts")

    def _after_failure(
        self, loaded: LoadedPlugin, event: str, detail: str, count_crash: bool = True
    ) -> None:
        """Kill the runner, log the event, back off, and disable after too many crashes."""
        name = loaded.manifest.name
        settings = self.settings.execution_for(name)
        if loaded.runner is not None:
            loaded.runner.kill()
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
        loaded.restart_after = now + min(MAX_BACKOFF, 0.05 * 2 ** (len(crashes) - 1))
        if len(crashes) > settings.max_crashes:
            reason = (
                f"{len(crashes)} crashes or timeouts within {settings.crash_window:g} s "
                f"(last: {detail})"
            )
            self.state.set_disabled(name, reason)
            self.audit.record("disable", name, reason=reason)

    # -- introspection -----------------------------------------------------------------------
    def stats(self, name: str) -> dict[str, Any]:
        """Counters and latency for one plugin."""
        data = self._stats[name].as_dict(self.host.dropped(name))
        with self._lock:
            loaded = self._loaded.get(name)
        data["loaded"] = loaded is not None
        data["enabled"] = self.is_enabled(name)
        data["rss_bytes"] = loaded.runner.rss_bytes() if loaded and loaded.runner else None
        return data

    def describe(self, name: str) -> dict[str, Any]:
        """Isolation mode, grants and enforcement for `plugins info`."""
        manifest = self.get_metadata(name)
        settings = self.settings.execution_for(name)
        with self._lock:
            loaded = self._loaded.get(name)
        sha256 = loaded.report.sha256 if loaded else None
        signer = loaded.report.signer_id if loaded else claimed_signer(manifest)
        if sha256 is None:
            try:
                _, sha256 = read_binary(manifest)
            except LoadError:
                sha256 = None
        granted, access = self._granted(manifest, sha256, signer) if sha256 else (frozenset(), None)
        grants = self.state.grants(name, sha256, signer) if sha256 else {}
        applied = [*access.read_paths, *access.write_paths] if access else []
        return {
            "isolation": settings.isolation,
            "inline": self.runs_inline(name),
            "timeout_s": settings.timeout,
            "rate_limit": {"per_second": settings.rate_limit, "burst": settings.rate_burst},
            "limits": {
                "memory_mb": settings.memory_mb,
                "max_processes": settings.max_processes,
                "max_open_files": settings.max_open_files,
            },
            "granted": [c.value for c in sorted_caps(granted)],
            "filesystem_paths": [p for g in grants.values() for p in g.write_paths],
            "filesystem_read_paths": [p for g in grants.values() for p in g.read_paths],
            "filesystem_refused": [r.as_dict() for r in access.refused] if access else [],
            "filesystem_sensitive": sensitive_folders_covered(applied),
            "missing": [c.value for c in sorted_caps(manifest.capabilities - granted)],
            "enabled": self.is_enabled(name),
            "disabled_reason": self.state.disabled_reason(name),
            "loaded": loaded is not None,
            "trust": loaded.report.trust if loaded else None,
            "enforced": loaded.runner.enforcement() if loaded and loaded.runner else None,
        }
