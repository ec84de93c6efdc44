"""`midimon devices`: the ports each MIDI API sees on a private JACK server, and an API that
cannot start."""

from __future__ import annotations

import argparse
import json

import pytest
from helpers import device_out

from midimon.cli import devices_cmd


def run_devices(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Parse ``devices ARGV`` with the command's own parser and run its handler."""
    parser = argparse.ArgumentParser(prog="midimon")
    devices_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["devices", *argv])
    status = args.handler(args)
    return status, capsys.readouterr().out


def test_devices_command_lists_ports(cleanup, capsys: pytest.CaptureFixture[str]) -> None:
    """``midimon devices --json`` lists each API's ports; the text form names them too."""
    device_out(cleanup, "pads", client="lpx")
    status, out = run_devices("--json", "--api", "jack", capsys=capsys)
    assert status == 0
    data = json.loads(out)
    assert "jack" in data["compiled_apis"]
    (jack,) = data["apis"]
    assert jack["api"] == "jack"
    assert {"index": 0, "name": "lpx:pads", "template": None} in jack["inputs"]
    status, out = run_devices(capsys=capsys)
    assert status == 0
    assert "compiled MIDI APIs:" in out and "lpx:pads" in out


def test_devices_command_without_a_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No JACK server: ``devices --api jack`` says so and exits 1."""
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "midimon-test-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    status, out = run_devices("--api", "jack", capsys=capsys)
    assert status == 1
    assert "unavailable" in out and "jack" in out


def test_devices_command_names_the_matching_template(
    cleanup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port whose name matches a shipped template's pattern is shown with that template;
    other ports with none."""
    device_out(cleanup, "APC mini mk2 Control", client="apc")
    device_out(cleanup, "pads", client="other")
    status, out = run_devices("--json", "--api", "jack", capsys=capsys)
    assert status == 0
    (jack,) = json.loads(out)["apis"]
    by_name = {p["name"]: p["template"] for p in jack["inputs"]}
    assert by_name["apc:APC mini mk2 Control"] == "apc-mini-mk2"
    assert by_name["other:pads"] is None
    status, out = run_devices("--api", "jack", capsys=capsys)
    assert "apc:APC mini mk2 Control  [template: apc-mini-mk2]" in out
