"""Which mapping and trigger made a Plugin call, in words, for the grant requests.

The daemon notes the action and trigger a thread is carrying out (:class:`CallOrigin`, one
attribute store per action); when the PluginManager refuses the call for a missing grant, the
grant request names the mapping as the config does (``modes[0] "Default" mappings[2]``) and
the trigger as a person would read it.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from midimon.engine.config import Config
from midimon.engine.triggers import FiredTrigger

_DEFAULTS = {"channel": None, "velocity_min": 1, "velocity_max": 127, "value_min": 0,
             "value_max": 127, "direction": "any", "encoding": "twos_complement",
             "source": "any", "pressure_min": 0, "pressure_max": 127}  # fmt: skip


def mapping_locations(config: Config) -> dict[int, str]:
    """id(top-level action) -> the location of its mapping (the Mapper hands these very
    objects to the action threads)."""
    names: dict[int, str] = {}
    for mode in config.modes:
        for mapping in mode.mappings:
            names[id(mapping.action)] = mapping.location
    for mapping in config.global_mappings:
        names[id(mapping.action)] = mapping.location
    return names


def describe_trigger(fired: FiredTrigger) -> str:
    """``Note note=36 on channel 1, velocity 100`` (the spec's fields that differ from their
    defaults, then what was played)."""
    spec: Any = fired.trigger
    fields = []
    if dataclasses.is_dataclass(spec):
        for f in dataclasses.fields(spec):
            value = getattr(spec, f.name)
            if f.name in _DEFAULTS and value == _DEFAULTS[f.name]:
                continue
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            fields.append(f"{f.name}={value}")
    kind = getattr(spec, "TYPE", type(spec).__name__)
    played = f"on channel {fired.channel + 1}"
    if fired.velocity:
        played += f", velocity {fired.velocity}"
    if fired.value:
        played += f", value {fired.value}"
    return " ".join([kind, *fields]) + " " + played


class CallOrigin(threading.local):
    """The action and trigger the current thread is carrying out (None outside actions).

    The compiled dispatch builds no FiredTrigger for an inline call: it leaves the trigger's
    parts, (spec, channel, number, velocity, value, timestamp), which :meth:`trigger` turns
    into one when a request needs the words."""

    action: Any = None
    fired: FiredTrigger | tuple[Any, int, int, int, int, int] | None = None

    def mapping(self, locations: dict[int, str]) -> str:
        """The current action's mapping location ("" when unknown: a control command's
        call, or an action of a config replaced meanwhile)."""
        return locations.get(id(self.action), "") if self.action is not None else ""

    def trigger(self) -> str:
        """The current trigger in words ("" outside an action)."""
        fired = self.fired
        if fired is None:
            return ""
        if isinstance(fired, FiredTrigger):
            return describe_trigger(fired)
        spec, channel, number, velocity, value, stamp = fired  # the compiled path's parts
        return describe_trigger(FiredTrigger(spec, channel, number, velocity, value, stamp, stamp))
