"""Fixtures for the daemon tests: a control server with test commands on a private socket.
(`start_daemon`, a real `midimon run`, is in tests/conftest.py: the CLI tests use it too.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from panel_daemon import Panel

from midimon.daemon import CommandError, CommandRegistry, ControlServer, ErrorCode, Stream


def _echo(args: dict[str, Any], ctx: Any) -> Any:
    return {"args": args, "id": ctx.request_id}


def _fail(args: dict[str, Any], ctx: Any) -> Any:
    raise RuntimeError("the disk is on fire")


def _refuse(args: dict[str, Any], ctx: Any) -> Any:
    raise CommandError(ErrorCode.BAD_ARGS, "velocity must be in 0..127")


def _slow(args: dict[str, Any], ctx: Any) -> Any:
    ctx.cancelled.wait(5)
    return "late"


def _count(args: dict[str, Any], ctx: Any) -> Stream:
    return Stream(range(args.get("n", 3)))


@pytest.fixture
def registry() -> CommandRegistry:
    """Built-ins plus ECHO, FAIL, REFUSE, SLOW (0.3 s timeout) and COUNT (an iterator stream)."""
    reg = CommandRegistry()
    reg.register("ECHO", _echo)
    reg.register("FAIL", _fail)
    reg.register("REFUSE", _refuse)
    reg.register("SLOW", _slow, timeout=0.3)
    reg.register("COUNT", _count)
    return reg


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    """A socket path in a runtime dir that does not exist yet."""
    return tmp_path / "run" / "midimon" / "midimon.sock"


@pytest.fixture
def server(sock_path: Path, registry: CommandRegistry) -> Iterator[ControlServer]:
    """A running server with short timeouts."""
    srv = ControlServer(sock_path, registry, line_timeout=1.0, write_timeout=0.5)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def panel(jack_server, start_daemon, isolated_dirs, tmp_path: Path) -> Iterator[Panel]:
    """A started Panel; stopped afterwards."""
    env = {**isolated_dirs, **jack_server.env}
    panel = Panel(start_daemon, env, tmp_path)
    panel.start()
    try:
        yield panel
    finally:
        if panel.controller is not None:
            panel.controller.delete()
        if panel.client is not None:
            panel.client.close()
