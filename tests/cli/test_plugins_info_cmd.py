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


def test_info_shows_the_declared_params(run_midimon: RunMidimon, make_plugin) -> None:
    """The text lists each param with its expected form, required or not, default, description
    and example; --json carries the schema; a plugin without one says its params are free-form."""
    done = run_midimon("plugins", "info", "http_request")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "  params:\n    url: a string, required\n" in text
    assert '    method: one of "GET", "POST", "PUT", "DELETE", optional, default "GET"\n' in text
    assert "    timeout_ms: an integer in 1..600000, optional, default 5000\n" in text
    assert "      whole milliseconds for connect + send + receive\n" in text
    assert '      e.g. url = "http://127.0.0.1:8080/pad?note={note}&velocity={velocity}"' in text
    info = json.loads(run_midimon("plugins", "info", "http_request", "--json").stdout)
    params = {p["name"]: p for p in info["params"]["params"]}
    assert list(params) == ["url", "method", "headers", "body", "timeout_ms"]
    assert params["timeout_ms"] == {
        "name": "timeout_ms", "type": "integer", "required": False, "default": 5000, "min": 1,
        "max": 600000, "description": "whole milliseconds for connect + send + receive",
        "expected": "an integer in 1..600000",
    }  # fmt: skip
    assert info["params"]["additional"] is False
    log = run_midimon("plugins", "info", "file_log").stdout
    assert "    path: a string, required\n" in log and "(other params are accepted too)" in log

    folder = make_plugin("probe_ok")
    done = run_midimon("plugins", "info", "probe_ok", "--plugins-dir", folder.parent)
    assert done.returncode == 0, done.stderr
    assert "  params:       not declared (free-form" in done.stdout
    info = json.loads(run_midimon("plugins", "info", "probe_ok", "--plugins-dir", folder.parent,
                                  "--json").stdout)  # fmt: skip
    assert info["params"] is None
