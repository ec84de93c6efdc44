"""The ``midimon`` command line: one parser, a module per command group."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from midimon import __version__
from midimon.cli.common import EXIT_USAGE
from midimon.errors import MidimonError

#: The modules that register commands, in the order ``midimon --help`` lists them.
COMMAND_MODULES = (
    "daemon_cmd",
    "devices_cmd",
    "templates_cmd",
    "led_cmd",
    "learn_cmd",
    "plugins_cmd",
    "verify_cmd",
    "signing_cmd",
    "trust_cmd",
    "audit_cmd",
    "new_plugin_cmd",
    "install_cmd",
    "ui_cmd",
)

#: Top-level command -> the module that registers it. Running a command imports only its
#: module (the others pull in the daemon, MIDI, packaging...); tests/cli/test_cli_startup.py
#: checks this table against the full parser. A command missing here still works, via the full
#: parser.
COMMANDS = {
    **dict.fromkeys(("run", "status", "reload", "stop", "validate", "monitor"), "daemon_cmd"),
    "devices": "devices_cmd",
    "templates": "templates_cmd",
    "led": "led_cmd",
    "learn": "learn_cmd",
    "plugins": "plugins_cmd",
    "verify": "verify_cmd",
    "keygen": "signing_cmd",
    "sign": "signing_cmd",
    "trust": "trust_cmd",
    "audit": "audit_cmd",
    "new-plugin": "new_plugin_cmd",
    **dict.fromkeys(("pack", "install", "uninstall"), "install_cmd"),
    "ui": "ui_cmd",
}


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The argument parser with the commands of ``modules`` (default: all of them; tests use it
    to check every --help)."""
    parser = argparse.ArgumentParser(
        prog="midimon",
        description="Map MIDI controllers to actions, with sandboxed native plugins.",
    )
    parser.add_argument("--version", action="version", version=f"midimon {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeatable)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").register(commands)
    return parser


def _command_module(argv: Sequence[str]) -> str | None:
    """The one module needed for this command line, or None when the full parser is."""
    for arg in argv:
        if arg in ("-v", "--verbose") or (arg.startswith("-v") and set(arg[1:]) == {"v"}):
            continue
        if arg == "--version":
            return ""  # no command module at all
        return COMMANDS.get(arg)  # an option (-h) or an unknown word: None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    module = _command_module(argv)
    parser = build_parser() if module is None else build_parser((module,) if module else ())
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except MidimonError as exc:  # every error midimon raises on purpose, CliError included
        print(f"midimon: error: {exc}", file=sys.stderr)
        for hint in exc.hints:
            print(f"  {hint}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"midimon: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
