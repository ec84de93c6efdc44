"""Issue 15: what a new user meets in the first hour does what the docs say.

Which config is used and where that is said, the demo, channel numbers for people, `validate`'s
warnings and suggestions, `status` and `monitor` text, and the runtime-dir fallback note.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers import REPO, RunMidimon

from midimon.cli.daemon_cmd import describe_event, for_people
from midimon.engine.config import default_config_path

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_config_choice_follows_xdg_config_home_and_is_printed(
    run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """validate (run's choice) names the bundled file, then the user's file under
    $XDG_CONFIG_HOME once it exists; README and `run --help` say the same."""
    done = run_midimon("validate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{default_config_path()}: OK (2 modes, "), done.stdout
    user = Path(midimon_env["XDG_CONFIG_HOME"]) / "midimon" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[[modes]]\nname = "Solo"\n', encoding="utf-8")
    done = run_midimon("validate")
    assert done.stdout.strip() == f"{user}: OK (1 mode, 0 mappings)", done.stdout
    help_text = " ".join(run_midimon("run", "--help").stdout.split())
    assert "$XDG_CONFIG_HOME/midimon/config.toml" in help_text
    assert "--exit-after-demo" in help_text
    assert "runs `$XDG_CONFIG_HOME/midimon/config.toml`" in README
    assert "(default: the bundled one)" not in README


def test_validate_keeps_warnings_with_errors_and_suggests_keys(
    run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """An unknown key is reported even when the file has errors, with a did-you-mean."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\nnam = "nanoPAD"\n\n[[modes]]\nname = 3\n', encoding="utf-8")
    done = run_midimon("validate", bad)
    assert done.returncode == 1
    assert "modes[0]: name: must be a non-empty string" in done.stderr, done.stderr
    assert "device: nam: unknown key, ignored (did you mean name?)" in done.stderr, done.stderr


def test_status_and_monitor_text_is_for_people() -> None:
    """No Python reprs in status; monitor numbers channels 1..16 (JSON keeps 0..15)."""
    assert for_people(["Default", "Performance"]) == "Default, Performance"
    assert for_people(None) == "-" and for_people([]) == "-"
    event = {"type": "midi", "kind": "note_on", "channel": 0, "number": 36, "value": 100}
    assert describe_event(event) == "midi     kind=note_on channel=1 number=36 value=100"
    assert event["channel"] == 0  # the event itself (and so --json) is untouched


def test_demo_runs_the_bundled_config_logs_under_state_and_says_what_next(
    run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """The demo ignores the user's config, writes its log beside midimon's state dir (not
    $HOME, and not inside midimon's own folders, which no grant may cover), and numbers
    channels 1..16 in every line for people."""
    user = Path(midimon_env["XDG_CONFIG_HOME"]) / "midimon" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[[modes]]\nname = "Mine"\n', encoding="utf-8")
    done = run_midimon("run", "--demo", "--exit-after-demo", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    log_dir = Path(midimon_env["XDG_STATE_HOME"]) / "midimon-demo"
    assert f"demo: on the bundled config; file_log writes to {log_dir}" in done.stdout
    assert "mode Default" in done.stdout and "Mine" not in done.stdout
    assert (log_dir / "midimon-pads.log").is_file()
    assert not (Path(midimon_env["HOME"]) / "midimon-pads.log").exists()
    assert "MIDI in: note_on channel 1 number 36" in done.stdout
    assert "sent note 40 -> 52 on channel 1" in done.stdout
    assert "demo: done" not in done.stdout  # --exit-after-demo: nothing left to try


def test_demo_without_exit_says_what_to_try_and_how_to_stop(
    run_midimon: RunMidimon, midimon_env: dict[str, str], tmp_path: Path
) -> None:
    """Without --exit-after-demo the daemon stays up and says so; `midimon stop` ends it."""
    import subprocess
    import sys

    daemon = subprocess.Popen(
        [sys.executable, "-m", "midimon", "run", "--demo"],
        env=midimon_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = daemon.stdout.readline()
            lines.append(line)
            if not line or line.startswith("Stop it with"):
                break
        out = "".join(lines)
        assert "demo: done; the daemon keeps running" in out, out
        assert "midimon monitor" in out and "Ctrl-C or `midimon stop`" in out
        status = run_midimon("status")
        assert status.returncode == 0, status.stderr
        assert "modes            Default, Performance" in status.stdout, status.stdout
        assert "['" not in status.stdout and "None" not in status.stdout
        assert run_midimon("stop").returncode == 0
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def test_runtime_dir_fallback_is_one_line_of_ours(
    run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """No platformdirs warning with a source line: one line naming where the socket goes."""
    del midimon_env["XDG_RUNTIME_DIR"]
    done = run_midimon("status")
    assert "RuntimeDirWarning" not in done.stderr and "platformdirs" not in done.stderr
    notes = [line for line in done.stderr.splitlines() if "XDG_RUNTIME_DIR" in line]
    assert len(notes) == 1, done.stderr
    assert "control socket goes in" in notes[0] and "set XDG_RUNTIME_DIR" in notes[0]


def test_benchmarks_command_is_documented_where_it_works(tmp_path: Path) -> None:
    """README's benchmark command works from any directory, as it says, and the benchmarks
    import nothing from tests/ (nor pytest): the JACK server is midimon.devtools.jack_server."""
    import subprocess
    import sys

    command = ".venv/bin/python -m benchmarks"
    assert f"    {command} [--quick]" in README
    assert "from any directory" in README
    assert "From the checkout root" not in README
    python = sys.executable  # the venv's python, as in the README (ci/setup.sh adds the .pth)
    for cwd in (REPO, tmp_path):
        done = subprocess.run(
            [python, "-m", "benchmarks", "--help"], cwd=cwd, capture_output=True, text=True
        )
        assert done.returncode == 0, (cwd, done.stderr)
        assert "usage: python -m benchmarks" in done.stdout
    no_tests = (
        "import sys\n"
        "sys.modules.update(pytest=None, helpers=None, conftest=None, jack=None)\n"
        "import benchmarks.__main__, benchmarks.live, benchmarks.end_to_end\n"
        "assert not any(p.rstrip('/').endswith('/tests') for p in sys.path), sys.path\n"
    )
    done = subprocess.run([python, "-c", no_tests], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for source in (REPO / "benchmarks").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "sys.path" not in text and "from tests" not in text, source.name


def test_ci_scripts_share_one_zig_cache(tmp_path: Path) -> None:
    """README's `bash ci/test.sh` (and ci/demo.sh, ci/setup.sh) reuse one Zig global cache
    under the user's cache dir, as .ci/run does, unless ZIG_GLOBAL_CACHE_DIR is set."""
    import subprocess

    def cache_dir(**env: str) -> str:
        done = subprocess.run(
            ["bash", "-c", "source ci/env.sh && echo $ZIG_GLOBAL_CACHE_DIR"],
            cwd=REPO,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert cache_dir() == f"{tmp_path}/.cache/midimon-ci-zig"
    assert cache_dir(XDG_CACHE_HOME="/c") == "/c/midimon-ci-zig"
    assert cache_dir(ZIG_GLOBAL_CACHE_DIR="/z") == "/z"
    for script in ("setup.sh", "test.sh", "demo.sh"):
        lines = (REPO / "ci" / script).read_text(encoding="utf-8").splitlines()
        assert any(line.startswith("source ci/env.sh") for line in lines), script
    assert "$HOME/.cache/midimon-ci-zig" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_monitor_shows_only_triggers_of_the_active_mode(
    tmp_path: Path, isolated_dirs: dict[str, str]
) -> None:
    """A note mapped only in an inactive mode is a MIDI event, not a trigger with actions=0."""
    from midimon.daemon.control_streams import StreamEnded
    from midimon.daemon.service import Daemon

    config = tmp_path / "modes.toml"
    config.write_text(
        '[device]\nvirtual_port = false\n[[modes]]\nname = "Default"\n'
        '[[modes]]\nname = "Other"\n[[modes.mappings]]\n'
        'trigger = { type = "Note", note = 37 }\n'
        'action = { type = "ModeChange", mode = "Default" }\n'
        '[[global_mappings]]\ntrigger = { type = "Note", note = 38 }\n'
        'action = { type = "ModeChange", mode = "Other" }\n',
        encoding="utf-8",
    )
    daemon = Daemon(config)
    events = daemon.registry.events.subscribe()
    try:
        daemon.feed(bytes([0x90, 37, 100]))  # Other's pad, while Default is active
        daemon.feed(bytes([0x90, 38, 100]))  # global: switches to Other
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e.get("type") == "action" for e in seen):
            try:
                seen.append(events.next_item(0.2))
            except StreamEnded:
                break
    finally:
        events.release()
        daemon.stop()
    triggers = [e for e in seen if e.get("type") == "trigger"]
    assert [t["number"] for t in triggers] == [38], seen
    assert triggers[0]["actions"] == 1
    assert [e["number"] for e in seen if e.get("type") == "midi"] == [37, 38]
