"""``midimon new-plugin``: each language's scaffold builds with its printed command, runs, and
goes through the author lifecycle (verify, sign, trust, pack, install, exec, uninstall)."""

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


def _require(lang: str) -> None:
    """The external tool ``lang``'s build needs (a failure under CI, a skip elsewhere)."""
    tool = LANGS[lang][1]
    if tool:
        require_tool(tool)
    else:
        _require_zig()


def _build(lang: str, build: str, folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Run the scaffold's printed build command in ``folder``; ``env`` gets what the language's
    toolchain needs (and keeps it, for later commands)."""
    if lang == "rust":
        env["CARGO_HOME"] = str(tmp_path / "cargo-home")
        # midimon_env moves HOME; a rustup proxy still needs the real toolchains.
        rustup_home = Path(os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
        if rustup_home.is_dir():
            env["RUSTUP_HOME"] = str(rustup_home)
        build += " --offline"
    if lang == "zig":
        env["PYTHON"] = sys.executable  # the interpreter that has the ziglang package
        # A cache the runner shares between runs (ZIG_GLOBAL_CACHE_DIR set) saves the cold
        # build of Zig's std and libc pieces; otherwise a fresh one under tmp_path.
        env["ZIG_GLOBAL_CACHE_DIR"] = os.environ.get(
            "ZIG_GLOBAL_CACHE_DIR", str(tmp_path / "zig-global-cache")
        )
        env["ZIG_LOCAL_CACHE_DIR"] = str(tmp_path / "zig-cache")
    built = subprocess.run(
        build, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert built.returncode == 0, f"{build} failed:\n{built.stdout}\n{built.stderr}"


def _midimon_in(folder: Path, env: dict[str, str], *args: object, timeout: float = 120):
    """Run the installed midimon with ``folder`` as the working directory (``verify .``)."""
    return subprocess.run(
        [sys.executable, "-m", "midimon", *map(str, args)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _failed_checks(done: subprocess.CompletedProcess) -> list[dict]:
    report = json.loads(done.stdout)
    return [c for c in report["checks"] if not c["ok"]]


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_author_lifecycle(lang, run_midimon, midimon_env, tmp_path):
    """new-plugin -> build -> exec -> verify (unsigned, untrusted) -> keygen, sign, trust ->
    verify ok -> pack -> install -> exec from the user plugin dir -> uninstall; one build."""
    cap = LANGS[lang][0]
    _require(lang)
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
    _build(lang, info["build"], folder, env, tmp_path)
    build_done = time.monotonic()

    # The printed exec command runs the unsigned plugin from its folder.
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
    first_exec = time.monotonic() - started
    if lang in ("c", "zig"):  # they read params with include/midimon_params.h
        ran = run_midimon(*exec_args, "--params", '{"message": 5}', "--json", timeout=120)
        assert ran.returncode != 0
        refused = json.loads(ran.stdout)
        assert refused["status_name"] == "ERR_INVALID_PARAMS", refused
        assert '"message" must be a string' in refused["message"], refused

    # verify says exactly what is missing: a signature, and how to add one.
    verified = _midimon_in(folder, env, "verify", ".", "--json")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    failed = _failed_checks(verified)
    assert [c["name"] for c in failed] == ["integrity (unsigned)"], failed
    assert "midimon sign" in failed[0]["fix"], failed
    assert _midimon_in(folder, env, "verify", ".", "--allow-unsigned").returncode == 0

    # Signed by a key nobody trusts yet: verify names the key and `midimon trust add`.
    keys = tmp_path / "keys"
    keys.mkdir()
    done = run_midimon("keygen", "-W", "-p", keys / "author.pub", "-s", keys / "author.key")
    assert done.returncode == 0, done.stderr
    done = _midimon_in(folder, env, "sign", ".", "-s", keys / "author.key")
    assert done.returncode == 0, done.stdout + done.stderr
    verified = _midimon_in(folder, env, "verify", ".", "--json")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    failed = _failed_checks(verified)
    assert [c["name"] for c in failed] == ["integrity (untrusted_key)"], failed
    assert "midimon trust add" in failed[0]["fix"], failed

    done = run_midimon("trust", "add", keys / "author.pub", "--name", "Author", "--any")
    assert done.returncode == 0, done.stderr
    verified = _midimon_in(folder, env, "verify", ".", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert (report["verdict"], report["trust"]) == ("ok", "signed"), report

    # pack -> install -> exec from the user plugin dir -> uninstall.
    done = _midimon_in(folder, env, "pack", ".", "-o", tmp_path, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    package = Path(json.loads(done.stdout)["file"])
    assert package.parent == tmp_path and package.name.startswith(f"{name}-0.1.0-")
    grant = ["--grant", cap] if cap else ["--yes"]
    done = run_midimon("install", package, *grant, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    installed = json.loads(done.stdout)
    assert (installed["installed"], installed["signer"]) == (name, "Author"), installed
    user_dir = Path(midimon_env["XDG_DATA_HOME"]) / "midimon" / "plugins" / name
    assert (user_dir / "plugin.toml").is_file()
    ran = run_midimon("plugins", "exec", name, "--params", '{"message": "installed"}', "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert result["ok"] and result["trust"] == "signed", result
    assert result["message"].endswith('message="installed"'), result
    listed = json.loads(run_midimon("plugins", "list", "--json").stdout)["plugins"]
    assert next(r for r in listed if r["name"] == name)["path"] == str(user_dir)
    lifecycle = time.monotonic() - started

    done = run_midimon("uninstall", name, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not user_dir.exists()
    gone = run_midimon("plugins", "exec", name, "--json")
    assert gone.returncode != 0 and "no plugin named" in gone.stderr, gone.stdout + gone.stderr
    print(
        f"\n{lang}: new-plugin to first successful exec in {first_exec:.1f} s "
        f"(build {build_done - started:.1f} s); to exec of the installed, signed plugin "
        f"{lifecycle:.1f} s"
    )


def test_text_output_prints_build_and_exec(run_midimon, tmp_path):
    made = run_midimon("new-plugin", "my_plugin", "--lang", "c", "--capability", "System-Control")
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "my_plugin"  # run_midimon's cwd is tmp_path: ./NAME
    assert (folder / "include" / "midimon_plugin.h").is_file()
    assert (folder / "include" / "midimon_params.h").is_file()
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


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_trigger_plugin_scaffold_runs_in_a_daemon(
    lang, run_midimon, midimon_env, isolated_dirs, tmp_path
):
    """new-plugin --type trigger builds with its printed command, passes verify, its settings
    validate, and in a daemon whose config maps its /tick event its events (emitted from the
    plugin's own thread in a sandboxed worker) fire that mapping; stop() ends the worker
    cleanly (it exits by itself, nothing killed, no crash)."""
    from midimon.daemon.service import Daemon

    _require(lang)
    name = f"ticker_{lang}"
    folder = tmp_path / "myplugins" / name
    made = run_midimon("new-plugin", name, "--lang", lang, "--type", "trigger", str(folder))
    assert made.returncode == 0, made.stderr
    assert f'type = "Plugin", plugin = "{name}", event = "/tick"' in made.stdout
    manifest = (folder / "plugin.toml").read_text()
    assert 'type = "trigger"' in manifest and 'abi = "1.1"' in manifest
    assert "[plugin.params.interval_ms]" in manifest and "message" not in manifest
    build_command = made.stdout.split(f"cd {folder} && ", 1)[1].splitlines()[0]  # as printed
    assert build_command in (folder / "README.md").read_text()
    assert "{{" not in "".join(p.read_text() for p in folder.rglob("*") if p.is_file())
    env = dict(midimon_env)
    _build(lang, build_command, folder, env, tmp_path)
    verify = _midimon_in(folder, env, "verify", ".", "--allow-unsigned", "--json")
    assert verify.returncode == 0 and not _failed_checks(verify), verify.stdout
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{folder.parent}"]\ndev_mode = true\n'
        f"[plugins.settings.{name}]\ninterval_ms = 20\n"
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
        f'trigger = {{ type = "Plugin", plugin = "{name}", event = "/tick", value_min = 2 }}\n'
        'action = { type = "ModeChange", mode = "Default" }\n'
    )
    validated = _midimon_in(tmp_path, env, "validate", config, "--json")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert not json.loads(validated.stdout)["warnings"], validated.stdout  # interval_ms declared
    daemon = Daemon(config)
    daemon.start()
    try:
        deadline = time.monotonic() + 20
        while daemon.counters.actions_ok < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.counters.actions_ok >= 3, daemon.status()["plugin_events"]
        ticker = daemon.status()["plugin_events"]["plugins"][name]
        assert ticker["running"] and ticker["delivered"] >= ticker["received"] - 1
        assert ticker["crashes_recent"] == 0 and ticker["last_error"] is None, ticker
        trigger = daemon.plugin_events.plugins._slots[name].trigger
        assert trigger is not None
        worker = trigger.worker
    finally:
        stopping = time.monotonic()
        daemon.stop()
        stopped_in = time.monotonic() - stopping
    assert worker.wait_status == 0, worker.wait_status  # exited by itself, status 0
    assert stopped_in < 2, stopped_in
