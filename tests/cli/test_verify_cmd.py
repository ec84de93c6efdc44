"""`midimon verify`: a verdict per check, exit 1 with the fix on a bad plugin, 2 on bad usage."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import MakePlugin, RunMidimon, write_manifest


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


def test_bundled_plugins_verify_as_bundled(run_midimon: RunMidimon) -> None:
    """Bundled plugins are trusted because their hashes match the installed package's RECORD."""
    listed = json.loads(run_midimon("plugins", "list", "--json").stdout)["plugins"]
    bundled = [p for p in listed if p["name"] == "http_request"]
    assert bundled, "http_request is not installed"
    done = run_midimon("verify", bundled[0]["path"], "--json")
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["trust"] == "bundled"
