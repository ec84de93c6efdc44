"""How a CLI command decides between the running daemon and the local state files, and how the
daemon's errors reach the user: against a real control server on the default socket."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

import pytest

from midimon.cli import daemon_link
from midimon.cli.common import CliError
from midimon.daemon import CommandError, CommandRegistry, ControlServer, ErrorCode, socket_path
from midimon.daemon.control_protocol import EXIT_PROTOCOL
from midimon.daemon.cookie import cookie_path
from midimon.daemon.errors import IpcError


@pytest.fixture
def daemon(isolated_dirs: dict[str, str]) -> Iterator[CommandRegistry]:
    """A control server on the isolated default socket with ECHO and REFUSE commands."""
    registry = CommandRegistry()
    registry.register("ECHO", lambda args, ctx: args)

    def refuse(args: dict[str, Any], ctx: Any) -> Any:
        raise CommandError(ErrorCode.BAD_ARGS, "velocity must be in 0..127")

    registry.register("REFUSE", refuse)
    with ControlServer(socket_path(), registry):
        yield registry


def args(**values: Any) -> argparse.Namespace:
    return argparse.Namespace(**values)


def test_no_daemon_means_local(isolated_dirs: dict[str, str]) -> None:
    """Without a daemon a command acts locally and daemon_running() says so."""
    assert not daemon_link.daemon_running()
    assert daemon_link.use_daemon(args()) is False


def test_a_running_daemon_is_used(daemon: CommandRegistry) -> None:
    """With a daemon answering, commands go to it, unless --local or --plugins-dir is given
    (the daemon does not search that folder)."""
    assert daemon_link.daemon_running()
    assert daemon_link.use_daemon(args()) is True
    assert daemon_link.use_daemon(args(local=True)) is False
    assert daemon_link.use_daemon(args(plugins_dir=["/somewhere"])) is False
    assert daemon_link.request("ECHO", {"x": 1}) == {"x": 1}


def test_an_answer_of_the_wrong_kind_is_a_protocol_error(daemon: CommandRegistry) -> None:
    """request_typed gives the answer when it is the JSON kind the command answers with, and
    otherwise a CliError naming the command, with the protocol's exit status."""
    assert daemon_link.request_typed("ECHO", dict, {"x": 1}) == {"x": 1}
    daemon.register("ROWS", lambda args, ctx: [1, 2])
    assert daemon_link.request_typed("ROWS", list) == [1, 2]
    wrong = r"the daemon's ROWS answer is not an object: \[1, 2\]"
    with pytest.raises(CliError, match=wrong) as info:
        daemon_link.request_typed("ROWS", dict)
    assert info.value.exit_code == EXIT_PROTOCOL
    with pytest.raises(CliError, match="ECHO answer is not a list"):
        daemon_link.request_typed("ECHO", list, {"x": 1})


def test_the_daemons_refusal_is_an_ipc_error(daemon: CommandRegistry) -> None:
    """A command the daemon refuses raises an IpcError with the daemon's message and the
    exit status of its error code (the CLI's one ``except MidimonError`` prints it)."""
    with pytest.raises(IpcError) as info:
        daemon_link.request("REFUSE")
    assert "velocity must be in 0..127" in str(info.value)
    assert info.value.exit_status == 2
    with pytest.raises(IpcError) as unknown:
        daemon_link.request("NO_SUCH_COMMAND")
    assert "NO_SUCH_COMMAND" in str(unknown.value)


def test_a_daemon_that_is_there_but_refuses_is_not_ignored(daemon: CommandRegistry) -> None:
    """A daemon whose cookie this process cannot read is an error saying to add --local,
    not a silent fall back to the local files."""
    cookie = cookie_path(socket_path())
    os.unlink(cookie)
    with pytest.raises(CliError, match="add --local") as info:
        daemon_link.use_daemon(args())
    assert str(cookie) in str(info.value) and info.value.exit_code == 4
