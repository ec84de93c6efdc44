"""The running daemon: MIDI in -> triggers -> mappings -> actions, plus control and reload.

Threads: the MIDI input thread decodes each message, runs the trigger state machine and the
mapper, and hands the matched actions to a small pool, so a slow action never delays the next
event. On JACK that thread is the native input's dispatcher (``midimon.midi_jack``): JACK's
real-time thread only copies the bytes into a lock-free ring, so no Python and no wait for the
GIL happens inside the audio cycle. On ALSA it is rtmidi's own (not real-time) thread. A lock
serializes it with the timer thread, which fires long presses when no MIDI arrives. An
isolated plugin gets its call sent to its worker from the input thread
(``PluginManager.start_call``, pipelined behind its calls in flight) and the worker's reader
thread reports the answer, so the plugin starts without waiting for a thread hand-over; a
trusted in-process plugin configured ``inline`` runs on the input thread itself. The control
server answers the CLI. A reload builds the new mapper first and swaps it in only when the
whole config is valid: a broken config keeps the old one running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import MethodType
from typing import Any, NamedTuple

from midimon import __version__
from midimon.daemon import plugin_check, startup_report
from midimon.daemon.action_pool import ActionPool
from midimon.daemon.command_registry import CommandRegistry
from midimon.daemon.counters import Counters
from midimon.daemon.dispatch import Feed, dispatch_path, feed_compiled, preparer
from midimon.daemon.feedback_output import FeedbackSender
from midimon.daemon.grant_requests import GrantRequests
from midimon.daemon.heap import HeapKeeper
from midimon.daemon.host_services import DaemonHost, feeding_feedback
from midimon.daemon.native_dispatch import NativeDispatch
from midimon.daemon.native_feed import EngineLock, NativeFeed, native_dispatch
from midimon.daemon.plugin_events import PluginEvents
from midimon.daemon.request_origin import CallOrigin, mapping_locations
from midimon.daemon.stats_feed import StatsFeed
from midimon.daemon.status_report import daemon_status
from midimon.engine.action_specs import Action
from midimon.engine.actions import ActionExecutor, ActionOutcome
from midimon.engine.app_profiles import AppProfiles
from midimon.engine.config import (
    Config,
    ConfigError,
    PluginAction,
    default_config_path,
    load_config,
)
from midimon.engine.dispatch_table import NOTHING_COMPILED, DispatchTable, compile_table
from midimon.engine.events import decode
from midimon.engine.mapping import Mapper
from midimon.engine.mapping_parse import MappingReuse
from midimon.engine.plugin_triggers import PluginTriggerMatcher
from midimon.engine.triggers import EventProcessor, FiredTrigger
from midimon.paths import config_dir
from midimon.plugins import (
    Capability,
    Grant,
    HostServices,
    PluginManager,
    ReadinessChecker,
)
from midimon.plugins.settings import CONFIG_NAME

log = logging.getLogger(__name__)

QUEUE_SIZE = 65536  # actions waiting for an action thread; more are dropped and counted
ACTION_THREADS = 4
ENGINE_WAIT_S = 2.0  # a reload waits this long for the engine lock (held briefly, unless stuck)


def user_or_default_config() -> Path:
    """The user's config.toml when it exists, else the config bundled with midimon."""
    user = config_dir() / CONFIG_NAME
    return user if user.is_file() else default_config_path()


class Built(NamedTuple):
    """A config and everything the daemon runs it with, built before the swap."""

    config: Config
    mapper: Mapper
    processor: EventProcessor
    executor: ActionExecutor
    table: DispatchTable
    locations: dict[int, str]  # request_origin.mapping_locations
    matcher: PluginTriggerMatcher


class Daemon:
    """One midimon daemon. ``start()``, then ``feed()`` MIDI (or let the port do it), ``stop()``.

    ``feed`` is the native dispatch, the compiled one or the reference one, as
    ``MIDIMON_DISPATCH`` says when the daemon is made (see ``midimon.daemon.dispatch`` and
    ``midimon.daemon.native_dispatch``). ``clock`` is the trigger state
    machine's clock for long presses (tests inject one and call :meth:`tick`).
    """

    feed: Feed

    def __init__(
        self,
        config_path: Path | None = None,
        *,
        host: HostServices | None = None,
        session_grants: dict[str, list[Grant]] | None = None,
        send_midi: Any = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.dispatch = dispatch_path()
        compiled = self.dispatch != "reference"  # native: in front of the compiled path
        self.feed = MethodType(feed_compiled, self) if compiled else self.feed_reference
        self._clock = clock
        self.config_path = Path(config_path) if config_path else user_or_default_config()
        self.mapping_reuse = MappingReuse()  # a reload parses only the mappings that changed
        self.config: Config = load_config(self.config_path)  # its [plugins] make the manager
        self.registry = CommandRegistry(daemon_version=__version__)
        self.counters = Counters()
        # The MIDI input's own counters (its ring's drops), set by whoever opened the input.
        self.input_counters: Callable[[], dict[str, int] | None] | None = None
        self.midi_device: Any = None  # its MidiDevice: a reload switches the controller
        self.manager = PluginManager(
            self.config.plugins, host=host or DaemonHost(self), session_grants=session_grants
        )
        if plugin_check.plugin_uses(self.config):  # now the params too, as a reload checks
            self.config = self.load_checked(self.config_path)
        self.readiness = ReadinessChecker(self.manager)
        native = native_dispatch(self) if self.dispatch == "native" else None
        self.native: NativeDispatch | None = native  # its C table is built before a reload's swap
        if native is not None:
            self.feed = NativeFeed(self, native)
        elif self.dispatch == "native":  # not built here: the compiled path alone
            self.dispatch = "compiled"
        # Calls refused for a missing grant become requests the user can allow or deny.
        self.origin = CallOrigin()  # the action each thread carries out: the request's mapping
        self._mapping_locations: dict[int, str] = {}
        self.requests = GrantRequests(
            self.manager.state.path.with_name("grant_requests.json"), self.publish
        )
        self.manager.grants.on_not_granted = self._not_granted
        self.stats = StatsFeed(self)
        self._send_midi_hook = send_midi
        self._actions = ActionPool(ACTION_THREADS, self._run_action, "midimon-action")
        self._lanes: dict[str, ActionPool] = {}  # plugin name -> its own action thread
        self._lanes_lock = threading.Lock()
        # processor + mapper: MIDI thread vs timer thread (on the native path its release also
        # publishes the table the C walk uses)
        self._engine_lock: Any = EngineLock(native) if native is not None else threading.Lock()
        if native is not None:  # the walk stops at once when someone starts watching MIDI
            self.registry.events.on_change = native.invalidate
        self._wake_timer = threading.Event()  # a long press started: the timer has a deadline
        self._stop = threading.Event()
        self._stopping = False  # _stop is set: a plain attribute, read once per MIDI message
        self._thread: threading.Thread | None = None
        self.plugin_events = PluginEvents(self)  # trigger plugins: their own queue and thread
        # LED feedback: the input path only queues each message for the sender's thread.
        self.feedback: FeedbackSender | None = None
        if self.config.feedback.enabled:
            self.feedback = FeedbackSender(self.config.feedback)
            self.feed = feeding_feedback(self.feed, self.feedback.midi_in)
        self.profiles = AppProfiles()  # per-application modes (midimon.daemon.app_focus)
        self.focus_support: dict[str, Any] | None = None  # set when a focus watcher starts
        self._profile_switch_ns: int | None = None
        self._swap(self._build(self.config, None))
        self.heap = HeapKeeper()  # off until `midimon run` enables it (daemon/heap.py)

    # -- configuration -------------------------------------------------------------------------
    def _build(self, config: Config, mode: str | None) -> Built:
        mapper = Mapper(config, mode if mode in config.mode_names else None)
        mapper.on_change = self._mode_changed
        executor = ActionExecutor(mapper, self.manager, self.send_midi)
        processor = EventProcessor(mapper.trigger_set(), now_ns=self._clock)
        table = (  # the reference path never reads it: no need to compile
            compile_table(processor.routes, *mapper.tables, preparer(self, executor))
            if self.dispatch != "reference"
            else NOTHING_COMPILED
        )
        matcher = PluginTriggerMatcher(mapper.trigger_set())
        return Built(config, mapper, processor, executor, table, mapping_locations(config), matcher)

    def _swap(self, built: Built) -> None:
        """Put ``built`` in place: assignments only (under the engine lock, held briefly: every
        Python-path message waits for it)."""
        self._mapping_locations = built.locations
        self.processor = built.processor
        self.mapper = built.mapper
        self.executor = built.executor
        self._table = built.table  # the compiled path's view of the same config
        self.plugin_events.use(built.matcher)
        self.config = built.config

    def load_checked(self, path: Path) -> Config:
        """Load the config at ``path`` with every Plugin action's params checked against the
        ``[plugin.params]`` of the plugin discovered for it; raises InvalidConfig."""
        return load_config(path, self.manager.discover().params_schemas(), self.mapping_reuse)

    def _mode_changed(self, mode: str) -> None:
        """The mode changed (a ModeChange action, an application profile): tell the LEDs and
        `midimon monitor`. Runs on the thread that changed it; only queues."""
        if self.feedback is not None:
            self.feedback.mode_changed(mode)
        if self.native is not None:  # maybe not under the engine lock: stop the C walk's table
            self.native.invalidate()
        self.publish({"type": "mode", "mode": mode})

    def set_mode(self, mode: str) -> None:
        """Switch to ``mode`` (KeyError naming the modes when there is none)."""
        with self._engine_lock:
            self.mapper.set_mode(mode)

    def follow_app(self, names: tuple[str, ...]) -> None:
        """The focused application is now ``names`` (WM_CLASS, process name): switch to the
        mode whose ``apps`` name it, or back (see midimon.engine.app_profiles)."""
        with self._engine_lock:
            target = self.profiles.decide(self.config, self.mapper.mode, names)
            if target is not None:
                self.mapper.set_mode(target)
                self._profile_switch_ns = time.monotonic_ns()
        if target is not None:
            log.info("focus on %s: mode %s", "/".join(names) or "nothing", target)

    def reload(self, path: Path | None = None) -> dict[str, Any]:
        """Load the config again (or another file); on any error keep the running one.

        Returns {"ok": bool, "errors": [...], "warnings": [...], "ms": float}. The new mapper
        is built first and swapped in under the engine lock, so no event sees half a config.
        """
        started = time.perf_counter()
        target = Path(path) if path else self.config_path
        with self.heap.building():  # no collection meanwhile: it makes no cycle
            try:
                config = self.load_checked(target)
            except (ConfigError, OSError) as exc:
                return self._reload_refused([str(e) for e in getattr(exc, "errors", [exc])])
            built = self._build(config, self.mapper.mode)
            # The native dispatch's C table for the new config, built here rather than by the
            # first event after the swap (milliseconds for hundreds of mappings, on its way).
            native = self.native
            ready = native.prebuild(built.table, built.mapper.mode) if native is not None else None
        if not self._engine_lock.acquire(timeout=ENGINE_WAIT_S):  # held inside a stuck call
            return self._reload_refused([f"{target}: not reloaded: the MIDI input's thread has "
                                         f"held the engine for over {ENGINE_WAIT_S:g} s (a plugin "
                                         "call that does not return?)"])  # fmt: skip
        try:
            mode = self.mapper.mode  # a ModeChange may have run meanwhile
            if mode in config.mode_names and built.mapper.mode != mode:
                built.mapper.set_mode(mode)
            self._swap(built)
            self.config_path = target
            if native is not None and ready is not None:
                native.install(ready)  # unused (rebuilt lazily) if the mode or plugins changed
        finally:
            self._engine_lock.release()
        self.heap.settle()  # the old config was freed as it was replaced: it holds no cycle
        self.manager.settings = config.plugins
        if self.feedback is not None:
            self.feedback.reconfigure(config, self.mapper.mode)
        self.plugin_events.sync()
        device = self.midi_device.follow(config.device) if self.midi_device is not None else None
        problems = startup_report.check_plugins(self)
        elapsed = (time.perf_counter() - started) * 1000
        self.counters.reloads += 1
        self.counters.last_reload_ms = round(elapsed, 3)
        self.publish({"type": "reload", "ok": True, "ms": round(elapsed, 3)})
        log.info("config reloaded from %s in %.1f ms", target, elapsed)
        return {
            "ok": True,
            "errors": [],
            "warnings": [*config.warnings, *plugin_check.warnings(problems)]
            + ([device["warning"]] if device and device.get("warning") else []),
            "ms": round(elapsed, 3),
            "device": device,  # None: [device] unchanged, else the switched input's state
        }

    def _reload_refused(self, errors: list[str]) -> dict[str, Any]:
        self.counters.reload_failures += 1
        self.publish({"type": "reload", "ok": False, "errors": errors})
        log.error("config reload failed, keeping the running one:\n%s", "\n".join(errors))
        return {"ok": False, "errors": errors, "warnings": [], "ms": None}

    # -- MIDI -------------------------------------------------------------------------------------
    def feed_reference(self, data: bytes, timestamp_ns: int | None = None) -> None:
        """Handle one raw MIDI message (the input callback calls ``feed``) on the reference
        path. Never blocks on I/O: matched actions go to the action threads (dropped and
        counted when they are full), except those of ``inline`` plugins."""
        stamp = timestamp_ns or time.monotonic_ns()
        if self._stopping:
            return
        with self._engine_lock:
            self.counters.midi_in += 1
            self._process_reference(data, stamp)

    def _process_reference(self, data: bytes, stamp: int) -> None:
        """Decode, run the trigger state machine and dispatch (under the engine lock)."""
        event = decode(data, stamp)
        if event is None:
            return
        events = self.registry.events
        if events.wants("midi"):  # skip building what nobody watches
            events.publish(
                {
                    "type": "midi",
                    "kind": event.kind,
                    "channel": event.channel,
                    "number": event.number,
                    "value": event.value,
                }
            )
        for trigger in self.processor.process(event):
            self._dispatch(trigger)
        if self.processor.next_deadline_ns() is not None:
            self._wake_timer.set()

    def send_midi(self, port: str | None, data: bytes) -> None:
        """Send ``data`` through the daemon's MIDI output (RuntimeError when none is open)."""
        if self._send_midi_hook is None:
            raise RuntimeError("no MIDI output is open")
        self._send_midi_hook(port, data)

    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to every `midimon monitor` (never blocks)."""
        self.registry.events.publish(event)

    # -- timer thread --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the timer thread (long presses fire on time even when no MIDI arrives)."""
        startup_report.report_unsafe_grants(self.manager)
        self._thread = threading.Thread(target=self._tick_loop, name="midimon-timer", daemon=True)
        self._thread.start()
        self.requests.start()
        self.stats.start()
        startup_report.report_plugin_copies(self.manager)
        startup_report.check_plugins(self)
        self.plugin_events.start()
        if self.native is not None:  # the first event should not build the C table either
            ready = self.native.prebuild(self._table, self.mapper.mode)
            with self._engine_lock:
                self.native.install(ready)

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            deadline = self.processor.next_deadline_ns()
            timeout = 0.5 if deadline is None else max(0.0, (deadline - time.monotonic_ns()) / 1e9)
            self._wake_timer.wait(min(timeout, 0.5))
            self._wake_timer.clear()
            self.tick()
            self.heap.sweep_if_quiet(self.counters.midi_in + self.plugin_events.received)

    def tick(self, now_ns: int | None = None) -> None:
        """Fire the long presses due at ``now_ns`` (default: the clock); the timer thread
        calls this, a test with an injected clock may too."""
        with self._engine_lock:
            for trigger in self.processor.tick(now_ns):
                self._dispatch(trigger)

    def _dispatch(self, fired: FiredTrigger) -> None:
        self.counters.triggers += 1
        actions = self.mapper.match(fired)
        events = self.registry.events
        # A trigger that maps to nothing belongs to a mode that is not active: not an event.
        if actions and events.wants("trigger"):  # skip building what nobody watches
            events.publish(
                {
                    "type": "trigger",
                    "trigger": type(fired.trigger).__name__,
                    "number": fired.number,
                    "velocity": fired.velocity,
                    "value": fired.value,
                    "mode": self.mapper.mode,
                    "actions": len(actions),
                }
            )
        for action in actions:
            self._dispatch_action(action, fired)

    def _dispatch_action(self, action: Action, fired: FiredTrigger) -> None:
        """Run one matched action inline, or hand it to its worker's pipeline, its lane or the
        action threads."""
        plugin_action = action if type(action) is PluginAction else None
        if plugin_action is not None and self.manager.runs_inline(plugin_action.plugin):
            self._run_action(action, fired)  # in-process + inline: on this (MIDI) thread
            return
        pool = self._lane(plugin_action.plugin) if plugin_action is not None else self._actions
        if pool.pending >= QUEUE_SIZE:
            self._dropped(action)
            return
        if plugin_action is not None and pool.idle:
            # An isolated plugin gets the call now, pipelined behind the ones in flight, and
            # its worker's reader thread reports the answer: no thread hand-over before or
            # after the plugin runs. Only with nothing queued on the lane (restarts and
            # other slow cases go there), so calls keep their MIDI order.
            call = self.manager.start_call(
                plugin_action.plugin,
                self.executor.encoded_params(plugin_action),
                fired.to_context(self.mapper.mode),
                partial(self._run_action, action, fired),
            )
            if call is not None:
                return
        pool.submit(action, fired, None)

    def _dropped(self, action: Any) -> None:
        """Count a dropped action; warn at most once a second (a flood of drops must not
        also flood the log from the MIDI thread)."""
        self.counters.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= 1.0:
            self._last_drop_warning = now
            log.warning(
                "action queue full: dropped a %s action (%d dropped since start)",
                type(action).__name__,
                self.counters.dropped,
            )

    _last_drop_warning = float("-inf")

    def _lane(self, plugin: str) -> ActionPool:
        """The one thread that carries out a plugin's Plugin actions, in MIDI order (its queued
        calls follow each other on one thread instead of action threads taking turns on the
        plugin's lock, each turn a wake-up; what lanes gained: benchmarks/README.md). [any-thread]
        """
        lane = self._lanes.get(plugin)
        if lane is None:
            with self._lanes_lock:  # a reload's table build may ask on its own thread
                lane = self._lanes.get(plugin)
                if lane is None:
                    lane = ActionPool(1, self._run_action, f"midimon-{plugin}")
                    self._lanes[plugin] = lane
        return lane

    def _run_action(self, action: Any, fired: FiredTrigger | None, call: Any = None) -> None:
        origin = self.origin
        origin.action, origin.fired = action, fired  # for _not_granted, on this thread
        if call is not None:
            outcomes = self.executor.finish_started(action, call)
        else:
            assert fired is not None  # only a call the native dispatch sent comes without one
            outcomes = self.executor.run(action, fired)
        for outcome in outcomes:
            self._report(outcome)

    def _report(self, outcome: ActionOutcome) -> None:
        """Count one action's outcome and show it to `midimon monitor`."""
        if outcome.ok:
            self.counters.actions_ok += 1
        else:
            self.counters.actions_failed += 1
        events = self.registry.events
        if events.wants("action"):
            events.publish(
                {
                    "type": "action",
                    "action": outcome.action,
                    "ok": outcome.ok,
                    "detail": outcome.detail,
                    "ms": outcome.elapsed_ms,
                }
            )

    def _not_granted(self, name: str, missing: frozenset[Capability], sha256: str) -> None:
        """A call of ``name`` was refused for ``missing`` grants: one request each (O(1), no
        I/O: this runs on the thread that made the call, the MIDI thread for inline ones)."""
        mapping = self.origin.mapping(self._mapping_locations)
        for cap in missing:
            self.requests.record(
                name, cap.value, cap.risk.value, sha256, mapping, self.origin.trigger
            )

    # -- status / stop -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What STATUS reports (midimon.daemon.status_report)."""
        return daemon_status(self)

    def stop(self) -> None:
        """Stop processing, finish running actions (briefly), and stop every plugin worker."""
        self._stopping = True
        if self.native is not None:
            self._engine_lock.publish(timeout=1.0)  # no table now: the C walk stops too
        self._stop.set()
        self._wake_timer.set()
        if self._thread is not None:
            self._thread.join(5)
        self.plugin_events.stop()  # no more plugin events before the action threads end
        for pool in [self._actions, *self._lanes.values()]:
            for _, _, call in pool.shutdown():
                if call is not None:
                    self.manager.abandon_call(call)  # its answer will never be read
        self.manager.shutdown()
        if self.feedback is not None:
            self.feedback.stop()
        self.stats.stop()
        self.requests.stop()
        self.registry.events.close_all()
