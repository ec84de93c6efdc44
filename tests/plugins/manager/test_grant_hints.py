"""A Filesystem denial prints a grant command that works as printed: the folder the params
name (or the file alone when its folder is the home folder), and --plugins-dir when the plugin
was found through one. Each hint is run through the shell, then the plugin runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MakePlugin, RunMidimon


@pytest.fixture
def shell_env(midimon_env: dict[str, str]) -> dict[str, str]:
    """The test environment with this venv's `midimon` first on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {**midimon_env, "PATH": bindir + os.pathsep + midimon_env.get("PATH", "")}


def hinted(message: str, start: str = "grant it with: ") -> str:
    """The saved-grant command of a denial message."""
    return message.split(start, 1)[1].split("; or for this run only", 1)[0]


def sh(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(["sh", "-c", command], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done


def exec_json(run_midimon: RunMidimon, *args: str) -> dict:
    done = run_midimon("plugins", "exec", *args, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_denial_names_the_folder_of_the_params_path(
    run_midimon: RunMidimon, shell_env: dict[str, str], tmp_path: Path
) -> None:
    """file_log writing ~/pads/log.jsonl: the hint grants ~/pads (created first), for good or
    for one run; the command printed works."""
    log = Path(shell_env["HOME"]) / "pads" / "log.jsonl"
    params = json.dumps({"path": str(log)})
    result = exec_json(run_midimon, "file_log", "--params", params)
    assert result["outcome"] == "denied", result
    command = hinted(result["message"])
    assert command == "mkdir -p ~/pads && midimon plugins grant file_log filesystem --write ~/pads"
    assert "run again with --grant filesystem --grant-write ~/pads" in result["message"]
    sh(command, shell_env, tmp_path)
    result = exec_json(run_midimon, "file_log", "--params", params)
    assert result["ok"], result
    assert log.read_text().count("\n") == 1


def test_a_file_in_the_home_folder_is_granted_alone(
    run_midimon: RunMidimon, shell_env: dict[str, str], tmp_path: Path
) -> None:
    """The bundled config's ~/midimon-pads.log: the home folder cannot be granted (it holds
    midimon's state), so the hint grants that one file, created first; it works."""
    log = Path(shell_env["HOME"]) / "midimon-pads.log"
    params = json.dumps({"path": str(log)})
    result = exec_json(run_midimon, "file_log", "--params", params)
    command = hinted(result["message"])
    assert command == (
        "touch ~/midimon-pads.log && midimon plugins grant file_log filesystem "
        "--write ~/midimon-pads.log"
    )
    sh(command, shell_env, tmp_path)
    for _ in range(2):
        assert exec_json(run_midimon, "file_log", "--params", params)["ok"]
    assert log.read_text().count("\n") == 2
    home = run_midimon("plugins", "grant", "file_log", "filesystem", "--write", "~")
    assert home.returncode == 2 and "your whole home folder" in home.stderr


def test_hint_repeats_plugins_dir(
    make_plugin: MakePlugin, run_midimon: RunMidimon, shell_env: dict[str, str], tmp_path: Path
) -> None:
    """A plugin found through --plugins-dir gets a hint with that option (else `plugins grant`
    could not find it), and no path to guess from: --write DIR."""
    folder = make_plugin(
        "needs_files",
        defines={"P_CAPS": "MIDIMON_CAP_FILESYSTEM"},
        manifest={"capabilities": {"filesystem": True}},
    )
    plugins = str(folder.parent)
    result = exec_json(run_midimon, "needs_files", "--plugins-dir", plugins, "--allow-unsigned")
    assert result["outcome"] == "denied", result
    command = hinted(result["message"])
    assert command == (
        f"midimon plugins grant needs_files filesystem --write DIR --plugins-dir {plugins}"
    )
    (tmp_path / "DIR").mkdir()
    sh(command, shell_env, tmp_path)
    result = exec_json(run_midimon, "needs_files", "--plugins-dir", plugins, "--allow-unsigned")
    assert result["ok"], result
