"""Fixtures for the daemon tests: `midimon run` as a real process, and a control server with
test commands on a private socket."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for

from midimon.daemon import CommandError, CommandRegistry, ControlServer, ErrorCode, Stream

StartDaemon = Callable[..., tuple[subprocess.Popen, Path]]


@pytest.fixture
def start_daemon(tmp_path: Path, midimon_env: dict[str, str]):
    """``start_daemon(config_text, env=None)``: `midimon run --config` on that text, answering
    STATUS before it returns (its own XDG dirs); every daemon started is stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(config_text: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        env = env or midimon_env
        config = tmp_path / "config.toml"
        config.write_text(config_text)
        proc = subprocess.Popen(
            [sys.executable, "-m", "midimon", "run", "--config", str(config)],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(proc)

        def answers() -> bool:
            assert proc.poll() is None, proc.communicate()
            status = subprocess.run([sys.executable, "-m", "midimon", "status", "--json"],
                                    env=env, cwd=tmp_path, capture_output=True)  # fmt: skip
            return status.returncode == 0

        if not wait_for(answers, 30, interval=0.2):
            pytest.fail("the daemon did not answer STATUS within 30 s")
        return proc, config

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)


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
