"""`midimon plugins requests / deny / undeny` (cli/requests_cmd.py) with no daemon: the
remembered denials in the state folder, the audit events, and the refusals naming what is
wrong. (Through a running daemon: tests/daemon/test_plugin_commands.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import MakePlugin, RunMidimon


def test_deny_list_and_undeny_without_a_daemon(
    run_midimon: RunMidimon, make_plugin: MakePlugin, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """deny remembers the pair for this binary (listed by requests --all, audited as source
    cli); undeny forgets it once, then says there is nothing to forget (status 1)."""
    make_plugin("asker", defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
                manifest={"capabilities": {"network": True}})  # fmt: skip
    plugins = str(tmp_path / "plugins")
    done = run_midimon("plugins", "requests")
    assert done.returncode == 0 and "no grant requests pending" in done.stdout, done.stderr

    done = run_midimon("plugins", "deny", "asker", "network", "--plugins-dir", plugins)
    assert done.returncode == 0, done.stderr
    assert "denied network to asker" in done.stdout
    assert "midimon plugins undeny asker network" in done.stdout
    rows = json.loads(run_midimon("plugins", "requests", "--all", "--json").stdout)
    assert [(r["plugin"], r["capability"], r["state"]) for r in rows] == [
        ("asker", "network", "denied")
    ]
    assert json.loads(run_midimon("plugins", "requests", "--json").stdout) == []
    listed = run_midimon("plugins", "requests", "--all").stdout
    assert "[denied]" in listed and "undeny:   midimon plugins undeny asker network" in listed

    done = run_midimon("plugins", "undeny", "asker", "network", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["undenied"] is True, done.stderr
    again = run_midimon("plugins", "undeny", "asker", "network")
    assert again.returncode == 1 and "had no denial of network" in again.stdout
    log = Path(midimon_env["XDG_STATE_HOME"]) / "midimon" / "audit.jsonl"
    audit = [json.loads(line) for line in log.read_text().splitlines()]
    events = [(e["event"], e.get("source")) for e in audit if e.get("plugin") == "asker"]
    assert ("grant_denied", "cli") in events and ("grant_undenied", "cli") in events


def test_deny_refuses_what_the_plugin_does_not_ask_for(
    run_midimon: RunMidimon, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """A capability the plugin does not declare, an unknown capability name and an unknown
    plugin are errors that say so; nothing is remembered."""
    make_plugin("quiet")
    plugins = str(tmp_path / "plugins")
    done = run_midimon("plugins", "deny", "quiet", "network", "--plugins-dir", plugins)
    assert done.returncode != 0 and "does not ask for network" in done.stderr
    done = run_midimon("plugins", "deny", "quiet", "no_such_cap", "--plugins-dir", plugins)
    assert done.returncode != 0 and "no_such_cap" in done.stderr
    done = run_midimon("plugins", "deny", "absent", "network", "--plugins-dir", plugins)
    assert done.returncode != 0 and "absent" in done.stderr
    assert json.loads(run_midimon("plugins", "requests", "--all", "--json").stdout) == []
