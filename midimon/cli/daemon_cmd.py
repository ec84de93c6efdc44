"""``midimon run|status|reload|stop|validate|monitor``: the daemon and its control socket."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from midimon.cli.common import EXIT_FAILED, EXIT_OK, CliError, print_json


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the daemon commands."""
    p_run = commands.add_parser(
        "run", help="run the daemon in the foreground",
        description="Run the daemon: MIDI in, triggers, mappings, actions, plugins. Without "
        "--config it runs $XDG_CONFIG_HOME/midimon/config.toml (default "
        "~/.config/midimon/config.toml) when that file exists, else the config bundled with "
        "midimon; the start-up line names the file. SIGHUP or editing the config reloads it; "
        "Ctrl-C, SIGTERM or `midimon stop` stop it.",
    )  # fmt: skip
    p_run.add_argument("--config", type=Path, metavar="PATH", help="config file (TOML)")
    p_run.add_argument(
        "--demo",
        action="store_true",
        help="play a short built-in MIDI sequence into the event path, on the bundled config "
        "unless --config is given; the daemon keeps running afterwards",
    )
    p_run.add_argument(
        "--exit-after-demo", action="store_true", help="with --demo: stop once the demo has played"
    )
    p_run.set_defaults(handler=cmd_run)

    for name, text in (("status", "what the running daemon is doing"),
                       ("reload", "reload the running daemon's config"),
                       ("stop", "stop the running daemon")):  # fmt: skip
        parser = commands.add_parser(name, help=text, description=text.capitalize() + ".")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.set_defaults(handler=cmd_control, command_name=name.upper())

    p_validate = commands.add_parser(
        "validate", help="check a config file without running it",
        description="Check a config file: exit 0 when valid, 1 with every error otherwise. "
        "Each Plugin action's params are checked against the [plugin.params] its plugin "
        "declares (the plugins the daemon would find: [plugins] dirs, then the default path).",
    )  # fmt: skip
    p_validate.add_argument(
        "path", nargs="?", type=Path,
        help="config file (default: the one `midimon run` would use: "
        "$XDG_CONFIG_HOME/midimon/config.toml when it exists, else the bundled one)",
    )  # fmt: skip
    p_validate.add_argument("--json", action="store_true", help="print one JSON object")
    p_validate.set_defaults(handler=cmd_validate)

    p_monitor = commands.add_parser(
        "monitor", help="print the running daemon's events live",
        description="Print MIDI events, triggers and actions from the running daemon.",
    )  # fmt: skip
    p_monitor.add_argument("--json", action="store_true", help="one JSON object per line")
    p_monitor.add_argument(
        "--type", action="append", dest="types", metavar="TYPE",
        choices=("midi", "trigger", "action", "plugin_midi", "plugin_event", "reload"),
        help="only events of this type (repeat for more): midi, trigger, action, plugin_midi, "
        "plugin_event (a trigger plugin's event), reload",
    )  # fmt: skip
    p_monitor.set_defaults(handler=cmd_monitor)


def cmd_run(args: argparse.Namespace) -> int:
    """``run``."""
    from midimon.daemon.foreground import run
    from midimon.engine.errors import ConfigError

    if args.exit_after_demo and not args.demo:
        raise CliError("--exit-after-demo needs --demo")
    try:
        return run(args.config, demo=args.demo, exit_after_demo=args.exit_after_demo)
    except ConfigError as exc:  # a bad config exits 1, as `validate` does
        raise CliError(str(exc), EXIT_FAILED) from None


def _client() -> Any:
    from midimon.daemon.client import ControlClient

    return ControlClient()


def _ipc(command: str, args: dict[str, Any] | None = None) -> Any:
    """One request; an IpcError reaches main, which exits with its status."""
    with _client() as client:
        return client.request(command, args)


def cmd_control(args: argparse.Namespace) -> int:
    """``status``, ``reload``, ``stop``."""
    data = _ipc(args.command_name)
    if args.json:
        print_json(data)
    elif args.command_name == "STATUS":
        for key, value in data.items():
            print(f"{key:<16} {for_people(value)}")
    elif args.command_name == "RELOAD":
        print(f"reloaded in {data['ms']} ms")
        device = data.get("device")  # [device] changed: the input switched
        if device and device.get("connected"):
            print(f"MIDI input switched to {device['port']} ({device['api']})")
        for warning in data.get("warnings", []):
            print(f"warning: {warning}")
    else:
        print("midimon is stopping")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """``validate [PATH]``."""
    from midimon.daemon.service import user_or_default_config
    from midimon.engine.config import ConfigError, load_config

    path = args.path or user_or_default_config()
    try:
        config = load_config(path, _params_schemas(path))
    except ConfigError as exc:
        errors = [str(e) for e in getattr(exc, "errors", [exc])]
        warnings = list(getattr(exc, "warnings", ()))
        if args.json:
            print_json({"ok": False, "path": str(path), "errors": errors, "warnings": warnings})
        else:
            print(f"{path}: INVALID", file=sys.stderr)
            for error in errors:
                print(f"  {error}", file=sys.stderr)
            for warning in warnings:
                print(f"  warning: {warning}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    mappings = sum(len(m.mappings) for m in config.modes) + len(config.global_mappings)
    if args.json:
        print_json({"ok": True, "path": str(path), "modes": list(config.mode_names),
                    "mappings": mappings, "warnings": list(config.warnings)})  # fmt: skip
    else:
        print(f"{path}: OK ({_count(len(config.modes), 'mode')}, {_count(mappings, 'mapping')})")
        for warning in config.warnings:
            print(f"  warning: {warning}")
    return EXIT_OK


def _params_schemas(path: Path) -> dict[str, Any]:
    """The declared params of the plugins the daemon would find for the config at ``path``
    (its ``[plugins] dirs``, then the default search path): what its Plugin actions are
    checked against. A [plugins] table that does not parse is load_config's to report."""
    from midimon.errors import MidimonError
    from midimon.paths import plugin_search_path
    from midimon.plugins.description.discovery import discover
    from midimon.plugins.settings import PluginSettings, load_plugin_settings

    try:
        settings = load_plugin_settings(Path(path).expanduser())
    except (MidimonError, OSError):
        settings = PluginSettings()
    return discover(plugin_search_path(settings.dirs)).params_schemas()


def cmd_monitor(args: argparse.Namespace) -> int:
    """``monitor``."""
    import json

    with _client() as client:
        for event in client.stream("EVENTS", {"types": args.types} if args.types else None):
            if args.json:
                print(json.dumps(event), flush=True)
            elif isinstance(event, dict):
                print(describe_event(event), flush=True)
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def for_people(value: Any) -> str:
    """A STATUS value as text: lists comma-separated, nothing as "-"."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {for_people(v)}" for k, v in value.items()) or "-"
    return str(value)


def describe_event(event: dict[str, Any]) -> str:
    """One monitor event as a line for people: MIDI channels 1..16 (the JSON keeps 0..15)."""
    event = dict(event)
    kind = str(event.pop("type", "?"))
    if "channel" in event and isinstance(event["channel"], int):
        event["channel"] = event["channel"] + 1
    return f"{kind:<8} " + " ".join(f"{k}={for_people(v)}" for k, v in event.items())
