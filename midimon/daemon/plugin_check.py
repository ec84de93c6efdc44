"""The daemon's plugin check: every plugin the config's Plugin actions call, judged at start-up
and on reload (see plugins/manager/readiness.py), summed up once with the fix for each problem."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from midimon.engine.action_specs import (
    Action,
    ConditionalAction,
    PluginAction,
    RepeatAction,
    SequenceAction,
)
from midimon.engine.config import Config
from midimon.engine.trigger_specs import PluginTrigger
from midimon.plugins import Readiness, ReadinessChecker


def _plugin_actions(action: Action | None) -> Iterator[PluginAction]:
    """Every Plugin action inside ``action`` (sequences, repeats and conditions included)."""
    if action is None:
        return
    if isinstance(action, PluginAction):
        yield action
    elif isinstance(action, SequenceAction):
        for step in action.actions:
            yield from _plugin_actions(step)
    elif isinstance(action, RepeatAction):
        yield from _plugin_actions(action.action)
    elif isinstance(action, ConditionalAction):
        yield from _plugin_actions(action.then)
        yield from _plugin_actions(action.otherwise)


def plugin_uses(config: Config) -> dict[str, list[dict[str, Any]]]:
    """Plugin name -> the params of each action calling it, in config order (a trigger plugin
    a Plugin trigger uses is there too, with no params: it must be ready as well)."""
    uses: dict[str, list[dict[str, Any]]] = {}
    mappings = [m for mode in config.modes for m in mode.mappings]
    for mapping in [*mappings, *config.global_mappings]:
        if isinstance(mapping.trigger, PluginTrigger):
            uses.setdefault(mapping.trigger.plugin, [])
        for action in _plugin_actions(mapping.action):
            uses.setdefault(action.plugin, []).append(action.params)
    return uses


def check_config_plugins(checker: ReadinessChecker, config: Config) -> tuple[list[Readiness], int]:
    """(the problems of the plugins ``config`` calls, how many plugins it calls): each plugin
    judged once; no problems when every one will run."""
    uses = plugin_uses(config)
    return [r for r in checker.check_all(uses) if not r.ok], len(uses)


def summary(problems: list[Readiness], total: int) -> str:
    """One message: how many of the config's plugins will not run, then one line each with
    its fix."""
    head = (
        f"plugin check: {len(problems)} of the {total} plugin(s) this config calls will not "
        "run until fixed:"
    )
    return "\n".join([head, *(f"  {p.line()}" for p in problems)])


def warnings(problems: list[Readiness]) -> list[str]:
    """One warning per problem, for a reload's result."""
    return [f"plugin {p.line()}" for p in problems]
