"""The trigger plugins a daemon runs: each verified, granted and started in its own sandboxed
worker, restarted with backoff after a crash, disabled after too many, stopped on request.

A trigger plugin is verified and granted exactly as an action plugin (``PluginManager``'s
integrity check and grants); a capability it declares and was not granted refuses the start
(audited ``deny``, with the grant command in the log), and what it tries beyond its grants
is stopped by the worker's sandbox (audited ``deny`` too). Its events reach ``on_event`` on
the worker's reader thread, already capped (``event_rate_limit`` per second, in [plugins] or
its override); drops are counted and audited at most once a second per plugin.

A worker reads a granted file by the inode its path named when it started (Landlock), so when
a granted device node is made again (a device plugged back in, or plugged in after the start)
the plugin is restarted in a new worker that can read it (granted_nodes.py): audited
``unload`` with the paths, then ``load``; not a crash. A plugin refused because its only
granted path was absent (a gamepad not plugged in) is started when the path appears.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.errors import PluginCallError, PluginError, WorkerCrashed, WorkerError
from midimon.plugins.loading.image import sealed_image_fd
from midimon.plugins.manager.calls import FIRST_BACKOFF, MAX_BACKOFF
from midimon.plugins.manager.granted_nodes import NodeId, identities, made_again
from midimon.plugins.manager.plugin_manager import PluginManager
from midimon.plugins.sandbox.runners import sandbox_spec, start_worker
from midimon.plugins.sandbox.trigger_worker import PluginEvent, TriggerCounters, TriggerWorker
from midimon.plugins.settings import settings_json

log = logging.getLogger("midimon.plugins")

DROP_AUDIT_INTERVAL = 1.0  # seconds between two "trigger_rate_limited" records of one plugin
WATCH_INTERVAL = 0.5  # seconds between two looks at the granted paths of the running workers


@dataclass
class _Slot:
    """One trigger plugin the daemon wants running."""

    name: str
    trigger: TriggerWorker | None = None
    wanted: bool = True
    timer: threading.Timer | None = None
    crashes: collections.deque[float] = field(default_factory=collections.deque)
    totals: TriggerCounters = field(default_factory=TriggerCounters)  # of past workers
    starts: int = 0
    last_error: str | None = None
    drops_unaudited: int = 0
    last_drop_audit: float = float("-inf")
    started_with: tuple[bytes, Any] = (b"", None)  # (settings JSON, execution settings)
    nodes: dict[Path, NodeId] = field(default_factory=dict)  # granted paths at worker start
    starting: bool = False  # _start() runs for it (on one thread at a time)


class TriggerPlugins:
    """Starts and supervises the trigger plugins; thread-safe."""

    def __init__(
        self,
        manager: PluginManager,
        on_event: Callable[[PluginEvent], None],
        clock: Callable[[], float] = time.monotonic,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.manager = manager
        self._on_event = on_event
        self._clock = clock
        self._lock = threading.RLock()
        self._slots: dict[str, _Slot] = {}
        self._watch_interval = watch_interval
        self._watch: threading.Thread | None = None

    def sync(self, names: Iterable[str]) -> None:
        """Run exactly the trigger plugins ``names`` (start new ones, stop the others, and
        restart those whose settings changed since they started)."""
        wanted = set(names)
        with self._lock:
            gone = [
                slot
                for name, slot in self._slots.items()
                if name not in wanted or (slot.trigger and slot.started_with != self._wish(name))
            ]
            for slot in gone:
                del self._slots[slot.name]
            fresh = [n for n in sorted(wanted) if n not in self._slots]
            for name in fresh:
                self._slots[name] = _Slot(name)
        for slot in gone:
            self._stop_slot(slot)
        for name in fresh:
            self._start(self._slots[name])

    def _wish(self, name: str) -> tuple[bytes, Any]:
        """What ``name`` would start with now: its settings JSON and execution settings."""
        settings = self.manager.settings
        return settings_json(settings.plugin_settings.get(name, {})), settings.execution_for(name)

    def stop_all(self) -> None:
        """Stop every trigger plugin (stop(), shutdown(), the worker exits)."""
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            self._stop_slot(slot)

    def running(self) -> list[str]:
        """Names of the trigger plugins whose worker serves events now."""
        with self._lock:
            return sorted(n for n, s in self._slots.items() if s.trigger and s.trigger.alive)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per plugin: running, starts, recent crashes, last error, event counters."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for name, slot in self._slots.items():
                counters = dict(slot.totals.as_dict())
                if slot.trigger is not None:
                    for key, value in slot.trigger.counters.as_dict().items():
                        counters[key] += value
                out[name] = {
                    "running": bool(slot.trigger and slot.trigger.alive),
                    "worker_pid": slot.trigger.worker.pid if slot.trigger else None,
                    "starts": slot.starts,
                    "crashes_recent": len(slot.crashes),
                    "last_error": slot.last_error,
                    **counters,
                }
        return out

    # -- starting and stopping -------------------------------------------------------------------
    def _start(self, slot: _Slot) -> None:
        """Start ``slot``'s worker, unless a start of it runs already (on another thread)."""
        with self._lock:
            if slot.starting:
                return
            slot.starting = True
        try:
            self._start_worker(slot)
        finally:
            with self._lock:
                slot.starting = False
        if slot.nodes:
            self._watch_nodes()

    def _start_worker(self, slot: _Slot) -> None:
        name = slot.name
        manager = self.manager
        slot.nodes = {}
        try:
            manifest = manager.get_metadata(name)
            if manifest.plugin_type != "trigger":
                self._refuse(slot, f"{name} is an {manifest.plugin_type} plugin, not a trigger")
                return
            if not manager.is_enabled(name):
                reason = manager.state.disabled_reason(name)
                self._refuse(slot, f"{name} is disabled ({reason}); enable it to use it")
                return
            loaded = manager._verify(manifest)  # audited: verify, load_failed
        except (PluginError, OSError) as exc:
            self._refuse(slot, str(exc))
            return
        # What the granted paths name before the worker makes its rules from them (a change in
        # between costs one needless restart, never a missed one); absent ones too.
        access = loaded.access
        slot.nodes = identities([*access.read_paths, *access.write_paths, *access.missing])
        refusal = manager.grants.refuse_ungranted(loaded, {})  # audited: deny
        if refusal is not None:
            self._refuse(slot, refusal)
            return
        settings = manager.settings.execution_for(name)
        spec = sandbox_spec(manifest, loaded.granted, loaded.access, settings)
        slot.starts += 1
        trigger: TriggerWorker | None = None
        try:
            fd = sealed_image_fd(loaded.data, name)
            try:
                worker, _info = start_worker(
                    manifest, fd, spec, manager.host, max(settings.timeout, 5)
                )
            finally:
                os.close(fd)
            status, message = worker.initialize(settings.timeout)
            if status != 0:
                worker.kill()
                worker.shutdown(0.1)
                raise PluginCallError(name, "initialize", status, message)
            trigger = TriggerWorker(
                worker,
                settings.event_rate_limit,
                self._on_event,
                lambda error: self._exited(slot, trigger, error),
                lambda count: self._dropped(slot, count),
            )
            with self._lock:
                if not slot.wanted:  # stopped while starting
                    trigger.stop()
                    return
                slot.trigger = trigger
            slot.started_with = self._wish(name)
            trigger.start(settings.timeout, slot.started_with[0])
        except (PluginError, ValueError) as exc:
            self._failed(slot, trigger, exc)
            return
        slot.last_error = None
        manager.audit.record(
            "load",
            name,
            mode="trigger",
            trust=loaded.report.trust,
            sha256=loaded.report.sha256,
            version=manifest.version,
            granted=[c.value for c in sorted_caps(loaded.granted)],
            enforced=worker.load_info.enforcement.describe() if worker.load_info else [],
            event_rate_limit=settings.event_rate_limit,
        )
        log.info("trigger plugin %s started", name)

    def _stop_slot(self, slot: _Slot) -> None:
        with self._lock:
            slot.wanted = False
            trigger, slot.trigger = slot.trigger, None
            if slot.timer is not None:
                slot.timer.cancel()
                slot.timer = None
        if trigger is not None:
            trigger.stop()
            self._fold(slot, trigger)
            self.manager.audit.record("unload", slot.name, mode="trigger")

    def _refuse(self, slot: _Slot, reason: str) -> None:
        """The plugin cannot start at all (not a trigger, disabled, unverified, not granted)."""
        slot.last_error = reason
        self.manager.audit.record("trigger_refused", slot.name, reason=reason)
        log.error("trigger plugin %s not started: %s", slot.name, reason)

    def _fold(self, slot: _Slot, trigger: TriggerWorker) -> None:
        for key, value in trigger.counters.as_dict().items():
            setattr(slot.totals, key, getattr(slot.totals, key) + value)

    # -- failures --------------------------------------------------------------------------------
    def _failed(self, slot: _Slot, trigger: TriggerWorker | None, error: Exception) -> None:
        """start() failed or the worker was lost: audit, back off, restart or disable."""
        name = slot.name
        manager = self.manager
        with self._lock:
            if trigger is not None:
                if slot.trigger is not trigger:
                    return  # already handled (the reader and start() both saw the loss)
                slot.trigger = None
                self._fold(slot, trigger)
            if not slot.wanted:
                return
        if trigger is not None:
            trigger.kill()
        denial = error.denial if isinstance(error, WorkerCrashed) else None
        if denial is not None:
            manager.audit.record(
                "deny",
                name,
                syscall=denial.syscall,
                capability=denial.capability.value if denial.capability else None,
                reason=denial.detail,
            )
        slot.last_error = str(error)
        manager.audit.record("crash", name, mode="trigger", detail=str(error))
        log.warning("trigger plugin %s failed: %s", name, error)
        settings = manager.settings.execution_for(name)
        now = self._clock()
        crashes = slot.crashes
        crashes.append(now)
        while crashes and crashes[0] < now - settings.crash_window:
            crashes.popleft()
        if len(crashes) > settings.max_crashes:
            reason = (
                f"{len(crashes)} crashes or failed starts within {settings.crash_window:g} s "
                f"(last: {error})"
            )
            manager.state.set_disabled(name, reason)
            manager.audit.record("disable", name, reason=reason)
            log.error("trigger plugin %s disabled: %s", name, reason)
            return
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (len(crashes) - 1))
        timer = threading.Timer(delay, self._restart, (slot,))
        timer.daemon = True
        with self._lock:  # _stop_slot cancels it; a timer that fires anyway finds wanted False
            slot.timer = timer
        timer.start()

    # -- granted paths made again ----------------------------------------------------------------
    def _watch_nodes(self) -> None:
        """Start the thread that looks at the running workers' granted paths (one for all)."""
        with self._lock:
            if self._watch is None or not self._watch.is_alive():
                self._watch = threading.Thread(
                    target=self._watch_loop, name="midimon-trigger-nodes", daemon=True
                )
                self._watch.start()

    def _watch_loop(self) -> None:
        while True:
            time.sleep(self._watch_interval)
            with self._lock:
                # not while starting or backing off after a crash (the timer starts it)
                watched = [
                    s
                    for s in self._slots.values()
                    if s.nodes and not s.starting and s.timer is None and s.wanted
                ]
                if not self._slots:
                    self._watch = None
                    return
            for slot in watched:
                paths = made_again(slot.nodes)
                if paths:
                    try:
                        self._renew(slot, paths)
                    except Exception:  # never end the watch for all plugins
                        log.exception("trigger plugin %s: restart failed", slot.name)

    def _renew(self, slot: _Slot, paths: list[Path]) -> None:
        """Restart ``slot``'s worker so its sandbox reads ``paths`` as they are now (or start
        it, when it was refused or disabled: the start says whether it may run now)."""
        with self._lock:
            if not slot.wanted or slot.starting or self._slots.get(slot.name) is not slot:
                return
            trigger, slot.trigger = slot.trigger, None
        shown = [str(p) for p in paths]
        if trigger is not None:
            trigger.stop()
            self._fold(slot, trigger)
            self.manager.audit.record("unload", slot.name, mode="trigger", made_again=shown)
        log.info("trigger plugin %s: %s made again; (re)starting it", slot.name, ", ".join(shown))
        self._start(slot)

    def _restart(self, slot: _Slot) -> None:
        with self._lock:
            slot.timer = None
            if not slot.wanted or self._slots.get(slot.name) is not slot:
                return
        self._start(slot)

    def _exited(
        self, slot: _Slot, trigger: TriggerWorker | None, error: WorkerError | None
    ) -> None:
        """The reader of ``trigger`` ended: after stop() (``error`` None) or a loss."""
        if error is None or trigger is None:
            return
        with self._lock:
            current = slot.trigger is trigger
        if current:
            # off the reader thread: a restart must not run on the thread of the dead worker
            threading.Thread(target=self._failed, args=(slot, trigger, error), daemon=True).start()

    def _dropped(self, slot: _Slot, count: int) -> None:
        """Events dropped at the cap: audited at most once a second per plugin."""
        now = self._clock()
        with self._lock:
            slot.drops_unaudited += count
            if now - slot.last_drop_audit < DROP_AUDIT_INTERVAL:
                return
            dropped, slot.drops_unaudited = slot.drops_unaudited, 0
            slot.last_drop_audit = now
        limit = self.manager.settings.execution_for(slot.name).event_rate_limit
        self.manager.audit.record("trigger_rate_limited", slot.name, dropped=dropped, limit=limit)
        log.warning(
            "trigger plugin %s: %d event(s) dropped past its cap of %d/s", slot.name, dropped, limit
        )
