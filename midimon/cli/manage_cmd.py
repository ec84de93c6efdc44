"""``midimon plugins grant|revoke|enable|disable|stats|load|unload``: the PluginManager's controls.

With a running daemon (its socket answers) these act on the daemon's PluginManager over IPC;
without one (or with ``--local`` or ``--plugins-dir``) on a PluginManager in this process, whose
grants and enable/disable state are the same files the daemon reads. ``load``/``unload`` need a
daemon: a one-off process has nothing to keep loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from midimon.cli import daemon_link
from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_json_option,
    add_plugins_dir_option,
    make_manager,
    parse_capability,
    print_json,
)
from midimon.plugins.sandbox.grant_paths import sensitive_folders_covered


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        "--write",
        "--path",
        dest="write",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="with filesystem: a folder (or file) the plugin may read and write (repeatable; "
        "--path is the older name of --write)",
    )
    p_grant.add_argument(
        "--read",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="with filesystem: a folder (or file) the plugin may only read (repeatable). "
        "A filesystem grant needs --write or --read; / and folders holding midimon's own "
        "config, state or plugins are refused",
    )
    add_plugins_dir_option(p_grant)
    daemon_link.add_local_option(p_grant)
    p_grant.set_defaults(handler=cmd_grant)

    p_revoke = sub.add_parser("revoke", help="revoke a capability", description="Revoke a grant.")
    p_revoke.add_argument("name", help="plugin name")
    p_revoke.add_argument("capability", metavar="CAP", help="the capability to revoke")
    add_plugins_dir_option(p_revoke)
    daemon_link.add_local_option(p_revoke)
    p_revoke.set_defaults(handler=cmd_revoke)

    for verb, helptext in (
        ("enable", "allow a plugin to run again"),
        ("disable", "stop a plugin from running (saved)"),
    ):
        parser = sub.add_parser(verb, help=helptext, description=helptext.capitalize() + ".")
        parser.add_argument("name", help="plugin name")
        add_plugins_dir_option(parser)
        daemon_link.add_local_option(parser)
        parser.set_defaults(handler=cmd_enable if verb == "enable" else cmd_disable)

    p_stats = sub.add_parser(
        "stats",
        help="execution counters and latency",
        description="Counters and latency of a plugin: the running daemon's over IPC; without "
        "a daemon (or with --local) those of this process, which has run nothing.",
    )
    p_stats.add_argument("name", help="plugin name")
    add_plugins_dir_option(p_stats)
    daemon_link.add_local_option(p_stats)
    add_json_option(p_stats)
    p_stats.set_defaults(handler=cmd_stats)

    for verb, helptext in (
        ("load", "verify, start and initialize a plugin in the running daemon"),
        ("unload", "stop a plugin's worker in the running daemon"),
    ):
        parser = sub.add_parser(
            verb,
            help=helptext,
            description=helptext.capitalize() + " (needs a running daemon).",
        )
        parser.add_argument("name", help="plugin name")
        add_json_option(parser)
        parser.set_defaults(handler=cmd_load if verb == "load" else cmd_unload)


def cmd_grant(args: argparse.Namespace) -> int:
    """``plugins grant NAME CAP [--write PATH] [--read PATH]``."""
    capability = parse_capability(args.capability)
    if daemon_link.use_daemon(args):
        # the daemon's cwd differs: relative paths are made absolute here; the daemon resolves
        # them (symlinks, ..) and checks them, so its refusal names the path as typed
        writes = [str(Path.cwd() / p.expanduser()) for p in args.write]
        reads = [str(Path.cwd() / p.expanduser()) for p in args.read]
        daemon_link.request(
            "PLUGIN_GRANT",
            {
                "name": args.name,
                "capability": capability.value,
                "paths": writes,
                "read_paths": reads,
            },
        )
    else:
        manager = make_manager(args)
        try:
            manager.grant(args.name, capability, args.write, read_paths=args.read)
        except ValueError as exc:  # "does not ask for" is a plain ValueError; others reach main
            raise CliError(str(exc)) from None
    info = capability.info
    access = [f"read and write: {', '.join(map(str, args.write))}"] if args.write else []
    access += [f"read: {', '.join(map(str, args.read))}"] if args.read else []
    paths = f" ({'; '.join(access)})" if access else ""
    print(f"granted {info.display_name} ({info.risk.value} risk) to {args.name}{paths}")
    resolved = [p.expanduser().resolve() for p in (*args.write, *args.read)]
    for line in sensitive_folders_covered(resolved):
        print(f"warning: {line}")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    """``plugins revoke NAME CAP``."""
    capability = parse_capability(args.capability)
    if daemon_link.use_daemon(args):
        daemon_link.request("PLUGIN_INFO", {"name": args.name})  # an unknown plugin is an error
        data = daemon_link.request(
            "PLUGIN_REVOKE", {"name": args.name, "capability": capability.value}
        )
        removed = bool(data.get("revoked")) if isinstance(data, dict) else False
    else:
        manager = make_manager(args)
        manager.get_metadata(args.name)  # an unknown plugin: PluginNotFound, printed by main
        removed = manager.revoke(args.name, capability)
    if removed:
        print(f"revoked {capability.value} from {args.name}")
        return EXIT_OK
    print(f"{args.name} had no {capability.value} grant")
    return EXIT_FAILED


def _switch(args: argparse.Namespace, enable: bool) -> int:
    """Enable or disable a plugin, through the daemon when one runs."""
    verb = "enable" if enable else "disable"
    if daemon_link.use_daemon(args):
        daemon_link.request(f"PLUGIN_{verb.upper()}", {"name": args.name})
    else:
        manager = make_manager(args)
        if enable:
            manager.enable(args.name)
        else:
            manager.disable(args.name)
    print(f"{verb}d {args.name}")
    return EXIT_OK


def cmd_enable(args: argparse.Namespace) -> int:
    """``plugins enable NAME``."""
    return _switch(args, enable=True)


def cmd_disable(args: argparse.Namespace) -> int:
    """``plugins disable NAME``."""
    return _switch(args, enable=False)


def cmd_stats(args: argparse.Namespace) -> int:
    """``plugins stats NAME``."""
    if daemon_link.use_daemon(args):
        stats = daemon_link.request_typed("PLUGIN_STATS", dict, {"name": args.name})
    else:
        manager = make_manager(args)
        manager.get_metadata(args.name)  # an unknown plugin: PluginNotFound, printed by main
        stats = manager.stats(args.name)
    if args.json:
        print_json({"plugin": args.name, **stats})
        return EXIT_OK
    latency = stats["latency_ms"]
    print(
        f"{args.name}: {'enabled' if stats['enabled'] else 'disabled'}, "
        f"{'loaded' if stats['loaded'] else 'not loaded'}"
    )
    if stats.get("rss_bytes"):
        print(f"  {'rss':<17} {stats['rss_bytes'] / 1048576:.1f} MiB")
    for key in (
        "executions",
        "successes",
        "failures",
        "timeouts",
        "crashes",
        "denials",
        "rate_limited",
        "dropped",
        "not_run",
        "log_dropped",
        "send_midi_dropped",
    ):
        print(f"  {key:<17} {stats.get(key, 0)}")
    print(
        f"  {'latency':<17} mean {latency['mean']} ms, p50 {latency['p50']} ms, "
        f"p99 {latency['p99']} ms ({latency['samples']} samples)"
    )
    return EXIT_OK


def cmd_load(args: argparse.Namespace) -> int:
    """``plugins load NAME``: the daemon verifies, starts and initializes the plugin."""
    daemon_link.request("PLUGIN_LOAD", {"name": args.name}, timeout=30.0)
    if args.json:
        print_json({"plugin": args.name, "loaded": True})
    else:
        print(f"loaded {args.name} in the daemon")
    return EXIT_OK


def cmd_unload(args: argparse.Namespace) -> int:
    """``plugins unload NAME``: the daemon stops the plugin's worker."""
    daemon_link.request("PLUGIN_INFO", {"name": args.name})  # an unknown plugin is an error
    data = daemon_link.request("PLUGIN_UNLOAD", {"name": args.name})
    unloaded = bool(data.get("unloaded")) if isinstance(data, dict) else False
    if args.json:
        print_json({"plugin": args.name, "unloaded": unloaded})
    elif unloaded:
        print(f"unloaded {args.name} from the daemon")
    else:
        print(f"{args.name} was not loaded in the daemon")
    return EXIT_OK if unloaded else EXIT_FAILED
