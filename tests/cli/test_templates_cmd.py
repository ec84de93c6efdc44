"""`midimon templates list|show|use`: the shipped device templates, and a starter config that
validates and runs a daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import RunMidimon


def test_list_and_show(run_midimon: RunMidimon) -> None:
    """`list` names every template; `show` prints one, with its source; --json on both."""
    done = run_midimon("templates", "list")
    assert done.returncode == 0, done.stderr
    for name in ("launchpad-mini-mk3", "apc-mini-mk2", "nanopad2", "beatstep", "gm-drum-4x4"):
        assert name in done.stdout
    listed = json.loads(run_midimon("templates", "list", "--json").stdout)
    assert {t["name"] for t in listed} >= {"apc-mini-mk2", "beatstep"}
    shown = run_midimon("templates", "show", "apc-mini-mk2")
    assert shown.returncode == 0 and "Communication Protocol" in shown.stdout
    assert "brightness by velocity" in shown.stdout
    data = json.loads(run_midimon("templates", "show", "beatstep", "--json").stdout)
    assert data["knobs"]["ccs"][0] == 10 and data["leds"]["message"] == "none"
    missing = run_midimon("templates", "show", "nope")
    assert missing.returncode == 2 and "no device template 'nope'" in missing.stderr


def test_use_writes_a_config_and_refuses_to_overwrite(
    run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """`use` writes a config that `validate` accepts; a second `use` refuses without --force."""
    target = tmp_path / "lp.toml"
    done = run_midimon("templates", "use", "launchpad-mini-mk3", "--output", target)
    assert done.returncode == 0, done.stderr
    assert target.read_text().count("[[modes.mappings]]") == 2 * 64
    valid = run_midimon("validate", target)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    target.write_text("# mine\n")
    again = run_midimon("templates", "use", "apc-mini-mk2", "--output", target)
    assert again.returncode == 2 and "--force" in again.stderr
    assert target.read_text() == "# mine\n"
    forced = run_midimon("templates", "use", "apc-mini-mk2", "--output", target, "--force")
    assert forced.returncode == 0 and "APC mini mk2" in target.read_text()


def test_a_daemon_runs_on_every_starter_config(
    jack_server, start_daemon, run_midimon: RunMidimon, tmp_path: Path, midimon_env
) -> None:
    """Each template's starter config starts a real daemon (on a private JACK server) that
    reports its modes."""
    env = {**midimon_env, **jack_server.env}
    for name in ("launchpad-mini-mk3", "apc-mini-mk2", "nanopad2", "beatstep", "gm-drum-4x4"):
        target = tmp_path / f"{name}.toml"
        assert run_midimon("templates", "use", name, "--output", target).returncode == 0
        valid = run_midimon("validate", target)
        assert valid.returncode == 0, valid.stdout + valid.stderr
        proc, _ = start_daemon(target.read_text(), env=env)
        status = subprocess.run(
            [sys.executable, "-m", "midimon", "status", "--json"],
            env=env, cwd=tmp_path, capture_output=True, text=True,
        )  # fmt: skip
        assert json.loads(status.stdout)["modes"] == ["Default", "Second"]
        proc.terminate()
        proc.wait(15)
