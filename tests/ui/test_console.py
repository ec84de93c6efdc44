"""The live console, mode switch and Learn (midimon/ui/console.py) over real HTTP against a
real `midimon ui` and daemon on a private JACK dummy server: a pad pressed over JACK reaches
the console as its MIDI in, trigger and action rows, reloads and mode changes come too;
/api/mode switches the daemon's mode (STATUS says so); Learn hands back the pad pressed, as
`midimon learn` detects it; the console needs the session key like every API path."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import open_jack_output
from panel_harness import Daemon, Http, control, start_daemon, start_panel, stop, wait_until

CONFIG = """
[device]
virtual_port = "midimon-console"

[[modes]]
name = "Default"
[[modes.mappings]]
description = "to Other"
trigger = { type = "Note", note = 36 }
action = { type = "ModeChange", mode = "Other" }

[[modes]]
name = "Other"
[[modes.mappings]]
description = "back"
trigger = { type = "Note", note = 36 }
action = { type = "ModeChange", mode = "Default" }
"""


@pytest.fixture(scope="module")
def daemon(ui_root: Path, jack_env: dict[str, str]) -> Iterator[Daemon]:
    running = start_daemon(ui_root, jack_env, CONFIG)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[Http]:
    panel = start_panel(daemon.env, daemon.root)
    yield Http(panel).login()
    stop(panel.proc)


@pytest.fixture(scope="module")
def pads(daemon: Daemon) -> Iterator[Any]:
    out = open_jack_output("midimon:midimon-console", client="console-test-pads")

    def press(note: int) -> None:
        out.send_message([0x90, note, 100])
        out.send_message([0x80, note, 0])

    yield press
    out.delete()


class Console:
    """The console's event stream, read by a thread."""

    def __init__(self, api: Http, key: str | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self._conn = http.client.HTTPConnection("127.0.0.1", api.panel.port, timeout=60)
        self._conn.request(
            "GET", f"/api/console?key={api.key if key is None else key}",
            headers={"Host": f"127.0.0.1:{api.panel.port}", "Cookie": api.cookie},
        )  # fmt: skip
        self.response = self._conn.getresponse()
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.response:
                if line.startswith(b"data: "):
                    self.received.append(json.loads(line[6:]))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("type") == kind]

    def close(self) -> None:
        self._conn.close()


def test_a_press_reaches_the_console_as_midi_trigger_action_and_mode(
    api: Http, daemon: Daemon, pads: Any
) -> None:
    """hello names the mode and modes; one press gives its note_on, its trigger, its action's
    result and the mode change it made; a reload shows too."""
    console = Console(api)
    try:
        assert console.response.getheader("Content-Type") == "text/event-stream"
        wait_until(lambda: bool(console.of("hello")))
        assert console.of("hello")[0]["modes"] == ["Default", "Other"]
        time.sleep(0.3)  # the daemon takes the console's subscription
        pads(36)
        wait_until(lambda: console.of("mode") and console.of("action"), 10)
        midi = [e for e in console.of("midi") if e["kind"] == "note_on"]
        assert midi and midi[0]["number"] == 36
        assert console.of("trigger")[0]["number"] == 36
        assert console.of("action")[0]["ok"]
        assert console.of("mode")[0]["mode"] == "Other"
        control(daemon.env, "RELOAD")
        wait_until(lambda: bool(console.of("reload")))
        pads(36)  # back to Default
        wait_until(lambda: len(console.of("mode")) == 2)
    finally:
        console.close()


def test_the_mode_switch(api: Http, daemon: Daemon) -> None:
    """/api/mode is the daemon's SET_MODE; an unknown mode is refused with the modes named."""
    assert api.post("/api/mode", {"mode": "Other"}) == (200, {"mode": "Other"})
    assert control(daemon.env, "STATUS")["mode"] == "Other"
    status, answer = api.post("/api/mode", {"mode": "Nope"})
    assert status == 409 and "modes: Default, Other" in answer["error"]
    assert api.post("/api/mode", {"mode": "Default"})[0] == 200


def test_learn_gives_the_pad_pressed(api: Http, pads: Any) -> None:
    """Learn waits for the next pad (as `midimon learn --json`) and gives its Note trigger."""
    answer: list[Any] = []
    thread = threading.Thread(
        target=lambda: answer.append(api.post("/api/editor/learn", {"timeout": 20})), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while thread.is_alive() and time.monotonic() < deadline:
        pads(45)
        thread.join(0.3)
    assert answer, "learn did not answer"
    status, learned = answer[0]
    assert status == 200, learned
    assert learned["trigger"] == {"type": "Note", "note": 45, "channel": 0}
    assert learned["toml"] == 'trigger = { type = "Note", note = 45, channel = 0 }'


def test_the_console_needs_the_key(api: Http) -> None:
    """Without the session key the console stream is refused (403)."""
    console = Console(api, key="wrong")
    try:
        assert console.response.status == 403
    finally:
        console.close()
