"""Shared fixtures: an isolated midimon environment, the CLI, a real daemon, and test plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import (
    TEST_PLUGIN_SOURCE,
    Keys,
    MakePlugin,
    RecordingHost,
    RunMidimon,
    StartDaemon,
    compile_plugin,
    new_keys,
    require_tool,
    wait_for,
    write_manifest,
)


@pytest.fixture
def midimon_env(tmp_path: Path) -> dict[str, str]:
    """Environment with every XDG dir under tmp_path, so no test touches the real user dirs."""
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / "xdg" / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    runtime = tmp_path / "xdg" / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["XDG_DATA_DIRS"] = str(tmp_path / "xdg" / "system_data")
    home = tmp_path / "home"  # the bundled config writes ~/midimon-pads.log: keep it here
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def isolated_dirs(midimon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this test process's XDG variables at tmp_path too (for in-process API tests)."""
    for key, value in midimon_env.items():
        if key.startswith("XDG_"):
            monkeypatch.setenv(key, value)
    return midimon_env


@pytest.fixture
def run_midimon(midimon_env: dict[str, str], tmp_path: Path) -> RunMidimon:
    """Run ``python -m midimon ARGS`` (the installed package) in the isolated environment.

    The command runs in tmp_path, or in ``cwd`` (for relative paths such as ``pack .``).
    """

    def run(
        *args: str, timeout: float = 60, input: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "midimon", *map(str, args)],
            env=midimon_env,
            cwd=cwd or tmp_path,  # not the repo: python -m would import the source tree, unbuilt
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    return run


@pytest.fixture
def make_plugin(tmp_path: Path) -> MakePlugin:
    """Build a test plugin folder: ``make_plugin("name", defines={...}, manifest={...})``.

    The folder goes under ``tmp_path/plugins`` (or ``root``); returns the folder.
    """

    def make(
        name: str = "probe_ok",
        *,
        defines: dict[str, str] | None = None,
        manifest: dict[str, object] | None = None,
        root: Path | None = None,
        folder_name: str | None = None,
        source: str = TEST_PLUGIN_SOURCE,
    ) -> Path:
        folder = (root or tmp_path / "plugins") / (folder_name or name)
        folder.mkdir(parents=True, exist_ok=True)
        all_defines = {"P_NAME": f'"{name}"', **(defines or {})}
        compile_plugin(folder / "plugin.so", all_defines, source)
        write_manifest(folder, name, **(manifest or {}))
        return folder

    return make


@pytest.fixture
def start_daemon(tmp_path: Path, midimon_env: dict[str, str]) -> Iterator[StartDaemon]:
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


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """A fresh unencrypted key pair on disk (tmp_path/keys)."""
    return new_keys(tmp_path / "keys")


@pytest.fixture
def recording_host() -> RecordingHost:
    """A fresh RecordingHost."""
    return RecordingHost()


@pytest.fixture
def make_manager(tmp_path: Path, isolated_dirs: dict[str, str], recording_host: RecordingHost):
    """Build a PluginManager over tmp_path/plugins with all its state under tmp_path.

    ``make_manager(**plugins_table)`` takes [plugins] settings; dev_mode is on unless given.
    ``clock=`` and ``sleep=`` replace the manager's monotonic clock and sleep (crash backoff).
    """
    from midimon.plugins.integrity.pins import PinStore
    from midimon.plugins.integrity.rollback import RollbackStore
    from midimon.plugins.integrity.trust import TrustStore
    from midimon.plugins.integrity.verify import IntegrityChecker
    from midimon.plugins.manager.audit import AuditLog
    from midimon.plugins.manager.grants import PluginStateStore
    from midimon.plugins.manager.plugin_manager import PluginManager
    from midimon.plugins.settings import parse_plugin_settings

    managers = []

    def make(
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **table: object,
    ) -> PluginManager:
        table.setdefault("dev_mode", True)
        state = tmp_path / "state"
        manager = PluginManager(
            parse_plugin_settings(table),
            extra_dirs=[tmp_path / "plugins"],
            host=recording_host,
            checker=IntegrityChecker(
                TrustStore(tmp_path / "trusted"),
                RollbackStore(state / "rb.json"),
                PinStore(state / "signers.json"),
            ),
            state=PluginStateStore(state / "plugin_state.json"),
            audit=AuditLog(state / "audit.jsonl"),
            clock=clock,
            sleep=sleep,
        )
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown()


@pytest.fixture
def jack_server(monkeypatch: pytest.MonkeyPatch):
    """A private JACK server (dummy backend) that this test's MIDI clients connect to.

    Needs jackd (fails under CI=true when it is missing, skips elsewhere); stopped afterwards.
    """
    from midimon.devtools.jack_server import JackServer

    require_tool("jackd")  # skip here, or fail under CI=true, before JackServer looks them up
    require_tool("jack_wait")
    server = JackServer().start()
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cleanup(jack_server):
    """Callables run after the test, before the JACK server stops (close clients first)."""
    actions: list[Callable[[], object]] = []
    yield actions
    for action in reversed(actions):
        action()
