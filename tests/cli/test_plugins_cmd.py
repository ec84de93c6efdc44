"""`midimon plugins list` on the bundled plugins and on broken or duplicate folders."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import BUNDLED, BUNDLED_KIND, MakePlugin, RunMidimon


def test_list_shows_the_three_bundled_plugins(run_midimon: RunMidimon) -> None:
    """On a fresh install `plugins list --json` finds every bundled plugin, verified; those
    asking for more than the auto-granted MIDI say they will not run until granted, and how."""
    done = run_midimon("plugins", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["plugins"]}
    for name, capability in BUNDLED.items():
        assert name in rows, f"bundled plugin {name} not built or not installed"
        row = rows[name]
        if capability == "midi":
            assert (row["status"], row["problem"]) == ("ok", None)
        else:
            assert row["status"] == "not granted: will not run"
            assert f"needs {capability}, not granted; fix: " in row["problem"]
            assert f"midimon plugins grant {name} {capability}" in row["problem"]
        assert row["capabilities"] == [capability]
        assert (row["type"], row["abi"], row["version"]) == (*BUNDLED_KIND[name], "1.0.0")
        assert Path(row["binary"]).is_file()


def test_list_text_table(run_midimon: RunMidimon) -> None:
    """The text form has a header and one row per plugin."""
    done = run_midimon("plugins", "list")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split()[:7] == [
        "NAME",
        "VERSION",
        "TYPE",
        "ABI",
        "CAPABILITIES",
        "STATUS",
        "PATH",
    ]
    for name in BUNDLED:
        assert any(line.startswith(name + " ") for line in lines)


def test_list_reports_bad_manifest_and_duplicate(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """A bad manifest and a duplicate of a bundled name are reported (the bundled copy runs);
    the list still works."""
    extra = tmp_path / "extra"
    make_plugin("file_log", root=extra, folder_name="my_file_log")
    broken = extra / "broken"
    broken.mkdir()
    (broken / "plugin.toml").write_text("[plugin]\nname = 3\n")
    done = run_midimon("plugins", "list", "--json", "--plugins-dir", extra)
    assert done.returncode == 0
    out = json.loads(done.stdout)
    rows = {row["name"]: row for row in out["plugins"]}
    # --plugins-dir comes first, but file_log is pinned to the installation: the bundled runs
    assert "bundled_plugins" in rows["file_log"]["path"]
    assert "is pinned to bundled with midimon" in rows["file_log"]["copy"]
    kinds = sorted(p["kind"] for p in out["problems"])
    assert kinds == ["duplicate", "error"]
    duplicate = next(p for p in out["problems"] if p["kind"] == "duplicate")
    assert duplicate["path"] == str(extra / "my_file_log" / "plugin.toml")
    assert "(unsigned) is not used" in duplicate["message"]
    assert str(extra) == out["search_path"][0]
