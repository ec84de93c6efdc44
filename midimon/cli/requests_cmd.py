"""``midimon plugins requests|deny|undeny``: the grant requests of Plugin calls refused for a
missing grant, and the user's "no" to them.

The running daemon keeps the requests; ``plugins grant`` (through the daemon) clears one, and
``deny`` clears it and remembers the answer for that binary until ``undeny``. Without a daemon
these read and write its file in the state dir (grant_requests.json) directly.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from midimon.cli import daemon_link
from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_json_option,
    add_plugins_dir_option,
    parse_capability,
    print_json,
)
from midimon.plugins.description.capabilities import Capability

STATE_FILE = "grant_requests.json"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``requests``, ``deny`` and ``undeny`` under ``plugins``."""
    p_requests = sub.add_parser(
        "requests",
        help="plugin calls refused for a missing grant, waiting for your answer",
        description=(
            "List the grant requests: each plugin and capability a Plugin action was refused "
            "for, with the mapping and trigger that asked, how often and when. Answer one with "
            "midimon plugins grant NAME CAP, or midimon plugins deny NAME CAP."
        ),
    )
    p_requests.add_argument(
        "--all", action="store_true", help="also list the denied ones (remembered answers)"
    )
    add_json_option(p_requests)
    p_requests.set_defaults(handler=cmd_requests)
    for verb, text in (
        ("deny", "say no to a grant request; it is not asked again for this binary"),
        ("undeny", "forget a denial: the next refused call asks again"),
    ):
        parser = sub.add_parser(verb, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument("name", help="plugin name")
        parser.add_argument("capability", metavar="CAP", help="the capability")
        add_json_option(parser)
        if verb == "deny":  # to find a plugin outside the search path (no daemon only)
            add_plugins_dir_option(parser)
        parser.set_defaults(handler=cmd_deny if verb == "deny" else cmd_undeny)


def _local_store() -> Any:
    from midimon.daemon.grant_requests import GrantRequests
    from midimon.paths import state_dir

    return GrantRequests(state_dir() / STATE_FILE, lambda event: None)


def _ago(seconds: float) -> str:
    seconds = max(0.0, time.time() - seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def cmd_requests(args: argparse.Namespace) -> int:
    """``plugins requests [--all] [--json]``."""
    if daemon_link.daemon_running():
        rows = daemon_link.request_typed("PLUGIN_REQUESTS", list, {"all": args.all})
    else:
        rows = _local_store().listing(args.all)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("no grant requests" + ("" if args.all else " pending"))
        return EXIT_OK
    for row in rows:
        print(
            f"{row['plugin']} asks for {row['capability']} ({row['risk']} risk)"
            + ("  [denied]" if row["state"] == "denied" else "")
        )
        if row.get("mapping"):
            print(f"  mapping:  {row['mapping']}")
        if row.get("trigger"):
            print(f"  trigger:  {row['trigger']}")
        print(
            f"  refused:  {row['count']} time(s), first {_ago(row['first'])}, "
            f"last {_ago(row['last'])}"
        )
        if row["state"] == "pending":
            paths = " --write DIR" if row["capability"] == Capability.FILESYSTEM.value else ""
            print(f"  allow:    midimon plugins grant {row['plugin']} {row['capability']}{paths}")
            print(f"  deny:     midimon plugins deny {row['plugin']} {row['capability']}")
        else:
            print(f"  undeny:   midimon plugins undeny {row['plugin']} {row['capability']}")
    return EXIT_OK


def cmd_deny(args: argparse.Namespace) -> int:
    """``plugins deny NAME CAP``."""
    cap = parse_capability(args.capability)
    if daemon_link.use_daemon(args):
        row = daemon_link.request("PLUGIN_DENY", {"name": args.name, "capability": cap.value})
    else:
        from midimon.cli.common import make_manager
        from midimon.plugins.errors import PluginError

        manager = make_manager(args)
        try:
            manifest = manager.get_metadata(args.name)
            sha256, _ = manager.grants.current_binary(args.name)
        except (PluginError, OSError) as exc:
            raise CliError(str(exc)) from None
        if cap not in manifest.capabilities:
            raise CliError(f"{args.name} does not ask for {cap.value}: nothing to deny")
        row = _local_store().deny(args.name, cap.value, cap.risk.value, sha256)
        manager.audit.record("grant_denied", args.name, capability=cap.value, sha256=sha256,
                             source="cli")  # fmt: skip
    if args.json:
        print_json(row)
    else:
        print(
            f"denied {cap.value} to {args.name}: not asked again for this binary "
            f"(undo: midimon plugins undeny {args.name} {cap.value})"
        )
    return EXIT_OK


def cmd_undeny(args: argparse.Namespace) -> int:
    """``plugins undeny NAME CAP``."""
    cap = parse_capability(args.capability)
    if daemon_link.daemon_running():
        data = daemon_link.request("PLUGIN_UNDENY", {"name": args.name, "capability": cap.value})
        removed = bool(data.get("undenied")) if isinstance(data, dict) else False
    else:
        removed = _local_store().undeny(args.name, cap.value)
        if removed:
            from midimon.paths import state_dir
            from midimon.plugins.manager.audit import AuditLog

            AuditLog(state_dir() / "audit.jsonl").record(
                "grant_undenied", args.name, capability=cap.value, source="cli"
            )
    if args.json:
        print_json({"plugin": args.name, "capability": cap.value, "undenied": removed})
    elif removed:
        print(f"{args.name}: the denial of {cap.value} is forgotten; the next refused call asks")
    else:
        print(f"{args.name} had no denial of {cap.value}")
    return EXIT_OK if removed else EXIT_FAILED
