"""Issue 15: a refusal of a plugin command says what is wrong and what to do.

`plugins exec` of an unsigned or badly described plugin, `verify` of a binary in a build folder,
`verify`'s wording (--allow-unsigned, a skipped load, manifest fixes, rollback), and the audit
event `verify` leaves.
"""

from __future__ import annotations

import json
import os

from conftest import MakePlugin, RunMidimon
from helpers import write_manifest


def test_exec_unsigned_gives_the_fix(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """Not just "no signature": how to sign it or allow it, as `install` says."""
    folder = make_plugin("unsigned_one")
    done = run_midimon("plugins", "exec", "unsigned_one", "--plugins-dir", folder.parent)
    assert done.returncode == 2
    assert "no signature:" in done.stderr, done.stderr
    assert "  fix: sign it (midimon sign" in done.stderr and "--allow-unsigned" in done.stderr
    assert "dev_mode" in done.stderr


def test_exec_names_an_invalid_manifest(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """NAME/plugin.toml exists but is invalid: the error names the file and its field."""
    folder = make_plugin("broken_one")
    no_abi = '[plugin]\nname = "broken_one"\nversion = "1.0.0"\ntype = "action"\n'
    (folder / "plugin.toml").write_text(no_abi)
    done = run_midimon("plugins", "exec", "broken_one", "--plugins-dir", folder.parent)
    assert done.returncode == 2
    assert f"{folder / 'plugin.toml'}: plugin.abi: missing" in done.stderr, done.stderr
    assert "no plugin named" not in done.stderr and "fix: correct" in done.stderr


def test_verify_finds_the_plugin_folder_above_a_build_folder(
    make_plugin: MakePlugin, run_midimon: RunMidimon
) -> None:
    """The scaffolds' layouts (C build/, Rust target/release/): verify the binary there."""
    for sub in ("build", "target/release"):
        name = "built_" + sub.split("/")[0]
        folder = make_plugin(name)
        (folder / sub).mkdir(parents=True)
        binary = folder / sub / f"lib{name}.so"
        os.replace(folder / "plugin.so", binary)
        write_manifest(folder, name, binary=f"{sub}/lib{name}.so")
        done = run_midimon("verify", binary, "--allow-unsigned")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{folder / 'plugin.toml'} is valid" in done.stdout
    lone = folder.parent / "lone.so"
    lone.write_bytes(b"\x7fELF")
    done = run_midimon("verify", lone)
    assert done.returncode == 2 and "pass the plugin folder" in done.stderr


def test_verify_wording(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """--allow-unsigned is named as the reason; a load not tried is [skip], not [ok]; a bad
    manifest's fix names the file and field."""
    folder = make_plugin("worded")
    done = run_midimon("verify", folder, "--allow-unsigned")
    assert done.returncode == 0, done.stdout
    assert "accepted by --allow-unsigned" in done.stdout
    assert "require_signatures = false" not in done.stdout
    done = run_midimon("verify", folder)
    assert done.returncode == 1
    assert "[skip] load: not attempted" in done.stdout and "[ok  ] load" not in done.stdout
    report = json.loads(run_midimon("verify", folder, "--json").stdout)
    load = next(c for c in report["checks"] if c["name"] == "load")
    assert load["ok"] is None and load["skipped"] is True
    no_abi = '[plugin]\nname = "worded"\nversion = "1.0.0"\ntype = "action"\n'
    (folder / "plugin.toml").write_text(no_abi)
    done = run_midimon("verify", folder)
    assert done.returncode == 1
    assert f"fix: correct the plugin.abi entry of {folder / 'plugin.toml'}" in done.stdout
    assert "fix the field named in the message" not in done.stdout


def test_verify_is_in_the_audit_log(
    make_plugin: MakePlugin, run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """`midimon verify` leaves a verify event, as docs/signing-and-trust.md's example expects."""
    folder = make_plugin("audited")
    run_midimon("verify", folder, "--allow-unsigned")
    done = run_midimon("audit", "--event", "verify", "--plugin", "audited", "--json")
    events = json.loads(done.stdout)["events"]
    assert [e["source"] for e in events] == ["midimon verify"], events
    assert events[0]["trust"] == "unsigned-allowed"


def test_rollback_fix_names_the_override(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """The anti-rollback refusal's fix names [plugins.overrides.NAME] allow_downgrade."""
    new = make_plugin("rolled", defines={"P_VERSION": '"2.0.0"'}, manifest={"version": "2.0.0"})
    args = ("plugins", "exec", "rolled", "--allow-unsigned", "--plugins-dir", new.parent)
    done = run_midimon(*args)
    assert done.returncode == 0, done.stderr  # 2.0.0 accepted and recorded
    make_plugin("rolled")  # the same folder, now 1.0.0
    done = run_midimon(*args)
    assert done.returncode == 2
    assert "rollback refused for rolled" in done.stderr, done.stderr
    assert "fix: to accept the older one, set allow_downgrade = true under " in done.stderr
    assert "[plugins.overrides.rolled]" in done.stderr
