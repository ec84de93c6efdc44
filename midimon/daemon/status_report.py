"""The daemon's STATUS answer: its counters, config, mode, input, plugins and features."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from midimon import __version__
from midimon.daemon.app_focus import session_support
from midimon.engine.config import default_config_path

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon


def daemon_status(daemon: Daemon) -> dict[str, Any]:
    """What STATUS reports about ``daemon``."""
    counters = daemon.counters
    return {
        "version": __version__,
        "config": str(daemon.config_path),
        "config_is_default": daemon.config_path.resolve() == default_config_path(),
        "mode": daemon.mapper.mode,
        "modes": list(daemon.mapper.mode_names),
        "uptime_s": round(time.time() - counters.started, 3),
        "midi_in": counters.midi_in,
        "dropped": counters.dropped,
        "midi_input": daemon.input_counters() if daemon.input_counters is not None else None,
        "device": daemon.midi_device.status() if daemon.midi_device is not None else None,
        "triggers": counters.triggers,
        # which dispatch path runs, and how many plugin calls it made in C (native only)
        "dispatch": daemon.dispatch,
        "calls_in_c": daemon.native.calls_walked if daemon.native is not None else None,
        "dispatcher": dispatcher_status(daemon),
        "actions_ok": counters.actions_ok,
        "actions_failed": counters.actions_failed,
        "reloads": counters.reloads,
        "reload_failures": counters.reload_failures,
        "last_reload_ms": counters.last_reload_ms,
        "heap": daemon.heap.status(),  # the running config kept out of full collections
        "plugins_loaded": daemon.manager.list_loaded(),
        "plugin_events": daemon.plugin_events.status(),
        "feedback": daemon.feedback.status() if daemon.feedback is not None else None,
        "app_profiles": {
            **(daemon.focus_support or {**session_support(), "watching": False}),
            "focused": list(daemon.profiles.focused),
            "switches": daemon.profiles.switches,
            "last_switch_monotonic_ns": daemon._profile_switch_ns,
        },
    }


def dispatcher_status(daemon: Daemon) -> dict[str, Any] | None:
    """The JACK input's C dispatcher loop: its real-time priority asked for, whether it was
    granted (and the errno when not), whether it was last found inside a plugin call that does
    not return (``stuck_in_call``); None when no such loop runs."""
    native = daemon.native
    server = native._server if native is not None else None
    realtime = server.realtime if server is not None else None
    if native is None or realtime is None:  # no loop yet (its thread sets realtime first)
        return None
    return {**realtime, "stuck_in_call": native.walk_stuck}
