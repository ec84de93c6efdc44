"""A real `midimon run` on a private JACK server with the bundled plugins, a JACK controller
into it and a control client: what the control-panel protocol tests drive (the ``panel``
fixture in tests/daemon/conftest.py)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from helpers import open_jack_output

from midimon.daemon.client import ControlClient
from midimon.daemon.errors import IpcError

CONFIG = """
[device]
virtual_port = "midimon-panel"

[[modes]]
name = "Default"
[[modes.mappings]]
description = "log pad"
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}" }} }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 41 }}
action = {{ type = "Plugin", plugin = "http_request", params = {{ url = "http://127.0.0.1:9/" }} }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 60 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ semitones = 12 }} }}
[[modes.mappings]]
description = "net pad"
trigger = {{ type = "Note", note = 42 }}
action = {{ type = "Plugin", plugin = "net_probe", params = {{}} }}
"""


class Panel:
    """A running daemon, a JACK controller into it, and the test's control client."""

    def __init__(self, start_daemon, env: dict[str, str], tmp_path: Path) -> None:
        self.start_daemon, self.env, self.tmp_path = start_daemon, env, tmp_path
        self.log = tmp_path / "files" / "pads.jsonl"
        self.log.parent.mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.controller: Any = None
        self.client: ControlClient | None = None
        self.events: list[dict[str, Any]] = []

    def start(self) -> None:
        self.proc, _ = self.start_daemon(CONFIG.format(log=self.log), self.env)
        self.controller = open_jack_output("midimon-panel")
        self.client = ControlClient(timeout=30)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.delete()
            self.controller = None
        if self.client is not None:
            self.client.request("STOP")
            self.client.close()
            self.client = None
        if self.proc is not None:
            self.proc.wait(20)

    def press(self, note: int, times: int = 1) -> None:
        for _ in range(times):
            self.controller.send_message([0x90, note, 100])
            self.controller.send_message([0x80, note, 0])
            time.sleep(0.02)

    def request(self, command: str, args: dict[str, Any] | None = None) -> Any:
        assert self.client is not None
        return self.client.request(command, args)

    def listen(self, types: list[str]) -> None:
        """Collect EVENTS of these types into self.events, in a thread."""
        ready = threading.Event()

        def run() -> None:
            with ControlClient(timeout=30) as listener:
                stream = listener.stream("EVENTS", {"types": types}, timeout=None)
                ready.set()
                try:
                    for event in stream:
                        self.events.append(event)
                except IpcError:
                    pass

        threading.Thread(target=run, daemon=True).start()
        assert ready.wait(10)
        time.sleep(0.3)  # the subscription is made once the request reached the daemon

    def audit(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.request("AUDIT", {"event": event})]
