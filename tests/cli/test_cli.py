"""The command line on the bundled plugins: list, info, verify, help, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import MakePlugin, RunMidimon, write_manifest

from midimon.cli import build_parser

BUNDLED = {"http_request": "network", "file_log": "filesystem", "midi_transpose": "midi"}


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
        assert (row["type"], row["abi"], row["version"]) == ("action", "1.0", "1.0.0")
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


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_info_and_verify_each_bundled_plugin(run_midimon: RunMidimon, name: str) -> None:
    """info gives path, SHA-256, ABI and risk; verify passes on folder, manifest and binary."""
    done = run_midimon("plugins", "info", name, "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert len(info["sha256_actual"]) == 64
    assert info["abi"] == "1.0" and info["host_abi"] == "1.0"
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


def test_verify_failures_exit_1_with_a_fix(
    make_plugin: MakePlugin, run_midimon: RunMidimon
) -> None:
    """Missing binary, ABI mismatch in the binary and a bad manifest each exit 1 and say why."""
    gone = make_plugin("vgone")
    (gone / "plugin.so").unlink()
    done = run_midimon("verify", gone)
    assert done.returncode == 1
    assert "binary not found" in done.stdout and "fix:" in done.stdout

    major = make_plugin("vmajor", defines={"P_MAJOR": "2"})
    done = run_midimon("verify", major, "--json", "--allow-unsigned")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["verdict"] == "failed"
    assert any("major version must be 1" in c["detail"] for c in report["checks"] if not c["ok"])

    bad = make_plugin("vbad")
    write_manifest(bad, "vbad", binary="../../../x.so")
    done = run_midimon("verify", bad)
    assert done.returncode == 1 and "escapes the plugin folder" in done.stdout


def test_verify_survives_a_plugin_that_crashes_on_load(
    make_plugin: MakePlugin, run_midimon: RunMidimon
) -> None:
    """A _create_plugin that segfaults makes verify fail (exit 1), not crash."""
    source = (
        '#include "midimon_plugin.h"\n'
        "MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) {\n"
        "    volatile int *p = (int *)0; *p = 1; return 0; }\n"
    )
    folder = make_plugin("vcrash", source=source)
    done = run_midimon("verify", folder, "--allow-unsigned")
    assert done.returncode == 1
    assert "crashed while loading (SIGSEGV)" in done.stdout


def test_verify_usage_errors(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """A path that does not exist, or a folder without plugin.toml, exits 2."""
    assert run_midimon("verify", tmp_path / "nope").returncode == 2
    done = run_midimon("verify", tmp_path)
    assert done.returncode == 2 and "no plugin.toml" in done.stderr


def _all_commands(parser, prefix=()):
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            yield (*prefix, name)
            yield from _all_commands(sub, (*prefix, name))


@pytest.mark.parametrize("command", list(_all_commands(build_parser())))
def test_every_command_has_help(run_midimon: RunMidimon, command: tuple[str, ...]) -> None:
    """Every command and subcommand answers --help with a usage line and exit 0."""
    done = run_midimon(*command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: midimon " + " ".join(command))


def test_no_command_is_a_usage_error(run_midimon: RunMidimon) -> None:
    """Running midimon with no command prints usage and exits 2."""
    done = run_midimon()
    assert done.returncode == 2 and "usage:" in done.stderr
