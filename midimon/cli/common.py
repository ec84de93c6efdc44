"""Helpers shared by the CLI commands: exit codes, output, plugin lookup."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midimon.errors import MidimonError
from midimon.plugins.settings import PluginSettings, load_plugin_settings

if TYPE_CHECKING:  # imported where used: `midimon verify` should not pay for the manager
    from midimon.plugins.description.capabilities import Capability
    from midimon.plugins.description.discovery import DiscoveredPlugin, DiscoveryResult
    from midimon.plugins.loading.loader import HostServices
    from midimon.plugins.manager.grants import Grant
    from midimon.plugins.manager.plugin_manager import PluginManager

EXIT_OK = 0
EXIT_FAILED = 1  # the plugin reported failure / verification failed
EXIT_USAGE = 2  # usage, I/O or load errors


class CliError(MidimonError):
    """An error to print as ``midimon: error: ...`` and exit with ``exit_code`` (the CLI's own
    errors; every other MidimonError reaching ``main`` is printed the same way)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @property
    def exit_status(self) -> int:
        """``exit_code``, under the name every MidimonError has."""
        return self.exit_code


def add_plugins_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--plugins-dir DIR`` (repeatable): extra folders searched before the default path."""
    parser.add_argument(
        "--plugins-dir",
        action="append",
        default=[],
        metavar="DIR",
        type=Path,
        help="also search DIR for plugin folders, before the default search path (repeatable)",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: one JSON object on stdout instead of text."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_capability(text: str) -> Capability:
    """The capability a command line names (``network``, ``filesystem``, ...); a CliError
    listing the names accepted otherwise."""
    from midimon.plugins.description.capabilities import from_name

    try:
        return from_name(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def run_discovery(args: argparse.Namespace) -> DiscoveryResult:
    """Discover plugins on the search path: --plugins-dir, config's plugins.dirs, defaults."""
    from midimon.paths import plugin_search_path
    from midimon.plugins.description.discovery import discover

    extra = [*args.plugins_dir, *plugin_settings(args).dirs]
    return discover(plugin_search_path(extra))


def find_plugin(args: argparse.Namespace, name: str) -> tuple[DiscoveredPlugin, DiscoveryResult]:
    """The discovered plugin called ``name``, or a CliError listing what was searched."""
    result = run_discovery(args)
    found = result.plugins.get(name)
    if found is None:
        searched = ", ".join(str(p) for p in result.searched)
        bad = [p for p in result.problems if p.path.parent.name == name]
        if bad:  # NAME/plugin.toml is there but invalid: that, not "not found", is the news
            raise CliError(
                f"plugin {name!r} has an invalid manifest: {bad[0].message}\n"
                f"  fix: correct that field of {bad[0].path}, then try again"
            )
        known = ", ".join(sorted(result.plugins)) or "none"
        raise CliError(f"no plugin named {name!r} (searched: {searched}; found: {known})")
    return found, result


def add_allow_unsigned_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-unsigned``: accept unsigned plugins this once (never modified ones)."""
    parser.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="accept a plugin without a signature (a tampered or badly signed one is refused)",
    )


def plugin_settings(args: argparse.Namespace) -> PluginSettings:
    """The user's [plugins] settings with this command line's overrides applied."""
    settings = load_plugin_settings()  # a SettingsError is printed by main
    if getattr(args, "allow_unsigned", False):
        settings = settings.with_policy(require_signatures=False)
    return settings


def make_manager(
    args: argparse.Namespace,
    host: HostServices | None = None,
    session_grants: dict[str, list[Grant]] | None = None,
) -> PluginManager:
    """A PluginManager for this command: the user's settings, --plugins-dir, --allow-unsigned."""
    from midimon.plugins.manager.plugin_manager import PluginManager

    settings = plugin_settings(args)
    if getattr(args, "in_process", False):
        settings = dataclasses.replace(
            settings, execution=dataclasses.replace(settings.execution, isolation="in-process")
        )
    return PluginManager(
        settings,
        extra_dirs=getattr(args, "plugins_dir", []),
        host=host,
        session_grants=session_grants,
    )
