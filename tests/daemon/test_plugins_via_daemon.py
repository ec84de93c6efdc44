"""`midimon plugins ...` acts on the running daemon over IPC, and locally without one."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from helpers import RunMidimon

CONFIG = """
[device]
virtual_port = false

[[modes]]
name = "Default"
"""


@pytest.fixture
def daemon(start_daemon):
    """A running `midimon run --config CONFIG` process."""
    proc, _ = start_daemon(CONFIG)
    return proc


@pytest.fixture
def ipc(isolated_dirs: dict[str, str]):
    """Ask the daemon directly (the test process shares the daemon's XDG dirs)."""
    from midimon.daemon.client import ControlClient

    client = ControlClient()

    def request(command: str, **args: object) -> object:
        return client.request(command, args)

    yield request
    client.close()


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done


def as_json(done: subprocess.CompletedProcess) -> dict:
    return json.loads(ok(done).stdout)


def test_grant_and_revoke_go_to_the_daemon(
    daemon, ipc, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """A grant made through the CLI is in the daemon's PLUGIN_INFO and `plugins info`."""
    done = ok(run_midimon("-v", "plugins", "grant", "http_request", "network"))
    assert "granted Network" in done.stdout
    assert "through it (IPC)" in done.stderr
    assert "network" in ipc("PLUGIN_INFO", name="http_request")["granted"]
    info = as_json(run_midimon("plugins", "info", "http_request", "--json"))
    assert "network" in info["execution"]["granted"]
    assert info["name"] == "http_request" and info["sha256_actual"]
    assert info["execution"]["enforced"]  # a preview: the plugin is not loaded

    # a relative --path is the CLI's cwd (tmp_path), not the daemon's
    (tmp_path / "out").mkdir()
    ok(run_midimon("plugins", "grant", "file_log", "filesystem", "--path", "out"))
    paths = ipc("PLUGIN_INFO", name="file_log")["filesystem_paths"]
    assert paths == [str((tmp_path / "out").resolve())]

    done = ok(run_midimon("plugins", "revoke", "http_request", "network"))
    assert "revoked network" in done.stdout
    assert "network" not in ipc("PLUGIN_INFO", name="http_request")["granted"]
    done = run_midimon("plugins", "revoke", "http_request", "network")
    assert done.returncode == 1 and "had no network grant" in done.stdout


def test_load_stats_unload(daemon, ipc, run_midimon: RunMidimon) -> None:
    """`plugins load` loads in the daemon; stats and list show it; --local does not see it."""
    done = ok(run_midimon("plugins", "load", "midi_transpose"))
    assert "loaded midi_transpose" in done.stdout
    assert "midi_transpose" in ipc("STATUS")["plugins_loaded"]
    stats = as_json(run_midimon("plugins", "stats", "midi_transpose", "--json"))
    assert stats["plugin"] == "midi_transpose" and stats["loaded"] is True
    rows = as_json(run_midimon("plugins", "list", "--json"))["plugins"]
    row = next(r for r in rows if r["name"] == "midi_transpose")
    assert row["loaded"] is True and row["enabled"] is True
    done = ok(run_midimon("plugins", "list"))
    assert "STATE" in done.stdout and "loaded" in done.stdout
    info = as_json(run_midimon("plugins", "info", "midi_transpose", "--json"))
    assert info["execution"]["loaded"] is True and info["execution"]["trust"]

    # --local: this process's own manager, which has loaded nothing
    local = as_json(run_midimon("-v", "plugins", "stats", "midi_transpose", "--json", "--local"))
    assert local["loaded"] is False
    done = ok(run_midimon("-v", "plugins", "stats", "midi_transpose", "--local"))
    assert "--local given" in done.stderr

    ok(run_midimon("plugins", "unload", "midi_transpose"))
    assert ipc("STATUS")["plugins_loaded"] == []
    done = run_midimon("plugins", "unload", "midi_transpose")
    assert done.returncode == 1 and "was not loaded" in done.stdout


def test_disable_enable_round_trip(daemon, ipc, run_midimon: RunMidimon) -> None:
    """Disable stops a loaded plugin in the daemon and refuses loading; enable undoes it."""
    ok(run_midimon("plugins", "load", "midi_transpose"))
    done = ok(run_midimon("plugins", "disable", "midi_transpose"))
    assert "disabled midi_transpose" in done.stdout
    info = ipc("PLUGIN_INFO", name="midi_transpose")
    assert info["enabled"] is False and info["loaded"] is False
    stats = as_json(run_midimon("plugins", "stats", "midi_transpose", "--json"))
    assert stats["enabled"] is False
    done = run_midimon("plugins", "load", "midi_transpose")
    assert done.returncode == 1 and "disabled" in done.stderr

    ok(run_midimon("plugins", "enable", "midi_transpose"))
    assert ipc("PLUGIN_INFO", name="midi_transpose")["enabled"] is True
    ok(run_midimon("plugins", "load", "midi_transpose"))
    assert as_json(run_midimon("plugins", "stats", "midi_transpose", "--json"))["loaded"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ("grant", "no_such_plugin", "network"),
        ("revoke", "no_such_plugin", "network"),
        ("enable", "no_such_plugin"),
        ("disable", "no_such_plugin"),
        ("stats", "no_such_plugin"),
        ("info", "no_such_plugin"),
        ("load", "no_such_plugin"),
        ("unload", "no_such_plugin"),
    ],
)
def test_unknown_plugin_gets_the_daemons_message(
    daemon, run_midimon: RunMidimon, argv: tuple[str, ...]
) -> None:
    """An unknown plugin: exit 1 with the daemon's "no plugin named" message."""
    done = run_midimon("plugins", *argv)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "no plugin named 'no_such_plugin'" in done.stderr


def test_grant_refused_by_the_daemon(daemon, run_midimon: RunMidimon) -> None:
    """A capability the plugin does not ask for: the daemon's refusal, exit 1."""
    done = run_midimon("plugins", "grant", "http_request", "subprocess")
    assert done.returncode == 1 and "does not ask for subprocess" in done.stderr


def test_without_a_daemon_the_commands_act_locally(run_midimon: RunMidimon) -> None:
    """No daemon: grant/info/stats/disable/enable/list/revoke work on the local files."""
    done = ok(run_midimon("-v", "plugins", "grant", "http_request", "network"))
    assert "granted Network" in done.stdout and "no daemon is running" in done.stderr
    info = as_json(run_midimon("plugins", "info", "http_request", "--json"))
    assert "network" in info["execution"]["granted"]
    ok(run_midimon("plugins", "disable", "http_request"))
    assert as_json(run_midimon("plugins", "stats", "http_request", "--json"))["enabled"] is False
    rows = as_json(run_midimon("plugins", "list", "--json"))
    assert "search_path" in rows and any(r["name"] == "http_request" for r in rows["plugins"])
    ok(run_midimon("plugins", "enable", "http_request"))
    assert as_json(run_midimon("plugins", "stats", "http_request", "--json"))["enabled"] is True
    ok(run_midimon("plugins", "revoke", "http_request", "network"))
    done = run_midimon("plugins", "grant", "no_such_plugin", "network")
    assert done.returncode == 2 and "no plugin named" in done.stderr

    # load/unload need the daemon
    for verb in ("load", "unload"):
        done = run_midimon("plugins", verb, "http_request")
        assert done.returncode == 3 and "not running" in done.stderr


def test_local_grant_is_seen_by_a_daemon_started_later(
    run_midimon: RunMidimon, request: pytest.FixtureRequest
) -> None:
    """Grants made without a daemon are the files the daemon reads when it starts."""
    ok(run_midimon("plugins", "grant", "http_request", "network"))
    request.getfixturevalue("daemon")
    info = as_json(run_midimon("-v", "plugins", "info", "http_request", "--json"))
    assert "network" in info["execution"]["granted"]


def test_stale_socket_means_local(run_midimon: RunMidimon, midimon_env: dict[str, str]) -> None:
    """A socket file left by a dead daemon is "not running": the command acts locally."""
    path = Path(midimon_env["XDG_RUNTIME_DIR"]) / "midimon" / "midimon.sock"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # bound, never listening: connect() is refused
    done = ok(run_midimon("-v", "plugins", "stats", "http_request"))
    assert "no daemon is running" in done.stderr


def test_daemon_refuses_filesystem_grants_reaching_its_state(
    daemon, ipc, run_midimon: RunMidimon, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """Through the daemon, a Filesystem grant of /, of its state dir (by a symlink too) or of a
    relative path is refused, each refusal in the daemon's audit log; a good folder works."""
    from midimon.daemon.client import IpcError
    from midimon.paths import state_dir

    link = tmp_path / "looks-fine"
    link.symlink_to(state_dir())
    for form in ("/", str(state_dir()), str(link), "~"):
        done = run_midimon("plugins", "grant", "file_log", "filesystem", "--write", form)
        assert done.returncode != 0 and "refused filesystem path" in done.stderr, done
    with pytest.raises(IpcError, match="refused filesystem path /"):
        ipc("PLUGIN_GRANT", name="file_log", capability="filesystem", paths=["/"])
    with pytest.raises(IpcError, match="is relative"):
        ipc("PLUGIN_GRANT", name="file_log", capability="filesystem", paths=["out"])
    refused = ipc("AUDIT", plugin="file_log", event="grant_refused")
    home = midimon_env["HOME"]
    assert [e["path"] for e in refused] == ["/", str(state_dir()), str(link), home, "/"]
    (tmp_path / "files").mkdir()
    ok(run_midimon("plugins", "grant", "file_log", "filesystem", "--write", "files"))
    assert "filesystem" in ipc("PLUGIN_INFO", name="file_log")["granted"]
