"""`midimon ui` (cli/ui_cmd.py) against real processes: --url with no panel or a stale record,
no daemon, and a fresh panel on a chosen port that prints its JSON, hands the URL to $BROWSER
and removes its runtime record on SIGTERM. (A second `midimon ui` while one runs is in
tests/ui/test_security.py, beside the running panel it needs.)"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from panel_harness import browser_script, make_env, midimon, start_daemon, stop, wait_until

CONFIG = '[device]\nvirtual_port = false\n\n[[modes]]\nname = "Default"\n'


def test_url_without_a_panel_and_ui_without_a_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """--url with no panel (or only a stale record) exits 2; `midimon ui` with no daemon
    exits 3 saying how to start one."""
    env = make_env(tmp_path_factory.mktemp("nodaemon"))
    done = midimon(env, "ui", "--url")
    assert done.returncode == 2 and "no control panel is running" in done.stderr
    runtime = Path(env["XDG_RUNTIME_DIR"]) / "midimon"
    runtime.mkdir(mode=0o700)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {"url": "http://127.0.0.1:9/login?token=x", "port": 9, "pid": dead.pid, "token": "x"}
    (runtime / "panel.json").write_text(json.dumps(stale))
    done = midimon(env, "ui", "--url")
    assert done.returncode == 2 and not (runtime / "panel.json").exists()
    done = midimon(env, "ui", "--no-browser")
    assert done.returncode == 3 and "midimon is not running" in done.stderr
    assert "midimon run" in done.stderr


def test_a_fresh_panel_on_a_chosen_port_stops_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`midimon ui --port N --json` listens on N, prints {url, port, pid}, opens the browser
    on the URL, and on SIGTERM stops and removes its runtime record."""
    root = tmp_path_factory.mktemp("fresh")  # short: the daemon's socket is under it
    env = make_env(root)
    running = start_daemon(root, env, CONFIG)
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        browser, opened = browser_script(root)
        proc = subprocess.Popen(
            [sys.executable, "-m", "midimon", "ui", "--port", str(port), "--json"],
            env={**env, "BROWSER": browser}, cwd=env["HOME"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]  # print_json: indented, 5 lines
        answer = json.loads("".join(lines))
        assert answer["port"] == port and answer["pid"] == proc.pid
        assert answer["url"].startswith(f"http://127.0.0.1:{port}/login?token=")
        wait_until(lambda: opened.exists() and answer["url"] in opened.read_text())
        record = Path(env["XDG_RUNTIME_DIR"]) / "midimon" / "panel.json"
        assert record.exists()
        proc.terminate()
        assert proc.wait(15) == 0, proc.stderr.read() if proc.stderr else ""
        assert not record.exists()
    finally:
        stop(running.proc)
