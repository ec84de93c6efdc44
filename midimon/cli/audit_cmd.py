"""``midimon audit``: read the plugin audit log."""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime

from midimon.cli.common import EXIT_OK, CliError, print_json
from midimon.paths import state_dir
from midimon.plugins.manager.audit import EVENTS, AuditLog

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``10m``, ``2h``, ``1d`` ago, or an ISO date/time -> unix seconds."""
    now = time.time() if now is None else now
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise CliError(
            f"--since {text!r}: use a duration (30s, 10m, 2h, 1d) or a date (2026-11-27T08:00)"
        ) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit``."""
    parser = commands.add_parser(
        "audit",
        help="show the plugin audit log",
        description="Show the append-only plugin audit log (loads, verifications, grants, "
        "denials, crashes, timeouts, rate limits, disables).",
    )
    parser.add_argument("--plugin", metavar="NAME", help="only this plugin")
    parser.add_argument(
        "--since", metavar="WHEN", help="only events since WHEN (10m, 2h, ISO date)"
    )
    parser.add_argument("--event", choices=EVENTS, help="only this kind of event")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    """``audit``."""
    since = parse_since(args.since) if args.since else None
    log = AuditLog(state_dir() / "audit.jsonl")
    events = list(log.read(plugin=args.plugin, since=since, event=args.event))
    if args.json:
        print_json({"log": str(log.path), "events": events})
        return EXIT_OK
    if not events:
        print(f"no matching events in {log.path}")
    for entry in events:
        stamp = datetime.fromtimestamp(float(entry.get("time", 0))).isoformat(timespec="seconds")
        details = {k: v for k, v in entry.items() if k not in ("time", "event", "plugin")}
        text = " ".join(f"{k}={v}" for k, v in details.items() if v not in (None, [], ""))
        print(f"{stamp}  {entry.get('event', '?'):<14} {entry.get('plugin', '?'):<20} {text}")
    return EXIT_OK
