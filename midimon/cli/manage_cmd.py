"""``midimon plugins grant|revoke|enable|disable|stats``: the PluginManager's controls."""

from __future__ import annotations

import argparse
from pathlib import Path

from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_json_option,
    add_plugins_dir_option,
    make_manager,
    print_json,
)
from midimon.plugins.capabilities import from_name
from midimon.plugins.errors import LoadError, PluginNotFound


def register(sub: argparse._SubParsersAction) -> None:
    """Add the manager subcommands under ``plugins``."""
    p_grant = sub.add_parser(
        "grant",
        help="grant a capability to a plugin (saved; tied to its current binary)",
        description=(
            "Grant a capability the plugin's plugin.toml asks for. The grant is saved in the "
            "state dir, keyed by the plugin's name and its binary's SHA-256: a changed binary "
            "must be granted again."
        ),
    )
    p_grant.add_argument("name", help="plugin name")
    p_grant.add_argument(
        "capability",
        metavar="CAP",
        help="network, filesystem, audio, midi, subprocess or system_control",
    )
    p_grant.add_argument(
        "--path",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="with filesystem: a folder the plugin may write (repeatable)",
    )
    add_plugins_dir_option(p_grant)
    p_grant.set_defaults(handler=cmd_grant)

    p_revoke = sub.add_parser("revoke", help="revoke a capability", description="Revoke a grant.")
    p_revoke.add_argument("name", help="plugin name")
    p_revoke.add_argument("capability", metavar="CAP", help="the capability to revoke")
    add_plugins_dir_option(p_revoke)
    p_revoke.set_defaults(handler=cmd_revoke)

    for verb, helptext in (
        ("enable", "allow a plugin to run again"),
        ("disable", "stop a plugin from running (saved)"),
    ):
        parser = sub.add_parser(verb, help=helptext, description=helptext.capitalize() + ".")
        parser.add_argument("name", help="plugin name")
        add_plugins_dir_option(parser)
        parser.set_defaults(handler=cmd_enable if verb == "enable" else cmd_disable)

    p_stats = sub.add_parser(
        "stats",
        help="execution counters and latency",
        description="Counters and latency of a plugin in this process. A one-off command has "
        "run nothing; the daemon's figures come over IPC.",
    )
    p_stats.add_argument("name", help="plugin name")
    add_plugins_dir_option(p_stats)
    add_json_option(p_stats)
    p_stats.set_defaults(handler=cmd_stats)


def _capability(text: str):
    try:
        return from_name(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_grant(args: argparse.Namespace) -> int:
    """``plugins grant NAME CAP``."""
    manager = make_manager(args)
    capability = _capability(args.capability)
    try:
        manager.grant(args.name, capability, args.path)
    except (PluginNotFound, LoadError, ValueError) as exc:
        raise CliError(str(exc)) from None
    info = capability.info
    paths = f" (write access: {', '.join(map(str, args.path))})" if args.path else ""
    print(f"granted {info.display_name} ({info.risk.value} risk) to {args.name}{paths}")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    """``plugins revoke NAME CAP``."""
    manager = make_manager(args)
    capability = _capability(args.capability)
    try:
        manager.get_metadata(args.name)
    except PluginNotFound as exc:
        raise CliError(str(exc)) from None
    if manager.revoke(args.name, capability):
        print(f"revoked {capability.value} from {args.name}")
        return EXIT_OK
    print(f"{args.name} had no {capability.value} grant")
    return EXIT_FAILED


def cmd_enable(args: argparse.Namespace) -> int:
    """``plugins enable NAME``."""
    try:
        make_manager(args).enable(args.name)
    except PluginNotFound as exc:
        raise CliError(str(exc)) from None
    print(f"enabled {args.name}")
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:
    """``plugins disable NAME``."""
    try:
        make_manager(args).disable(args.name)
    except PluginNotFound as exc:
        raise CliError(str(exc)) from None
    print(f"disabled {args.name}")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    """``plugins stats NAME``."""
    manager = make_manager(args)
    try:
        manager.get_metadata(args.name)
    except PluginNotFound as exc:
        raise CliError(str(exc)) from None
    stats = manager.stats(args.name)
    if args.json:
        print_json({"plugin": args.name, **stats})
        return EXIT_OK
    latency = stats["latency_ms"]
    print(
        f"{args.name}: {'enabled' if stats['enabled'] else 'disabled'}, "
        f"{'loaded' if stats['loaded'] else 'not loaded'}"
    )
    for key in (
        "executions",
        "successes",
        "failures",
        "timeouts",
        "crashes",
        "denials",
        "rate_limited",
    ):
        print(f"  {key:<13} {stats[key]}")
    print(
        f"  latency       mean {latency['mean']} ms, p50 {latency['p50']} ms, "
        f"p99 {latency['p99']} ms ({latency['samples']} samples)"
    )
    return EXIT_OK
