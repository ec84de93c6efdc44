"""The running daemon: MIDI in -> triggers -> mappings -> actions, plus control and reload.

Threads: rtmidi's input thread only timestamps and enqueues (never blocks); one processing
thread decodes, runs the trigger state machine and the mapper (so they need no locks) and
ticks time-based triggers; a small pool carries out actions, so a slow action never delays
the next event. The control server answers the CLI. A reload builds the new mapper first and
swaps it in only when the whole config is valid: a broken config keeps the old one running.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon import __version__
from midimon.daemon.protocol import CommandRegistry
from midimon.engine.actions import ActionExecutor
from midimon.engine.config import Config, ConfigError, default_config_path, load_config
from midimon.engine.events import decode
from midimon.engine.mapping import Mapper
from midimon.engine.triggers import EventProcessor, FiredTrigger
from midimon.paths import config_dir
from midimon.plugins.abi import constant
from midimon.plugins.grants import Grant
from midimon.plugins.loader import HostServices, LoggingHost
from midimon.plugins.manager import PluginManager
from midimon.plugins.settings import CONFIG_NAME

log = logging.getLogger(__name__)

QUEUE_SIZE = 65536  # MIDI messages waiting for the processing thread
ACTION_THREADS = 4


@dataclass
class Counters:
    """What the daemon has done since it started."""

    midi_in: int = 0
    dropped: int = 0  # the queue was full (the input callback never waits)
    triggers: int = 0
    actions_ok: int = 0
    actions_failed: int = 0
    reloads: int = 0
    reload_failures: int = 0
    last_reload_ms: float | None = None
    started: float = field(default_factory=time.time)


def user_or_default_config() -> Path:
    """The user's config.toml when it exists, else the config bundled with midimon."""
    user = config_dir() / CONFIG_NAME
    return user if user.is_file() else default_config_path()


class _DaemonHost(LoggingHost):
    """Host services for plugins in the daemon: their MIDI goes to the daemon's output port."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def send_midi(self, plugin: str, data: bytes) -> int:
        """Send through the daemon's MIDI output; UNSUPPORTED when none is open."""
        try:
            self._daemon._send_midi(None, data)
        except Exception as exc:
            log.warning("%s: send_midi failed: %s", plugin, exc)
            return constant("MIDIMON_ERR_UNSUPPORTED")
        self._daemon.publish({"type": "plugin_midi", "plugin": plugin, "bytes": data.hex(" ")})
        return constant("MIDIMON_OK")


class Daemon:
    """One midimon daemon. ``start()``, then ``feed()`` MIDI (or let the port do it), ``stop()``."""

    def __init__(
        self,
        config_path: Path | None = None,
        *,
        host: HostServices | None = None,
        session_grants: dict[str, list[Grant]] | None = None,
        send_midi: Any = None,
    ) -> None:
        self.config_path = Path(config_path) if config_path else user_or_default_config()
        self.config: Config = load_config(self.config_path)
        self.registry = CommandRegistry(daemon_version=__version__)
        self.counters = Counters()
        self.manager = PluginManager(
            self.config.plugins, host=host or _DaemonHost(self), session_grants=session_grants
        )
        self._send_midi_hook = send_midi
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue(QUEUE_SIZE)
        self._actions = ThreadPoolExecutor(ACTION_THREADS, thread_name_prefix="midimon-action")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._install(self.config)

    # -- configuration -------------------------------------------------------------------------
    def _install(self, config: Config, mode: str | None = None) -> None:
        mapper = Mapper(config, mode if mode in config.mode_names else None)
        self.processor = EventProcessor(mapper.triggers)
        self.mapper = mapper
        self.executor = ActionExecutor(mapper, self.manager, self._send_midi)
        self.config = config

    def reload(self, path: Path | None = None) -> dict[str, Any]:
        """Load the config again (or another file); on any error keep the running one.

        Returns {"ok": bool, "errors": [...], "warnings": [...], "ms": float}. The swap happens
        on the processing thread's next turn, so no event sees half a config.
        """
        started = time.perf_counter()
        target = Path(path) if path else self.config_path
        try:
            config = load_config(target)
        except (ConfigError, OSError) as exc:
            self.counters.reload_failures += 1
            errors = [str(e) for e in getattr(exc, "errors", [exc])]
            self.publish({"type": "reload", "ok": False, "errors": errors})
            log.error("config reload failed, keeping the running config:\n%s", "\n".join(errors))
            return {"ok": False, "errors": errors, "warnings": [], "ms": None}
        done = threading.Event()
        self._pending = (config, target, done)
        self._queue.put(None)  # wake the processing thread
        done.wait(5)
        self.manager.settings = config.plugins
        elapsed = (time.perf_counter() - started) * 1000
        self.counters.reloads += 1
        self.counters.last_reload_ms = round(elapsed, 3)
        self.publish({"type": "reload", "ok": True, "ms": round(elapsed, 3)})
        log.info("config reloaded from %s in %.1f ms", target, elapsed)
        return {
            "ok": True,
            "errors": [],
            "warnings": list(config.warnings),
            "ms": round(elapsed, 3),
        }

    _pending: tuple[Config, Path, threading.Event] | None = None

    # -- MIDI -------------------------------------------------------------------------------------
    def feed(self, data: bytes, timestamp_ns: int | None = None) -> None:
        """Hand one raw MIDI message to the daemon. Never blocks (drops when the queue is full)."""
        try:
            self._queue.put_nowait((data, timestamp_ns or time.monotonic_ns()))
        except queue.Full:
            self.counters.dropped += 1

    def _send_midi(self, port: str | None, data: bytes) -> None:
        if self._send_midi_hook is None:
            raise RuntimeError("no MIDI output is open")
        self._send_midi_hook(port, data)

    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to every `midimon monitor` (never blocks)."""
        self.registry.events.publish(event)

    # -- processing thread ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the processing thread."""
        self._thread = threading.Thread(target=self._loop, name="midimon-events", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            deadline = self.processor.next_deadline_ns()
            timeout = 0.5 if deadline is None else max(0.0, (deadline - time.monotonic_ns()) / 1e9)
            try:
                item = self._queue.get(timeout=min(timeout, 0.5))
            except queue.Empty:
                item = None
            pending = self._pending
            if pending is not None:
                config, target, done = pending
                self._pending = None
                self._install(config, self.mapper.mode)
                self.config_path = target
                done.set()
            fired: list[FiredTrigger] = []
            if item is not None:
                data, stamp = item
                self.counters.midi_in += 1
                event = decode(data, stamp)
                if event is not None:
                    self.publish(
                        {
                            "type": "midi",
                            "kind": event.kind,
                            "channel": event.channel,
                            "number": event.number,
                            "value": event.value,
                        }
                    )
                    fired = self.processor.process(event)
            fired += self.processor.tick()
            for trigger in fired:
                self._dispatch(trigger)

    def _dispatch(self, fired: FiredTrigger) -> None:
        self.counters.triggers += 1
        actions = self.mapper.match(fired)
        self.publish(
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
            self._actions.submit(self._run_action, action, fired)

    def _run_action(self, action: Any, fired: FiredTrigger) -> None:
        for outcome in self.executor.run(action, fired):
            if outcome.ok:
                self.counters.actions_ok += 1
            else:
                self.counters.actions_failed += 1
            self.publish(
                {
                    "type": "action",
                    "action": outcome.action,
                    "ok": outcome.ok,
                    "detail": outcome.detail,
                    "ms": outcome.elapsed_ms,
                }
            )

    # -- status / stop -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What STATUS reports."""
        counters = self.counters
        return {
            "version": __version__,
            "config": str(self.config_path),
            "mode": self.mapper.mode,
            "modes": list(self.mapper.mode_names),
            "uptime_s": round(time.time() - counters.started, 3),
            "midi_in": counters.midi_in,
            "dropped": counters.dropped,
            "triggers": counters.triggers,
            "actions_ok": counters.actions_ok,
            "actions_failed": counters.actions_failed,
            "reloads": counters.reloads,
            "reload_failures": counters.reload_failures,
            "last_reload_ms": counters.last_reload_ms,
            "plugins_loaded": self.manager.list_loaded(),
        }

    def stop(self) -> None:
        """Stop processing, finish running actions (briefly), and stop every plugin worker."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(5)
        self._actions.shutdown(wait=True, cancel_futures=True)
        self.manager.shutdown()
        self.registry.events.close_all()
