"""The CLI imports only the module of the command it runs (so `midimon verify` starts fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import MakePlugin, RunMidimon

from midimon.cli import COMMAND_MODULES, COMMANDS, build_parser


def _commands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_command_table_matches_the_full_parser() -> None:
    """Every command maps to the module that registers it, and no command is missing."""
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)
    for module in COMMAND_MODULES:
        for command in _commands(build_parser((module,))):
            assert COMMANDS.get(command) == module, command
    assert _commands(build_parser()) == set(COMMANDS)


def test_verify_does_not_import_the_daemon_or_the_manager(tmp_path: Path) -> None:
    """`midimon verify` leaves the daemon, MIDI, manager and packaging modules unimported."""
    code = (
        "import sys\n"
        "from midimon.cli import main\n"
        f"main(['verify', {str(tmp_path / 'missing')!r}])\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('midimon'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = set(done.stdout.split())
    assert "midimon.cli.verify_cmd" in loaded, done.stderr
    for heavy in (
        "midimon.daemon",
        "midimon.midi",
        "midimon.plugins.manager.plugin_manager",
        "midimon.plugins.integrity.packaging",
        "midimon.cli.plugins_cmd",
    ):
        assert heavy not in loaded


def test_version_and_help_still_work() -> None:
    """--version needs no command module; --help lists every command."""
    done = subprocess.run(
        [sys.executable, "-m", "midimon", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("midimon ")
    done = subprocess.run(
        [sys.executable, "-m", "midimon", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    for command in ("verify", "run", "plugins", "install"):
        assert command in done.stdout


def test_verify_falls_back_to_a_probe_child_without_a_worker(
    make_plugin: MakePlugin, run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """With no usable midimon-worker, verify loads the plugin in a Python child instead."""
    folder = make_plugin("fallback_ok")
    midimon_env["MIDIMON_WORKER"] = str(folder / "plugin.toml")  # not executable
    done = run_midimon("verify", folder, "--json", "--allow-unsigned")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["reported"]["name"] == "fallback_ok"
    assert report["reported"]["sha256"] == report["sha256"]
