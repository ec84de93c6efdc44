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


def test_verify_refuses_a_signed_plugin_with_a_bad_params_schema(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """A plugin whose plugin.toml declares `min` on a string param, signed by a trusted key
    (the signature covers those very bytes): verify of the folder and of its package both fail
    with exit 1, naming the file and the field; the same plugin with a good schema verifies."""
    import dataclasses
    import tarfile

    from helpers import new_keys

    from midimon.plugins.description.manifest import parse_manifest
    from midimon.plugins.integrity.signing import sign_plugin

    keys = new_keys(tmp_path / "keys")
    trusted = run_midimon("trust", "add", keys.pub_path, "--name", "a", "--plugins", "schema_*")
    assert trusted.returncode == 0, trusted.stderr
    good_table = '\n[plugin.params.label]\ntype = "string"\ndescription = "a label"\n'
    folders = {}
    for name, table in (("schema_ok", good_table),
                        ("schema_bad", good_table + "min = 3\n")):  # fmt: skip
        folder = make_plugin(name)
        manifest_path = folder / "plugin.toml"
        plain = manifest_path.read_bytes()
        manifest_path.write_bytes(plain + table.encode())
        # Signed through the API with the manifest's bytes as they are now (`midimon sign`
        # parses the manifest first, and so refuses the bad one).
        manifest = dataclasses.replace(parse_manifest(plain, manifest_path),
                                       raw=manifest_path.read_bytes())  # fmt: skip
        assert manifest.binary is not None
        sign_plugin(manifest, manifest.binary.read_bytes(), keys.secret)
        folders[name] = folder

    done = run_midimon("verify", folders["schema_ok"])
    assert done.returncode == 0, done.stdout
    assert "verdict: OK" in done.stdout

    done = run_midimon("verify", folders["schema_bad"], "--json")
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    [manifest_check] = [c for c in report["checks"] if c["name"] == "manifest"]
    assert manifest_check["ok"] is False
    assert manifest_check["detail"] == (
        f"{folders['schema_bad'] / 'plugin.toml'}: plugin.params.label.min: is only for integer "
        "and number params (label is string)"
    )
    assert "the plugin.params.label.min entry of" in manifest_check["fix"]

    package = tmp_path / "schema_bad-1.0.0.midimon-plugin"
    with tarfile.open(package, "w:gz") as tar:
        for member in ("plugin.toml", "plugin.toml.minisig", "plugin.so", "plugin.so.minisig"):
            tar.add(folders["schema_bad"] / member, arcname=member)
    done = run_midimon("verify", package)
    assert done.returncode == 1, done.stdout
    assert "plugin.params.label.min: is only for integer and number params" in done.stdout
    assert "verdict: FAILED" in done.stdout
