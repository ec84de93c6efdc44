"""ci/service: the systemd user unit, the launchd agent and the user-unit installer."""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from helpers import REPO

SERVICE_DIR = REPO / "ci" / "service"
UNIT = SERVICE_DIR / "midimon.service"
PLIST = SERVICE_DIR / "org.midimon.daemon.plist"
INSTALLER = SERVICE_DIR / "install-user-service.sh"


def _unit(path: Path = UNIT) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_unit_has_the_required_sections_and_keys() -> None:
    """[Unit], [Service] and [Install] with the command, reload, restart and install target."""
    unit = _unit()
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert service["ExecStart"] == "/usr/bin/env midimon run"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert unit["Install"]["WantedBy"] == "default.target"
    assert unit["Unit"]["Description"]


def test_unit_leaves_the_plugin_sandbox_alone() -> None:
    """No setting that blocks the workers' prctl/seccomp/landlock calls, hides ALSA devices or
    needs a mount namespace (which a user manager rarely gets)."""
    service = _unit()["Service"]
    for key in ("SystemCallFilter", "PrivateTmp", "PrivateDevices", "ProtectSystem",
                "ProtectHome", "PrivateUsers", "RestrictRealtime", "MemoryDenyWriteExecute",
                "DynamicUser", "User"):  # fmt: skip
        assert key not in service, key
    assert "AF_UNIX" in service["RestrictAddressFamilies"].split()
    assert "AF_INET" in service["RestrictAddressFamilies"].split()


def _systemd_analyze() -> str:
    """systemd-analyze, or skip. It is not something midimon itself needs (only this check of
    the unit file does), so a missing one skips even under CI=true instead of failing."""
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (only needed to check the unit file)")
    return path


def _verify(unit: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"  # `--user` needs XDG_RUNTIME_DIR, not a running manager
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_LEVEL": "notice"}
    return subprocess.run(
        [_systemd_analyze(), "--user", "verify", str(unit)],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )  # fmt: skip


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """systemd's own parser: no error and no unknown or ignored setting."""
    done = _verify(UNIT, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Unknown" not in output and "ignoring" not in output, output


def test_launchd_plist_is_valid_and_complete() -> None:
    """A plist launchd accepts: label, `midimon run`, start at load, restart on crash only,
    logs under ~/Library/Logs/midimon/."""
    agent = plistlib.loads(PLIST.read_bytes())
    assert agent["Label"] == "org.midimon.daemon"
    assert agent["ProgramArguments"][-2:] == ["midimon", "run"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert agent[key].startswith("__HOME__/Library/Logs/midimon/"), agent[key]
        assert agent[key].endswith(".log")


# --------------------------------------------------------------------------- the installer


def _fake_midimon(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "midimon"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _install(home: Path, *args: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PATH=path)
    return subprocess.run(["bash", str(INSTALLER), *args], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


def test_installer_dry_run_prints_the_paths_and_writes_nothing(tmp_path: Path) -> None:
    """--dry-run names the unit file under $HOME and the midimon it found on PATH; no files."""
    home = tmp_path / "home"
    home.mkdir()
    exe = _fake_midimon(tmp_path / "bin")
    done = _install(home, "--dry-run", path=f"{exe.parent}:/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    unit = home / ".config" / "systemd" / "user" / "midimon.service"
    assert f"would write {unit}" in done.stdout
    assert f'ExecStart="{exe}" run' in done.stdout
    assert "would run: systemctl --user daemon-reload" in done.stdout
    assert "systemctl --user enable --now midimon.service" in done.stdout
    assert list(home.iterdir()) == []


def test_installer_adds_the_user_config_when_it_exists(tmp_path: Path) -> None:
    """The daemon runs the bundled config without --config, so the installer passes the
    user's config.toml when there is one."""
    home = tmp_path / "home"
    config = home / ".config" / "midimon" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("")
    exe = _fake_midimon(tmp_path / "bin")
    done = _install(home, "--dry-run", "--midimon", str(exe))
    assert done.returncode == 0, done.stderr
    assert f'ExecStart="{exe}" run --config "{config}"' in done.stdout


def test_installer_writes_the_unit_and_reloads_without_enabling(tmp_path: Path) -> None:
    """A real install (with a stand-in systemctl that records its arguments): the unit differs
    from the template only in ExecStart, and the only systemctl call is daemon-reload."""
    home = tmp_path / "home"
    home.mkdir()
    exe = _fake_midimon(tmp_path / "checkout bin")
    tools = tmp_path / "tools"
    tools.mkdir()
    calls = tmp_path / "systemctl.calls"
    systemctl = tools / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    systemctl.chmod(0o755)
    done = _install(home, "--midimon", str(exe), path=f"{tools}:/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    unit = home / ".config" / "systemd" / "user" / "midimon.service"
    assert calls.read_text().splitlines() == ["--user daemon-reload"]
    assert "systemctl --user enable --now midimon.service" in done.stdout
    written, template = _unit(unit), _unit()
    assert written["Service"]["ExecStart"] == f'"{exe}" run'
    for section in template.sections():
        for key, value in template[section].items():
            if key != "ExecStart":
                assert written[section][key] == value, (section, key)
    if shutil.which("systemd-analyze"):
        # systemd checks that the substituted path (with a space in it) is an executable
        checked = _verify(unit, tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_installer_without_a_midimon_says_so(tmp_path: Path) -> None:
    """No midimon on PATH and no --midimon: a clear error, nothing written (the checkout's
    .venv/bin/midimon is the fallback; a checkout without one is simulated by a copy)."""
    copy = tmp_path / "checkout" / "ci" / "service"
    copy.mkdir(parents=True)
    for path in (INSTALLER, UNIT):
        shutil.copy(path, copy / path.name)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PATH="/usr/bin:/bin")
    done = subprocess.run(["bash", str(copy / INSTALLER.name), "--dry-run"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "no midimon executable found" in done.stderr
    (tmp_path / "checkout" / ".venv" / "bin").mkdir(parents=True)
    exe = _fake_midimon(tmp_path / "checkout" / ".venv" / "bin")
    done = subprocess.run(["bash", str(copy / INSTALLER.name), "--dry-run"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f'ExecStart="{exe}" run' in done.stdout
