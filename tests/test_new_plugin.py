"""``midimon new-plugin``: each language's scaffold builds with its printed command and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import IN_CI, require_tool

# language -> (capability asked for, external tool its build needs)
LANGS = {"c": ("midi", "cmake"), "rust": ("network", "cargo"), "zig": (None, None)}


def _require_zig() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True
    )
    if done.returncode != 0:
        message = f"zig (python -m ziglang) is not usable: {done.stderr.strip()[:200]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_scaffold_builds_and_runs(lang, run_midimon, midimon_env, tmp_path):
    cap, tool = LANGS[lang]
    if tool:
        require_tool(tool)
    else:
        _require_zig()
    name = f"hello_{lang}"
    plugins = tmp_path / "myplugins"
    folder = plugins / name
    started = time.monotonic()

    args = ["new-plugin", name, "--lang", lang, str(folder), "--json"]
    if cap:
        args += ["--capability", cap]
    made = run_midimon(*args)
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert Path(info["path"]) == folder
    manifest = (folder / "plugin.toml").read_text()
    assert f'name = "{name}"' in manifest and 'version = "0.1.0"' in manifest
    if cap:
        assert f"{cap} = true" in manifest
        assert f"--grant {cap}" in info["exec"]
    assert info["build"] in (folder / "README.md").read_text()

    env = dict(midimon_env)
    build = info["build"]
    if lang == "rust":
        env["CARGO_HOME"] = str(tmp_path / "cargo-home")
        # midimon_env moves HOME; a rustup proxy still needs the real toolchains.
        rustup_home = Path(os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
        if rustup_home.is_dir():
            env["RUSTUP_HOME"] = str(rustup_home)
        build += " --offline"
    if lang == "zig":
        env["PYTHON"] = sys.executable  # the interpreter that has the ziglang package
        env["ZIG_GLOBAL_CACHE_DIR"] = str(tmp_path / "zig-global-cache")
        env["ZIG_LOCAL_CACHE_DIR"] = str(tmp_path / "zig-cache")
    built = subprocess.run(
        build, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert built.returncode == 0, f"{build} failed:\n{built.stdout}\n{built.stderr}"
    build_done = time.monotonic()

    exec_args = info["exec"].split()[1:]  # drop "midimon": run_midimon runs the installed one
    assert exec_args[:4] == ["plugins", "exec", name, "--plugins-dir"]
    assert Path(exec_args[4]) == plugins
    ran = run_midimon(
        *exec_args, "--note", "36", "--params", '{"message": "hi"}', "--json", timeout=120
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert result["ok"], result
    assert result["message"] == (
        f'hello from {name}: note 36 velocity 100 mode Default, message="hi"'
    )
    elapsed = time.monotonic() - started
    print(
        f"\n{lang}: new-plugin to successful exec in {elapsed:.1f} s "
        f"(build {build_done - started:.1f} s)"
    )

    verified = run_midimon("verify", folder, "--allow-unsigned")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_text_output_prints_build_and_exec(run_midimon, tmp_path):
    made = run_midimon("new-plugin", "my_plugin", "--lang", "c", "--capability", "System-Control")
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "my_plugin"  # run_midimon's cwd is tmp_path: ./NAME
    assert (folder / "include" / "midimon_plugin.h").is_file()
    assert (folder / "src" / "my_plugin.c").is_file()
    assert "cmake -S . -B build && cmake --build build" in made.stdout
    assert (
        f"midimon plugins exec my_plugin --plugins-dir {tmp_path} --allow-unsigned "
        "--grant system_control" in made.stdout
    )
    assert "MIDIMON_CAP_SYSTEM_CONTROL" in (folder / "src" / "my_plugin.c").read_text()
    assert "{{" not in "".join(p.read_text() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["Bad-Name", "--lang", "c"], "invalid plugin name 'Bad-Name'"),
        (["ok_name", "--lang", "rust", "--capability", "teleport"], "unknown capability"),
        (["ok_name", "--lang", "cobol"], "invalid choice"),
    ],
)
def test_bad_input_exits_2(run_midimon, tmp_path, args, expected):
    done = run_midimon("new-plugin", *args)
    assert done.returncode == 2
    assert expected in done.stderr
    assert not (tmp_path / "ok_name").exists()


def test_existing_non_empty_dir_is_refused(run_midimon, tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    done = run_midimon("new-plugin", "taken", "--lang", "zig", str(folder))
    assert done.returncode == 2
    assert "exists and is not empty" in done.stderr
    assert sorted(os.listdir(folder)) == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_midimon("new-plugin", "empty", "--lang", "zig", str(empty)).returncode == 0
