"""``midimon plugins list``: every discovered plugin and whether it will run; the ``plugins``
group itself, whose other subcommands live in ``plugins_info_cmd`` (info), ``plugins_exec_cmd``
(exec), ``manage_cmd`` (grant, revoke, enable, ...) and ``requests_cmd`` (requests, deny,
undeny)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from midimon.cli import (
    daemon_link,
    manage_cmd,
    plugins_exec_cmd,
    plugins_info_cmd,
    requests_cmd,
)
from midimon.cli.common import (
    EXIT_OK,
    add_json_option,
    add_plugins_dir_option,
    make_manager,
    print_json,
    run_discovery,
)
from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.description.discovery import DiscoveredPlugin
from midimon.plugins.manager.readiness import ReadinessChecker


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plugins`` and its subcommands."""
    group = commands.add_parser(
        "plugins", help="list, inspect and run plugins", description="Work with plugins."
    )
    sub = group.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND", required=True)

    p_list = sub.add_parser(
        "list",
        help="every discovered plugin",
        description="List every plugin on the search path with its status. No plugin code runs. "
        "With a running daemon, its view (its search path, what it has loaded and enabled).",
    )
    add_plugins_dir_option(p_list)
    daemon_link.add_local_option(p_list)
    add_json_option(p_list)
    p_list.set_defaults(handler=cmd_list)
    plugins_info_cmd.register(sub)
    plugins_exec_cmd.register(sub)
    manage_cmd.register(sub)
    requests_cmd.register(sub)


def _summary(found: DiscoveredPlugin) -> dict[str, Any]:
    manifest = found.manifest
    return {
        "name": manifest.name,
        "version": manifest.version,
        "type": manifest.plugin_type,
        "abi": manifest.abi_text,
        "capabilities": [c.value for c in sorted_caps(manifest.capabilities)],
        "path": str(manifest.directory),
        "binary": str(manifest.binary) if manifest.binary else None,
        "status": found.status,
        "search_dir": str(found.search_dir),
    }


def _list_from_daemon(args: argparse.Namespace) -> int:
    rows = daemon_link.request_typed("PLUGINS", list)
    if args.json:
        print_json({"plugins": rows})
        return EXIT_OK
    if not rows:
        print("The daemon found no plugins.")
        return EXIT_OK
    headers = ("NAME", "VERSION", "CAPABILITIES", "STATUS", "STATE", "PATH")
    table = [
        (
            str(r.get("name")),
            str(r.get("version")),
            ",".join(r.get("capabilities") or []) or "-",
            str(r.get("status")),
            ("loaded" if r.get("loaded") else "idle")
            + ("" if r.get("enabled", True) else ",disabled"),
            str(r.get("path")),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    for line in (headers, *table):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    _print_problems(r.get("problem") for r in rows)
    return EXIT_OK


def _print_problems(problems: Iterable[str | None]) -> None:
    """Below the table: why each plugin that will not run won't, and its fix."""
    for problem in problems:
        if problem:
            print(f"will not run: {problem}")


def _readiness(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Replace each row's status by its readiness (signature, grants, ...) and add its
    ``problem``: the same check the daemon runs at start-up. No plugin code runs."""
    from midimon.daemon.plugin_check import plugin_uses  # the engine: only `list` needs it
    from midimon.daemon.service import user_or_default_config
    from midimon.engine.config import ConfigError, load_config

    checker = ReadinessChecker(make_manager(args))
    try:  # the config's params make a grant hint name the paths its actions use
        uses = plugin_uses(load_config(user_or_default_config()))
    except (ConfigError, OSError):
        uses = {}
    for row in rows:
        if row["status"] != "ok":  # the folder itself is unusable: that is the news
            row["problem"] = f"{row['name']}: {row['status']}"
            continue
        ready = checker.check(row["name"], uses.get(row["name"], ()))
        row["status"], row["problem"] = ready.status, None if ready.ok else ready.line()


def cmd_list(args: argparse.Namespace) -> int:
    """``plugins list``: the daemon's view when one runs, else discovery here."""
    if daemon_link.use_daemon(args):
        return _list_from_daemon(args)
    result = run_discovery(args)
    rows = [_summary(p) for p in result.plugins.values()]
    for row in rows:
        row["copy"] = result.chosen_because.get(row["name"])
    _readiness(args, rows)
    problems = [
        {"path": str(p.path), "kind": p.kind, "message": p.message} for p in result.problems
    ]
    if args.json:
        print_json(
            {
                "plugins": rows,
                "problems": problems,
                "search_path": [str(p) for p in result.searched],
            }
        )
        return EXIT_OK
    if not rows:
        print("No plugins found. Searched:")
        for path in result.searched:
            print(f"  {path}")
    else:
        headers = ("NAME", "VERSION", "TYPE", "ABI", "CAPABILITIES", "STATUS", "PATH")
        table = [
            (
                r["name"],
                r["version"],
                r["type"],
                r["abi"],
                ",".join(r["capabilities"]) or "-",
                r["status"],
                r["path"],
            )
            for r in rows
        ]
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
        for line in (headers, *table):
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        _print_problems(r["problem"] for r in rows)
    for problem in problems:
        print(f"warning: {problem['message']}", file=sys.stderr)
    for row in rows:
        if row["copy"]:
            print(f"note: {row['copy']}")
    return EXIT_OK
