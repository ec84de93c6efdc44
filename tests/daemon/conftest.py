"""Fixtures for tests that run `midimon run` as a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import wait_for

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
