"""The CLI's link to a running daemon: is one there, and requests to it."""

from __future__ import annotations

import argparse
import logging
from typing import Any, TypeVar

from midimon.cli.common import CliError
from midimon.daemon.control_protocol import EXIT_PROTOCOL

_Answer = TypeVar("_Answer", dict, list)  # type: ignore[type-arg]  # JSON: any keys and items

log = logging.getLogger("midimon.cli")


def client(timeout: float = 5.0) -> Any:
    """A ControlClient for the default socket (connects on first request)."""
    from midimon.daemon.client import ControlClient

    return ControlClient(timeout=timeout)


def daemon_running(timeout: float = 2.0) -> bool:
    """True when a daemon answers PING on the control socket (any failure: False)."""
    from midimon.daemon.errors import IpcError

    try:
        _ping(timeout)
    except IpcError:
        return False
    return True


def _ping(timeout: float) -> None:
    with client(timeout) as link:
        link.request("PING")


def request(command: str, args: dict[str, Any] | None = None, timeout: float = 15.0) -> Any:
    """Send one command to the daemon; an IpcError reaches main, which exits with its status."""
    with client(timeout) as link:
        return link.request(command, args)


def request_typed(
    command: str, kind: type[_Answer], args: dict[str, Any] | None = None, timeout: float = 15.0
) -> _Answer:
    """:func:`request` for a command answered with a JSON object (``kind=dict``) or list;
    any other answer is a CliError with the protocol's exit status (the two sides disagree)."""
    answer = request(command, args, timeout)
    if not isinstance(answer, kind):
        what = "an object" if kind is dict else "a list"
        raise CliError(f"the daemon's {command} answer is not {what}: {answer!r}", EXIT_PROTOCOL)
    return answer


def add_local_option(parser: argparse.ArgumentParser) -> None:
    """``--local``: act on the state files here even when a daemon is running."""
    parser.add_argument(
        "--local",
        action="store_true",
        help="act locally (state files) even when a daemon is running",
    )


def use_daemon(args: argparse.Namespace) -> bool:
    """Whether this command goes to the daemon: not with --local or --plugins-dir, nor when
    no daemon listens; a daemon that is there but fails (busy, timeout, permission, version)
    is a CliError rather than a silent fall back. Logs (visible with -v) which way was taken.
    """
    if getattr(args, "local", False):
        log.info("--local given: acting locally, not through a daemon")
        return False
    if getattr(args, "plugins_dir", None):
        log.info("--plugins-dir given (the daemon does not search it): acting locally")
        return False
    from midimon.daemon.errors import DaemonNotRunning, IpcError

    try:
        _ping(2.0)
    except DaemonNotRunning:
        log.info("no daemon is running: acting locally")
        return False
    except IpcError as exc:  # a daemon is there but does not answer: do not guess
        raise CliError(
            f"{exc.message} (to act on the state files here instead, add --local)",
            exc.exit_status,
        ) from None
    log.info("a daemon is running: acting through it (IPC)")
    return True
