"""The PluginManager: discovery, lifecycle, grants, limits, isolation, stats and audit
(execute() and its steps: calls.py; pipelined calls: started_calls.py).

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
from typing import Any

from midimon.paths import plugin_search_path, state_dir
from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.description.discovery import DiscoveredPlugin, DiscoveryResult, discover
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import (
    InProcessRefused,
    IntegrityError,
    LoadError,
    PluginCallError,
    PluginDisabled,
    PluginNotFound,
    WorkerError,
)
from midimon.plugins.hazmat import InProcessRunner  # built only after the trust check
from midimon.plugins.integrity.pins import claimed_signer
from midimon.plugins.integrity.verify import IntegrityChecker
from midimon.plugins.loading.loader import HostServices, LoggingHost, read_binary
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.calls import CallPath
from midimon.plugins.manager.grant_admin import GrantAdmin
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.manager.host_limits import LimitedHost, ServiceLimit
from midimon.plugins.manager.ratelimit import TokenBucket
from midimon.plugins.manager.results import LoadedPlugin
from midimon.plugins.manager.started_calls import StartedCalls
from midimon.plugins.manager.stats import PluginStats
from midimon.plugins.sandbox.runners import IsolatedRunner, Runner, sandbox_spec
from midimon.plugins.settings import PluginSettings


def _nothing() -> None:
    """``PluginManager.changed`` until someone listens."""


class PluginManager(CallPath, StartedCalls):
    """Owns every plugin of one daemon or CLI command (thread-safe); grants: ``grants``;
    execute() and its steps: CallPath; start_call / finish_call (pipelined isolated calls):
    StartedCalls."""

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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``clock``/``sleep`` pace the crash backoff and window (a test moves time by hand)."""
        self.settings = settings or PluginSettings()
        self.extra_dirs = tuple(Path(p) for p in extra_dirs)  # --plugins-dir: for hints
        self.one_off_hints = False  # plugins exec: denial hints give its --grant options too
        self.search_dirs = plugin_search_path([*self.extra_dirs, *self.settings.dirs])
        # Every plugin's log and send_midi pass the per-plugin caps, isolated or in-process.
        self.host = LimitedHost(host or LoggingHost(), self._service_limit, on_report=self._dropped)
        self.checker = checker or IntegrityChecker.for_user()
        self.state = state or PluginStateStore(state_dir() / "plugin_state.json")
        self.audit = audit or AuditLog(state_dir() / "audit.jsonl")
        # Called whenever a plugin is loaded, unloaded, restarted, disabled or enabled, or its
        # grants change (the daemon's native dispatch rebuilds what it calls directly).
        self.changed: Callable[[], None] = _nothing
        self.state.on_change = self.note_change
        self.grants = GrantAdmin(self, session_grants)  # after the state, audit and checker
        # manager.grant(name, capability, write_paths, read_paths=...) and manager.revoke(name,
        # capability), as the CLI and the daemon call them: GrantAdmin's own methods.
        self.grant = self.grants.grant
        self.revoke = self.grants.revoke
        self._clock = clock
        self._sleep = sleep
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
        self._drop_audit: dict[str, tuple[float, int]] = {}

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

    def loaded_plugin(self, name: str) -> LoadedPlugin | None:
        """The loaded plugin ``name`` (its manifest, report, grants and runner), or None."""
        with self._lock:
            return self._loaded.get(name)

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

    def note_change(self) -> None:
        """Tell ``changed`` that what a call may reach has changed (see __init__)."""
        self.changed()

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
            self.note_change()
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
        grants = self.grants.granted_to(manifest, report.sha256, report.signer_id, audit=True)
        return LoadedPlugin(manifest, report, data, *grants, runner=None)

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
                    manifest,
                    loaded.data,
                    spec,
                    self.host,
                    start_timeout=max(settings.timeout, 5),
                    queue_size=settings.queue_size,
                )
            runner.initialize(settings.timeout)
        except (LoadError, PluginCallError, WorkerError) as exc:
            self.audit.record("load_failed", name, reason=str(exc))
            raise LoadError(manifest.path, f"{name} failed to start: {exc}") from None
        loaded.runner = runner
        loaded.needs_restart = False
        self.note_change()
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
        self.note_change()
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

    # -- introspection -----------------------------------------------------------------------
    def stats(self, name: str) -> dict[str, Any]:
        """Counters and latency for one plugin."""
        data = self._stats[name].as_dict(self.host.dropped(name))
        runner = loaded.runner if (loaded := self.loaded_plugin(name)) else None
        data.update(loaded=loaded is not None, enabled=self.is_enabled(name))
        data["rss_bytes"] = runner.rss_bytes() if runner else None
        data["worker_pid"] = getattr(runner, "worker_pid", None)  # None in-process
        data["crashes_recent"] = len(self._crashes.get(name, ()))  # towards the auto-disable
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
        return {
            "isolation": settings.isolation,
            "inline": self.runs_inline(name),
            "timeout_s": settings.timeout,
            "rate_limit": {"per_second": settings.rate_limit, "burst": settings.rate_burst},
            "event_rate_limit": settings.event_rate_limit,  # trigger plugins: events per second
            "limits": {
                "memory_mb": settings.memory_mb,
                "max_processes": settings.max_processes,
                "max_open_files": settings.max_open_files,
            },
            **self.grants.summary(manifest, sha256, signer),  # granted ... missing
            "enabled": self.is_enabled(name),
            "disabled_reason": self.state.disabled_reason(name),
            "loaded": loaded is not None,
            "trust": loaded.report.trust if loaded else None,
            "enforced": loaded.runner.enforcement() if loaded and loaded.runner else None,
        }

