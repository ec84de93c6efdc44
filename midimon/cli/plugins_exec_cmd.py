"""``midimon plugins exec NAME``: load a plugin and run its action once, through the
PluginManager (a sandboxed worker unless ``--in-process``), with grants for this run only."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    print_json,
)
from midimon.plugins.description.capabilities import Capability, from_name
from midimon.plugins.errors import PluginError, PluginNotFound
from midimon.plugins.integrity.verify import IntegrityError
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.context import TriggerContext, TriggerKind
from midimon.plugins.manager.grants import Grant
from midimon.plugins.manager.plugin_manager import PluginManager
from midimon.plugins.manager.results import Outcome, PluginDisabled

LOG_NAMES = {0: "debug", 1: "info", 2: "warn", 3: "error"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plugins exec``."""
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
