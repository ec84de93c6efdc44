"""The manager's commands: grant/revoke/enable/disable/stats/info/audit, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import MakePlugin, RunMidimon


def exec_json(run_midimon: RunMidimon, name: str, folder: Path, *extra: str) -> tuple[int, dict]:
    done = run_midimon("plugins", "exec", name, "--plugins-dir", folder.parent,
                       "--allow-unsigned", "--json", *extra)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_grant_revoke_persist_across_commands(
    make_plugin: MakePlugin, run_midimon: RunMidimon
) -> None:
    """A grant made by one command is used by the next; revoke takes it away again."""
    folder = make_plugin(
        "netty",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    code, out = exec_json(run_midimon, "netty", folder)
    assert code == 1 and out["outcome"] == "denied"
    assert "midimon plugins grant netty network" in out["message"]
    done = run_midimon("plugins", "grant", "netty", "network", "--plugins-dir", folder.parent)
    assert done.returncode == 0 and "Network (medium risk)" in done.stdout
    code, out = exec_json(run_midimon, "netty", folder)
    assert code == 0 and out["granted"] == ["network"] and out["isolation"] == "isolated"
    info = json.loads(
        run_midimon("plugins", "info", "netty", "--plugins-dir", folder.parent, "--json").stdout
    )
    assert info["execution"]["granted"] == ["network"]
    assert any("Landlock" in line for line in info["execution"]["enforced"])
    assert (
        run_midimon(
            "plugins", "revoke", "netty", "network", "--plugins-dir", folder.parent
        ).returncode
        == 0
    )
    code, out = exec_json(run_midimon, "netty", folder)
    assert out["outcome"] == "denied"


def test_grant_errors(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """Unknown capabilities, undeclared ones and unknown plugins are usage errors (exit 2)."""
    folder = make_plugin("plain")
    base = ("--plugins-dir", folder.parent)
    done = run_midimon("plugins", "grant", "plain", "telepathy", *base)
    assert done.returncode == 2 and "unknown capability 'telepathy'" in done.stderr
    done = run_midimon("plugins", "grant", "plain", "network", *base)
    assert done.returncode == 2 and "does not ask for network" in done.stderr
    done = run_midimon("plugins", "grant", "ghost", "network", *base)
    assert done.returncode == 2 and "no plugin named 'ghost'" in done.stderr


def test_disable_enable_and_audit(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """disable stops exec (exit 1); enable restores it; audit lists both, filterable, as JSON."""
    folder = make_plugin("toggled")
    base = ("--plugins-dir", folder.parent)
    assert run_midimon("plugins", "disable", "toggled", *base).returncode == 0
    code, out = exec_json(run_midimon, "toggled", folder)
    assert code == 1 and out["outcome"] == "disabled"
    assert run_midimon("plugins", "enable", "toggled", *base).returncode == 0
    code, out = exec_json(run_midimon, "toggled", folder)
    assert code == 0
    events = json.loads(run_midimon("audit", "--json", "--plugin", "toggled").stdout)["events"]
    kinds = [e["event"] for e in events]
    assert kinds.index("disable") < kinds.index("enable") < kinds.index("load")
    assert all(e["plugin"] == "toggled" for e in events)
    recent = json.loads(run_midimon("audit", "--json", "--since", "1h").stdout)["events"]
    assert len(recent) >= len(events)
    future = json.loads(run_midimon("audit", "--json", "--since", "2999-01-01").stdout)["events"]
    assert future == []
    text = run_midimon("audit", "--event", "disable").stdout
    assert "disable" in text and "toggled" in text
    assert run_midimon("audit", "--since", "yesterday-ish").returncode == 2


def test_stats_command(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """stats --json answers for a known plugin (a fresh process has run nothing yet)."""
    folder = make_plugin("counted_cli")
    done = run_midimon("plugins", "stats", "counted_cli", "--plugins-dir", folder.parent, "--json")
    assert done.returncode == 0
    stats = json.loads(done.stdout)
    assert stats["executions"] == 0 and stats["enabled"] is True
