"""Plugin events -> the Plugin triggers they fire (the trigger-plugin counterpart of the
EventProcessor, which never sees them).

A ``Plugin`` trigger names a plugin and an event (``{ type = "Plugin", plugin = "osc_in",
event = "/pad/1" }``), optionally a value range (``value_min``/``value_max``, inclusive) and a
channel (only events that carry that channel match; without one, any event matches: the usual
channel-free matching). Matching is stateless: one dict lookup by (plugin, event) per event.
"""

from __future__ import annotations

from collections.abc import Iterable

from midimon.engine.trigger_specs import PluginTrigger, TriggerSpec
from midimon.engine.triggers import FiredTrigger
from midimon.plugins.sandbox.trigger_worker import PluginEvent

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def context_value(value: float) -> int:
    """A plugin event's value as the trigger context's int32 ``value``: rounded, clamped."""
    return max(INT32_MIN, min(INT32_MAX, round(value)))


class PluginTriggerMatcher:
    """The Plugin triggers of one config, indexed by (plugin, event name)."""

    def __init__(self, triggers: Iterable[TriggerSpec]) -> None:
        self._routes: dict[tuple[str, str], list[PluginTrigger]] = {}
        for spec in dict.fromkeys(triggers):
            if isinstance(spec, PluginTrigger):
                self._routes.setdefault((spec.plugin, spec.event), []).append(spec)
        #: The trigger plugins this config uses: the daemon starts exactly these.
        self.plugins: frozenset[str] = frozenset(plugin for plugin, _ in self._routes)

    def match(self, event: PluginEvent) -> list[FiredTrigger]:
        """Every Plugin trigger this event fires, in config order."""
        specs = self._routes.get((event.plugin, event.name))
        if not specs:
            return []
        value = event.value
        fired: list[FiredTrigger] = []
        for spec in specs:
            if spec.value_min is not None and value < spec.value_min:
                continue
            if spec.value_max is not None and value > spec.value_max:
                continue
            if spec.channel is not None and event.channel != spec.channel:
                continue
            fired.append(
                FiredTrigger(
                    spec,
                    event.channel or 0,
                    event.number or 0,
                    event.velocity or 0,
                    context_value(value),
                    event.timestamp_ns,
                    event.timestamp_ns,
                    value,
                )
            )
        return fired
