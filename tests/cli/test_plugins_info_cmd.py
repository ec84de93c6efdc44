"""`midimon plugins info`: path, SHA-256, ABI and risk of each bundled plugin; verify agrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import BUNDLED, BUNDLED_KIND, RunMidimon


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_info_and_verify_each_bundled_plugin(run_midimon: RunMidimon, name: str) -> None:
    """info gives path, SHA-256, ABI and risk; verify passes on folder, manifest and binary."""
    done = run_midimon("plugins", "info", name, "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert len(info["sha256_actual"]) == 64
    assert info["abi"] == BUNDLED_KIND[name][1] and info["host_abi"] == "1.1"
    assert info["capabilities"][0]["name"] == BUNDLED[name]
    assert info["capabilities"][0]["risk"] in ("low", "medium", "high")
    folder = Path(info["manifest"]).parent
    for target in (folder, folder / "plugin.toml", Path(info["binary"])):
        done = run_midimon("verify", target, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["verdict"] == "ok"
        assert report["sha256"] == info["sha256_actual"]
        assert report["reported"]["name"] == name


def test_info_says_what_a_trigger_plugin_does(run_midimon: RunMidimon) -> None:
    """For a trigger plugin, info says it feeds events in and at what cap."""
    done = run_midimon("plugins", "info", "osc_in")
    assert done.returncode == 0, done.stderr
    assert "osc_in 1.0.0 (trigger plugin)" in done.stdout
    assert "feeds events in (config: Plugin triggers), at most 1000/s" in done.stdout


def test_info_and_verify_show_the_input_device_risk(run_midimon: RunMidimon) -> None:
    """gamepad reads an input device: info and verify say so and give the one-device grant."""
    done = run_midimon("plugins", "info", "gamepad")
    assert done.returncode == 0, done.stderr
    assert "RISK:" in done.stdout and "keystrokes too" in done.stdout
    assert "midimon plugins grant gamepad filesystem --read /dev/input/by-id/" in done.stdout
    folder = Path(
        json.loads(run_midimon("plugins", "info", "gamepad", "--json").stdout)["manifest"]
    )
    verified = run_midimon("verify", folder.parent)
    assert "RISK:" in verified.stdout and "never /dev/input" in verified.stdout
