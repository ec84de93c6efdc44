"""What the daemon says once at start-up (and after a reload) about its plugins: which will not
run and why, which copy runs when a name is found twice, which saved grants are not applied."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from midimon.daemon import plugin_check
from midimon.plugins import PluginManager, Readiness

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon

log = logging.getLogger(__name__)


def check_plugins(daemon: Daemon) -> list[Readiness]:
    """Judge every plugin the config calls (no plugin code runs) and say once, in one
    summary, which will not run and how to fix each; also to `midimon monitor`."""
    try:
        problems, total = plugin_check.check_config_plugins(daemon.readiness, daemon.config)
    except (OSError, ValueError) as exc:  # an unreadable state file: the calls say more
        log.warning("plugin check: could not complete: %s", exc)
        return []
    if problems:
        log.warning("%s", plugin_check.summary(problems, total))
        daemon.publish({"type": "plugin_check", "problems": [p.line() for p in problems]})
    elif total:
        log.info("plugin check: the %d plugin(s) this config calls are ready", total)
    return problems


def report_plugin_copies(manager: PluginManager) -> None:
    """Say at start-up which copy runs for each plugin name found in several folders."""
    for problem in manager.discover().problems:
        if problem.kind == "duplicate":
            log.warning("%s", problem.message)


def report_unsafe_grants(manager: PluginManager) -> None:
    """Say which saved Filesystem grants are not applied (made under older rules, or
    reaching midimon's own state) and how to grant safely instead."""
    try:
        unsafe = manager.grants.unsafe_stored_grants()
    except (OSError, ValueError) as exc:
        log.warning("could not check the saved filesystem grants: %s", exc)
        return
    for plugin, refused in unsafe:
        log.warning(
            "%s: filesystem grant %s is not applied: %s; revoke it (midimon plugins revoke "
            "%s filesystem) and grant a dedicated folder: midimon plugins grant %s "
            "filesystem --write ~/midimon-files",
            plugin, refused.path, refused.reason, plugin, plugin,
        )  # fmt: skip
