"""`midimon plugins exec`: run a plugin once with params and a trigger context; exit 0, 1 or 2
with the reason."""

from __future__ import annotations

import json

import pytest
from helpers import MakePlugin, RunMidimon


@pytest.mark.parametrize(
    ("name", "defines", "fragment"),
    [
        ("cli_major", {"P_MAJOR": "2"}, "major version must be 1"),
        ("cli_null", {"P_RETURN_NULL": "1"}, "returned NULL"),
        ("cli_nosym", {"P_ENTRY": "create_plugin"}, "does not export _create_plugin"),
    ],
)
def test_cli_exec_exits_2_on_load_errors(
    make_plugin: MakePlugin, run_midimon: RunMidimon, name: str, defines: dict, fragment: str
) -> None:
    """`plugins exec` on an unloadable plugin exits 2 and prints why."""
    folder = make_plugin(name, defines=defines)
    done = run_midimon("plugins", "exec", name, "--plugins-dir", folder.parent, "--allow-unsigned")
    assert done.returncode == 2, done.stderr
    assert fragment in done.stderr


def test_cli_exec_success_and_failure(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """`plugins exec --json` reports the plugin's text; exit 0 on OK and 1 on failure."""
    ok = make_plugin("cli_ok")
    done = run_midimon(
        "plugins",
        "exec",
        "cli_ok",
        "--plugins-dir",
        ok.parent,
        "--allow-unsigned",
        "--params",
        '{"a": 1}',
        "--velocity",
        "7",
        "--note",
        "36",
        "--channel",
        "2",
        "--mode",
        "Studio",
        "--trigger",
        "note",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ok"] is True and out["status_name"] == "OK"
    assert out["message"] == 'original params={"a":1} vel=7 ch=2 num=36 val=0 kind=1 mode=Studio'
    assert out["logs"] == [{"level": "info", "message": "initialized original"}]

    make_plugin("cli_fail", defines={"P_STATUS": "MIDIMON_ERR_FAILED"})
    done = run_midimon(
        "plugins", "exec", "cli_fail", "--plugins-dir", ok.parent, "--allow-unsigned"
    )
    assert done.returncode == 1
    assert "FAILED (ERR_FAILED)" in done.stdout


def test_cli_exec_usage_errors(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """Bad --params, an out-of-range --velocity and an unknown plugin exit 2 with a message."""
    folder = make_plugin("cli_usage")
    base = ("plugins", "exec", "cli_usage", "--plugins-dir", folder.parent, "--allow-unsigned")
    done = run_midimon(*base, "--params", "{not json")
    assert done.returncode == 2 and "--params is not valid JSON" in done.stderr
    done = run_midimon(*base, "--params", "[1]")
    assert done.returncode == 2 and "must be a JSON object" in done.stderr
    done = run_midimon(*base, "--velocity", "300")
    assert done.returncode == 2 and "velocity must be an integer in 0..127" in done.stderr
    done = run_midimon("plugins", "exec", "nobody", "--plugins-dir", folder.parent)
    assert done.returncode == 2 and "no plugin named 'nobody'" in done.stderr
