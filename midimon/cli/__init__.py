"""The ``midimon`` command line: one parser, a module per command group."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from midimon import __version__
from midimon.cli import (
    audit_cmd,
    daemon_cmd,
    devices_cmd,
    install_cmd,
    learn_cmd,
    new_plugin_cmd,
    plugins_cmd,
    signing_cmd,
    trust_cmd,
    verify_cmd,
)
from midimon.cli.common import EXIT_USAGE, CliError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests to check every --help)."""
    parser = argparse.ArgumentParser(
        prog="midimon",
        description="Map MIDI controllers to actions, with sandboxed native plugins.",
    )
    parser.add_argument("--version", action="version", version=f"midimon {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeatable)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    daemon_cmd.register(commands)
    devices_cmd.register(commands)
    learn_cmd.register(commands)
    plugins_cmd.register(commands)
    verify_cmd.register(commands)
    signing_cmd.register(commands)
    trust_cmd.register(commands)
    audit_cmd.register(commands)
    new_plugin_cmd.register(commands)
    install_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"midimon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"midimon: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
