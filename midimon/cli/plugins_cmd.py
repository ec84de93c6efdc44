"""``midimon plugins list|info|exec``: look at and run discovered plugins."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from midimon.cli import daemon_link, manage_cmd
from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_allow_unsigned_option,
    add_json_option,
    add_plugins_dir_option,
    find_plugin,
    make_manager,
    plugin_settings,
    print_json,
    run_discovery,
)
from midimon.cli.signer_info import signer_details, signer_lines
from midimon.cli.trust_cmd import user_trust_store
from midimon.daemon.protocol import EXIT_PROTOCOL
from midimon.plugins import abi as abi_mod
from midimon.plugins.capabilities import Capability, from_name, sorted_caps
from midimon.plugins.context import TriggerContext, TriggerKind
from midimon.plugins.discovery import DiscoveredPlugin
from midimon.plugins.errors import LoadError, ManifestError, PluginError, PluginNotFound
from midimon.plugins.grants import Grant
from midimon.plugins.integrity import IntegrityError
from midimon.plugins.loader import read_binary
from midimon.plugins.manager import Outcome, PluginDisabled, PluginManager
from midimon.plugins.manifest import PluginManifest, load_manifest
from midimon.plugins.readiness import ReadinessChecker
from midimon.plugins.sandbox_support import enforcement_preview

LOG_NAMES = {0: "debug", 1: "info", 2: "warn", 3: "error"}


def register(commands: argparse._SubParsersAction) -> None:
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

    p_info = sub.add_parser(
        "info",
        help="one plugin's manifest, binary, SHA-256, ABI and capabilities",
        description="Show one plugin in detail. No plugin code runs. With a running daemon, "
        "its grants, state and (when loaded) what its worker enforces.",
    )
    p_info.add_argument("name", help="plugin name")
    add_plugins_dir_option(p_info)
    daemon_link.add_local_option(p_info)
    add_json_option(p_info)
    p_info.set_defaults(handler=cmd_info)

    p_exec = sub.add_parser(
        "exec",
        help="load a plugin and run its action once",
        description=(
            "Load the plugin, initialize it, execute it once with a trigger context built from "
            "the options, shut it down, and print the result. Exit 0 on success, 1 when the "
            "plugin reports failure, 2 on usage or load errors."
        ),
    )
    p_exec.add_argument("name", help="plugin name")
    p_exec.add_argument(
        "--params", default="{}", metavar="JSON", help="action params as a JSON object (default {})"
    )
    p_exec.add_argument("--velocity", type=int, default=100, help="0..127 (default 100)")
    p_exec.add_argument("--note", type=int, default=60, help="note/controller number (default 60)")
    p_exec.add_argument("--channel", type=int, default=0, help="MIDI channel 0..15 (default 0)")
    p_exec.add_argument("--value", type=int, default=0, help="CC value, pressure, bend (default 0)")
    p_exec.add_argument("--mode", default="Default", help="mode name (default Default)")
    p_exec.add_argument(
        "--trigger",
        default="manual",
        metavar="KIND",
        help="trigger kind: "
        + ", ".join(k.name.lower() for k in TriggerKind)
        + " (default manual)",
    )
    p_exec.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="CAP",
        help="grant CAP for this run only, not saved (repeatable)",
    )
    p_exec.add_argument(
        "--grant-write",
        "--grant-path",
        dest="grant_write",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="with --grant filesystem: a folder (or file) the plugin may read and write "
        "(repeatable; --grant-path is the older name of --grant-write)",
    )
    p_exec.add_argument(
        "--grant-read",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="with --grant filesystem: a folder (or file) the plugin may only read (repeatable)",
    )
    p_exec.add_argument(
        "--in-process",
        action="store_true",
        help="run inside this process instead of a sandboxed worker (trusted signed plugins "
        "only; capabilities are then advisory)",
    )
    add_plugins_dir_option(p_exec)
    add_allow_unsigned_option(p_exec)
    add_json_option(p_exec)
    p_exec.set_defaults(handler=cmd_exec)
    manage_cmd.register(sub)


def _capabilities(found: DiscoveredPlugin) -> list[dict[str, str]]:
    return [
        {
            "name": c.value,
            "display_name": c.info.display_name,
            "risk": c.risk.value,
            "description": c.info.description,
        }
        for c in sorted_caps(found.manifest.capabilities)
    ]


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
    rows = daemon_link.request("PLUGINS")
    if not isinstance(rows, list):
        raise CliError(f"the daemon's PLUGINS answer is not a list: {rows!r}", EXIT_PROTOCOL)
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


def _info_from_daemon(args: argparse.Namespace) -> tuple[PluginManifest, dict[str, Any]]:
    """The daemon's PLUGIN_INFO reshaped like the local ``info`` (manifest read here too)."""
    data = daemon_link.request("PLUGIN_INFO", {"name": args.name})
    if not isinstance(data, dict) or not isinstance(data.get("manifest"), str):
        raise CliError(
            f"the daemon's PLUGIN_INFO answer is not understood: {data!r}", EXIT_PROTOCOL
        )
    try:
        manifest = load_manifest(data["manifest"])
    except ManifestError as exc:
        raise CliError(
            f"the daemon knows {args.name} but its manifest is unreadable here: {exc}"
        ) from None
    rows = daemon_link.request("PLUGINS")
    rows = rows if isinstance(rows, list) else []
    row = next((r for r in rows if isinstance(r, dict) and r.get("name") == args.name), {})
    info = manifest.as_dict()
    info["capabilities"] = [
        {
            "name": c.value,
            "display_name": c.info.display_name,
            "risk": c.risk.value,
            "description": c.info.description,
        }
        for c in sorted_caps(manifest.capabilities)
    ]
    info["status"] = row.get("status", "?")
    info["search_dir"] = str(manifest.directory.parent)
    info["warnings"] = list(manifest.warnings)
    info["host_abi"] = abi_mod.abi_version()
    info["sha256_actual"] = _sha256_here(manifest, info)
    keys = ("isolation", "timeout_s", "rate_limit", "limits", "granted", "filesystem_paths",
            "filesystem_read_paths", "filesystem_refused", "filesystem_sensitive",
            "missing", "enabled", "disabled_reason", "loaded", "trust", "enforced")  # fmt: skip
    execution = {key: data.get(key) for key in keys}
    if not execution["enforced"]:  # not loaded: what a worker would enforce, from here
        settings = plugin_settings(args).execution_for(manifest.name)
        limits = execution["limits"] or {}
        settings = dataclasses.replace(
            settings,
            isolation=execution["isolation"] or settings.isolation,
            timeout=execution["timeout_s"] or settings.timeout,
            **{
                k: limits[k]
                for k in ("memory_mb", "max_processes", "max_open_files")
                if k in limits
            },
        )
        execution["enforced"] = enforcement_preview(
            settings, frozenset(from_name(c) for c in execution["granted"] or ())
        )
    info["execution"] = execution
    info["signing"] = signer_details(manifest, None, user_trust_store())
    return manifest, info


def _sha256_here(manifest: PluginManifest, info: dict[str, Any]) -> str | None:
    if manifest.binary is not None and manifest.binary.is_file():
        try:
            return read_binary(manifest)[1]
        except LoadError as exc:
            info["status"] = str(exc)
    return None


def _info_local(args: argparse.Namespace) -> tuple[PluginManifest, dict[str, Any]]:
    found, result = find_plugin(args, args.name)
    manifest = found.manifest
    info = manifest.as_dict()
    info["capabilities"] = _capabilities(found)
    info["status"] = found.status
    info["search_dir"] = str(found.search_dir)
    info["warnings"] = list(manifest.warnings)
    info["host_abi"] = abi_mod.abi_version()
    info["sha256_actual"] = _sha256_here(manifest, info)
    manager = make_manager(args)
    execution = manager.describe(manifest.name)
    execution["enforced"] = enforcement_preview(
        manager.settings.execution_for(manifest.name),
        frozenset(from_name(c) for c in execution["granted"]),
    )
    info["execution"] = execution
    info["signing"] = signer_details(manifest, result, user_trust_store())
    return manifest, info


def cmd_info(args: argparse.Namespace) -> int:
    """``plugins info NAME``: the daemon's grants and state when one runs, else local files."""
    if daemon_link.use_daemon(args):
        manifest, info = _info_from_daemon(args)
    else:
        manifest, info = _info_local(args)
    execution = info["execution"]
    if args.json:
        print_json(info)
        return EXIT_OK
    print(f"{manifest.name} {manifest.version} ({manifest.plugin_type} plugin)")
    if manifest.description:
        print(f"  {manifest.description}")
    print(f"  status:       {info['status']}")
    print(f"  manifest:     {manifest.path}")
    print(f"  binary:       {manifest.binary or manifest.binary_error}")
    print(f"  SHA-256:      {info['sha256_actual'] or '(binary not readable)'}")
    if manifest.sha256:
        print(f"  pinned:       {manifest.sha256}")
    for line in signer_lines(info["signing"]):
        print(line)
    print(f"  ABI:          {manifest.abi_text} (host speaks {info['host_abi']})")
    for key in ("author", "homepage", "license"):
        if info[key]:
            print(f"  {key + ':':<13} {info[key]}")
    caps = info["capabilities"]
    print("  capabilities:" + ("" if caps else " none"))
    granted = set(execution["granted"])
    for cap in caps:
        state = "granted" if cap["name"] in granted else "NOT granted"
        print(f"    {cap['display_name']:<15} risk {cap['risk']:<7} {state}")
        print(f"      {cap['description']}")
    if execution["missing"]:
        print(
            "    grant with: "
            + "; ".join(
                f"midimon plugins grant {manifest.name} {c}"
                + (" --write DIR" if c == "filesystem" else "")
                for c in execution["missing"]
            )
        )
    _print_filesystem(manifest.name, execution)
    state = "enabled" if execution["enabled"] else f"DISABLED ({execution['disabled_reason']})"
    print(f"  state:        {state}")
    print(
        f"  isolation:    {execution['isolation']}, timeout {execution['timeout_s']:g} s, "
        f"rate limit {execution['rate_limit']['per_second']:g}/s "
        f"(burst {execution['rate_limit']['burst']})"
    )
    print("  enforced here:")
    for line in execution["enforced"]:
        print(f"    - {line}")
    for warning in manifest.warnings:
        print(f"  warning: {warning}")
    return EXIT_OK


def _print_filesystem(name: str, execution: dict[str, Any]) -> None:
    """The Filesystem paths granted, those not applied and why, and sensitive folders."""
    for key, label in (("filesystem_paths", "read+write"), ("filesystem_read_paths", "read")):
        for path in execution.get(key) or ():
            print(f"    files {label + ':':<11} {path}")
    for refused in execution.get("filesystem_refused") or ():
        print(f"    NOT applied: filesystem {refused['path']}: {refused['reason']}")
    if execution.get("filesystem_refused"):
        print(
            f"      re-grant safely: midimon plugins revoke {name} filesystem; midimon plugins "
            f"grant {name} filesystem --write ~/midimon-files (a folder of its own)"
        )
    for line in execution.get("filesystem_sensitive") or ():
        print(f"    warning: {line}")


class RecordingHost:
    """Host services for a one-off exec: keeps the log lines and MIDI the plugin sends."""

    def __init__(self) -> None:
        self.logs: list[dict[str, str]] = []
        self.midi: list[list[int]] = []

    def log(self, plugin: str, level: int, message: str) -> None:
        """Keep one log line."""
        self.logs.append({"level": LOG_NAMES.get(level, str(level)), "message": message})

    def send_midi(self, plugin: str, data: bytes) -> int:
        """Keep the bytes; there is no output port in a one-off exec."""
        self.midi.append(list(data))
        return abi_mod.constant("MIDIMON_OK")


def _context(args: argparse.Namespace) -> TriggerContext:
    try:
        kind = TriggerKind.from_name(args.trigger)
        return TriggerContext(
            velocity=args.velocity,
            channel=args.channel,
            number=args.note,
            value=args.value,
            trigger_kind=kind,
            mode=args.mode,
        )
    except ValueError as exc:
        raise CliError(str(exc).replace("number", "note", 1)) from None


def _session_grants(args: argparse.Namespace) -> dict[str, list[Grant]]:
    grants = []
    for name in args.grant:
        try:
            capability = from_name(name)
        except ValueError as exc:
            raise CliError(f"--grant: {exc}") from None
        if capability is Capability.FILESYSTEM:
            writes = tuple(str(p.expanduser().resolve()) for p in args.grant_write)
            reads = tuple(str(p.expanduser().resolve()) for p in args.grant_read)
            grants.append(Grant(capability, writes, read_paths=reads))
        else:
            grants.append(Grant(capability))
    has_fs = any(g.capability is Capability.FILESYSTEM for g in grants)
    if (args.grant_write or args.grant_read) and not has_fs:
        raise CliError("--grant-write and --grant-read need --grant filesystem")
    return {args.name: grants}


def _load_or_explain(manager: PluginManager, name: str) -> None:
    """Load the plugin before the call, so a refusal comes with its fix (as `install` gives)."""
    try:
        manager.load(name)
    except PluginDisabled:
        return  # execute() reports it as DISABLED, with the reason
    except IntegrityError as exc:
        lines = [f"cannot run plugin {name!r}: {exc}"]
        lines += [f"  fix: {f.fix}" for f in exc.report.failures if f.fix]
        raise CliError("\n".join(lines)) from None
    except (PluginError, OSError) as exc:
        raise CliError(f"cannot run plugin {name!r}: {exc}") from None


def _check_session_grants(manager: PluginManager, name: str, grants: list[Grant]) -> None:
    """The same path rules as a saved grant, refused before the plugin starts (audited)."""
    for grant in grants:
        if grant.capability is not Capability.FILESYSTEM:
            continue
        try:
            manager.check_filesystem_paths(
                name, grant.read_paths, grant.write_paths, at="plugins exec"
            )
        except ValueError as exc:
            raise CliError(
                f"--grant filesystem: {exc}".replace("--write DIR", "--grant-write DIR").replace(
                    "--read DIR", "--grant-read DIR"
                )
            ) from None


EXIT_FOR_OUTCOME = {Outcome.OK: EXIT_OK, Outcome.UNAVAILABLE: EXIT_USAGE}


def cmd_exec(args: argparse.Namespace) -> int:
    """``plugins exec NAME``: one execute through the PluginManager."""
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise CliError(f"--params is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise CliError('--params must be a JSON object, like \'{"key": "value"}\'')
    context = _context(args)
    host = RecordingHost()
    session = _session_grants(args)
    manager = make_manager(args, host, session)
    manager.one_off_hints = True
    try:
        try:
            manifest = manager.get_metadata(args.name)
        except PluginNotFound as exc:
            find_plugin(args, args.name)  # raises, naming an invalid NAME/plugin.toml if any
            raise CliError(str(exc)) from None
        _check_session_grants(manager, args.name, session[args.name])
        _load_or_explain(manager, args.name)
        result = manager.execute(args.name, params, context)
        description = manager.describe(args.name)
    finally:
        manager.shutdown()
    if result.outcome is Outcome.UNAVAILABLE:
        raise CliError(f"cannot run plugin {args.name!r}: {result.message}")
    status = result.status if result.status is not None else -1
    output = {
        "plugin": manifest.name,
        "version": manifest.version,
        "ok": result.ok,
        "outcome": result.outcome.value,
        "status": result.status,
        "status_name": abi_mod.status_name(status) if result.status is not None else None,
        "message": result.message,
        "midi_sent": host.midi,
        "logs": host.logs,
        "elapsed_ms": result.elapsed_ms,
        "isolation": description["isolation"],
        "trust": description["trust"],
        "granted": description["granted"],
        "enforced": description["enforced"],
        "context": context.as_dict(),
    }
    if args.json:
        print_json(output)
    else:
        for entry in host.logs:
            print(f"[{entry['level']}] {manifest.name}: {entry['message']}", file=sys.stderr)
        for data in host.midi:
            print("send_midi: " + " ".join(f"{b:02x}" for b in data))
        if result.ok:
            verdict = "OK"
        elif result.outcome is Outcome.FAILED:
            verdict = f"FAILED ({output['status_name']})"
        else:
            verdict = result.outcome.value.upper().replace("_", " ")
        note = "" if description["isolation"] == "isolated" else ", capabilities advisory"
        print(
            f"{manifest.name} {manifest.version}: {verdict}: {result.message or '(no message)'}"
            f" [{result.elapsed_ms:.1f} ms, {description['isolation']}{note}]"
        )
    return EXIT_FOR_OUTCOME.get(result.outcome, EXIT_FAILED)
