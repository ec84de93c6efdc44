"""The command table of `midimon.cli`: every command and subcommand has help; none is usage."""

from __future__ import annotations

import pytest
from helpers import RunMidimon

from midimon.cli import build_parser


def _all_commands(parser, prefix=()):
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            yield (*prefix, name)
            yield from _all_commands(sub, (*prefix, name))


@pytest.mark.parametrize("command", list(_all_commands(build_parser())))
def test_every_command_has_help(run_midimon: RunMidimon, command: tuple[str, ...]) -> None:
    """Every command and subcommand answers --help with a usage line and exit 0."""
    done = run_midimon(*command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: midimon " + " ".join(command))


def test_no_command_is_a_usage_error(run_midimon: RunMidimon) -> None:
    """Running midimon with no command prints usage and exits 2."""
    done = run_midimon()
    assert done.returncode == 2 and "usage:" in done.stderr
