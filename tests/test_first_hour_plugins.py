"""Issue 15: a refusal of a plugin command says what is wrong and what to do.

`plugins exec` of an unsigned or badly described plugin, `verify` of a binary in a build folder,
`verify`'s wording (--allow-unsigned, a skipped load, manifest fixes, rollback), and the audit
event `verify` leaves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

from helpers import REPO, MakePlugin, RunMidimon, require_tool, write_manifest

from midimon.engine.config import parse_config


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
    assert load["ok"] is True and load["skipped"] is True  # failed nothing; did not run
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


def test_scaffold_readme_config_is_valid_and_uses_dev_mode(
    run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """The generated README's config snippet validates and says dev_mode, as the guide does."""
    folder = tmp_path / "scaffolded"
    done = run_midimon("new-plugin", "snippet_c", "--lang", "c", folder)
    assert done.returncode == 0, done.stderr
    readme = (folder / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    start = lines.index("    [plugins]")
    snippet = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        snippet.append(line[4:])
    config = parse_config("\n".join(snippet), "scaffold README")
    assert config.plugins.policy.dev_mode and config.mode_names == ("Default",)
    assert "require_signatures" not in readme


def test_c_scaffold_cuts_its_message_on_a_character_boundary(
    run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """The C template's execute(), called with small buffers, never splits a UTF-8 sequence
    (the guide's rule): built with the scaffold's own source and headers."""
    compiler = require_tool("cc")
    folder = tmp_path / "cutter"
    assert run_midimon("new-plugin", "cutter", "--lang", "c", folder).returncode == 0
    harness = tmp_path / "harness.c"
    harness.write_text(
        f'#include "{folder / "src" / "cutter.c"}"\n'
        "#include <string.h>\n"
        "int main(void) {\n"
        '    static const char params[] = "{\\"message\\": \\"hé€🎹z\\"}";\n'
        "    char message[128];\n"
        "    const midimon_plugin_t *p = _create_plugin();\n"
        "    for (size_t cap = 1; cap < sizeof message; cap++) {\n"
        "        memset(message, 'X', sizeof message);\n"
        "        p->execute(p, params, sizeof params - 1, NULL, message, cap);\n"
        '        printf("%s\\n", message);\n'
        "    }\n"
        "    return 0;\n"
        "}\n",
        encoding="utf-8",
    )
    binary = tmp_path / "harness"
    subprocess.run(
        [compiler, "-std=c99", "-Wall", "-Werror", f"-I{folder / 'include'}", "-o", binary,
         harness],
        check=True,
    )  # fmt: skip
    out = subprocess.run([binary], capture_output=True, check=True).stdout
    texts = out.split(b"\n")[:-1]
    assert len(texts) == 127
    for text in texts:
        text.decode("utf-8")  # raises on a split sequence
    full = texts[-1].decode()
    assert full.endswith('message="hé€🎹z"'), full
    # every cut is a prefix of the full text, as long as fits on a boundary
    for cap, text in enumerate(texts, start=1):
        assert full.encode().startswith(text) and len(text) >= min(cap - 1, len(full.encode())) - 3


def test_guide_trusts_the_key_it_made_and_pack_takes_a_readme_only_when_there(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """writing-a-plugin.md trusts the key it created; pack adds README* only when present."""
    guide = (REPO / "docs" / "writing-a-plugin.md").read_text(encoding="utf-8")
    made = set(re.findall(r"midimon keygen [^\n]*-p (\S+\.pub)", guide))
    trusted = set(re.findall(r"midimon trust add (\S+\.pub)", guide))
    assert made and trusted <= made, (made, trusted)
    folder = make_plugin("packed")
    for readme in (False, True):
        if readme:
            (folder / "README.md").write_text("# packed\n")
        out = tmp_path / f"out{readme}"
        out.mkdir()
        done = run_midimon("pack", folder, "-o", out, "--json")
        assert done.returncode == 0, done.stderr
        with tarfile.open(next(out.iterdir())) as tar:
            names = tar.getnames()
        assert ("README.md" in names) is readme, names


def test_verify_names_the_config_setting_that_allowed_an_unsigned_plugin(
    make_plugin: MakePlugin, run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """allowed_unsigned and require_signatures = false are named as such (and not the flag)."""
    folder = make_plugin("allowed")
    sha256 = json.loads(run_midimon("verify", folder, "--json").stdout)["sha256"]
    config = Path(midimon_env["XDG_CONFIG_HOME"]) / "midimon" / "config.toml"
    config.parent.mkdir(parents=True)
    for setting, reason in (
        (f'allowed_unsigned = ["{sha256}"]', "its SHA-256 in allowed_unsigned"),
        ("require_signatures = false", "require_signatures = false"),
    ):
        config.write_text(f"[plugins]\n{setting}\n", encoding="utf-8")
        for extra in ((), ("--allow-unsigned",)):
            done = run_midimon("verify", folder, *extra)
            assert done.returncode == 0, done.stdout
            assert f"unsigned, allowed because of {reason}" in done.stdout, done.stdout
            assert "--allow-unsigned" not in done.stdout
