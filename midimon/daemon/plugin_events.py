"""The daemon's side of trigger plugins: their events' own queue and thread into the dispatcher.

Each trigger plugin's worker reader hands events to :meth:`PluginEvents.offer`, which only
puts them on a bounded queue (full: dropped and counted), so a flooding plugin never holds up
its reader, another plugin's, or the MIDI input. One thread, ``midimon-plugin-events``, takes
events off the queue and, under the engine lock like a MIDI event, matches them against the
config's Plugin triggers and dispatches what fires exactly as a fired MIDI trigger (same
actions, same action threads and plugin pipelines). `midimon monitor` sees each event as a
``plugin_event``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import TYPE_CHECKING, Any

from midimon.engine.plugin_triggers import PluginTriggerMatcher
from midimon.plugins.manager.trigger_plugins import TriggerPlugins
from midimon.plugins.sandbox.trigger_worker import PluginEvent

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon

log = logging.getLogger(__name__)

QUEUE_SIZE = 4096  # plugin events waiting for the dispatcher; more are dropped and counted


class PluginEvents:
    """Trigger plugins of one daemon, their queue and their dispatcher thread."""

    def __init__(self, daemon: Daemon, queue_size: int = QUEUE_SIZE) -> None:
        self._daemon = daemon
        self._queue: queue.Queue[PluginEvent | None] = queue.Queue(queue_size)
        self.plugins = TriggerPlugins(daemon.manager, self.offer)
        self.matcher = PluginTriggerMatcher(())
        self.received = 0
        self.dropped = 0
        self.dispatched = 0
        self._thread: threading.Thread | None = None

    def use(self, matcher: PluginTriggerMatcher) -> None:
        """The config's Plugin triggers (swapped under the engine lock with the rest)."""
        self.matcher = matcher

    def start(self) -> None:
        """Start the dispatcher thread and the trigger plugins the config uses."""
        self._thread = threading.Thread(
            target=self._loop, name="midimon-plugin-events", daemon=True
        )
        self._thread.start()
        self.sync()

    def sync(self) -> None:
        """Run the trigger plugins the current config uses (after a reload; nothing before
        :meth:`start`: a daemon that was never started runs no trigger plugin)."""
        if self._thread is not None:
            self.plugins.sync(self.matcher.plugins)

    def stop(self) -> None:
        """Stop the trigger plugins, then the dispatcher thread."""
        self.plugins.stop_all()
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=1.0)
            self._thread.join(5)

    def offer(self, event: PluginEvent) -> None:
        """Queue one event (a worker's reader thread calls this); never blocks."""
        self.received += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def status(self) -> dict[str, Any]:
        """What STATUS shows: the queue's counters and each trigger plugin's."""
        return {
            "received": self.received,
            "dropped": self.dropped,
            "dispatched": self.dispatched,
            "plugins": self.plugins.stats(),
        }

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self.dispatch(event)
            except Exception:
                log.exception("plugin event %s %s: dispatch failed", event.plugin, event.name)

    def dispatch(self, event: PluginEvent) -> None:
        """Show one event to `monitor`, match it and dispatch what fires (on the caller's
        thread: the dispatcher thread's job, and a test's)."""
        daemon = self._daemon
        events = daemon.registry.events
        if events.wants("plugin_event"):
            events.publish(
                {
                    "type": "plugin_event",
                    "plugin": event.plugin,
                    "event": event.name,
                    "value": event.value,
                    "number": event.number,
                    "velocity": event.velocity,
                    "channel": event.channel,
                }
            )
        with daemon._engine_lock:
            if daemon._stopping:
                return
            for fired in self.matcher.match(event):
                self.dispatched += 1
                daemon._dispatch(fired)
