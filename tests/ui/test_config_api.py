"""The editor's save road (midimon/ui/config_api.py) over real HTTP, against a real `midimon
ui` and a real daemon on a private JACK dummy server: a save that changes a plugin's params
keeps every comment of the file and the daemon runs the new mapping on the next press; an
invalid edit is refused with the daemon's own error and nothing is written; a file changed on
disk meanwhile is refused with the difference; undo puts the old file back; the save road
takes the same Origin and key checks as every state-changing route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import open_jack_output, wait_for
from panel_harness import Daemon, Http, Panel, control, midimon, start_daemon, start_panel, stop

CONFIG = """# My pads (this comment must survive every save)
[device]
virtual_port = "midimon-edit"

# The one mode
[[modes]]
name = "Default"

# Pad 38 logs the hit
[[modes.mappings]]
description = "log pad"
trigger = {{ type = "Note", note = 38 }}  # the snare pad
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}" }} }}

# Pad 40 echoes an octave up
[[modes.mappings]]
description = "transpose pad"
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ semitones = 12 }} }}
"""


@pytest.fixture(scope="module")
def daemon(ui_root: Path, jack_env: dict[str, str]) -> Iterator[Daemon]:
    """`midimon run` with pad 38 on file_log (granted the logs folder) and 40 on midi_transpose."""
    logs = Path(jack_env["HOME"]) / "logs"
    logs.mkdir()
    running = start_daemon(ui_root, jack_env, CONFIG.format(log=logs / "first.log"))
    granted = midimon(jack_env, "plugins", "grant", "file_log", "filesystem", "--write", logs)
    assert granted.returncode == 0, granted.stderr
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[Http]:
    """A logged-in session on `midimon ui --no-browser` for that daemon."""
    panel: Panel = start_panel(daemon.env, daemon.root)
    yield Http(panel).login()
    stop(panel.proc)


def press(note: int) -> None:
    """One press of a pad, from a JACK output into the daemon."""
    out = open_jack_output("midimon:midimon-edit", client="edit-test-pads")
    try:
        out.send_message([0x90, note, 100])
        out.send_message([0x80, note, 0])
    finally:
        out.delete()


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def loaded(api: Http) -> dict[str, Any]:
    status, answer = api.get("/api/config")
    assert status == 200, answer
    return dict(answer)


def test_save_keeps_comments_and_the_daemon_runs_the_new_params(api: Http, daemon: Daemon) -> None:
    """The page's config with file_log's path changed: the file changes on that line only,
    `midimon validate` accepts it, the daemon reloads, and the pad writes the new file."""
    path = daemon.root / "config.toml"
    page = loaded(api)
    assert page["path"] == str(path) and page["text"] == path.read_text()
    config = page["config"]
    new_log = Path(daemon.env["HOME"]) / "logs" / "second.log"
    config["modes"][0]["mappings"][0]["action"]["params"]["path"] = str(new_log)
    reloads = control(daemon.env, "STATUS")["reloads"]
    status, answer = api.post("/api/config/save", {"version": page["version"], "config": config})
    assert status == 200 and answer["ok"] and answer["reload"]["ok"], answer
    text = path.read_text()
    assert comments(text) == comments(page["text"])
    assert text == page["text"].replace(str(new_log.with_name("first.log")), str(new_log))
    assert control(daemon.env, "STATUS")["reloads"] == reloads + 1
    assert midimon(daemon.env, "validate", path).returncode == 0
    press(38)
    assert wait_for(lambda: new_log.exists() and new_log.read_text().strip() != "", 10), (
        daemon.log.read_text()[-2000:]
    )
    assert json.loads(new_log.read_text().splitlines()[-1])["context"]["note"] == 38


def test_an_invalid_edit_is_refused_and_nothing_is_written(api: Http, daemon: Daemon) -> None:
    """A param out of its schema's range: /check and /save both give the daemon's error naming
    the param (as `midimon validate` does), the file keeps its bytes, no reload happens."""
    path = daemon.root / "config.toml"
    page = loaded(api)
    config = page["config"]
    config["modes"][0]["mappings"][1]["action"]["params"]["semitones"] = 500
    status, check = api.post("/api/config/check", {"config": config})
    assert status == 200 and not check["ok"] and "semitones" in "\n".join(check["errors"])
    assert "semitones = 500" in check["text"]
    before = path.read_bytes()
    reloads = control(daemon.env, "STATUS")["reloads"]
    status, answer = api.post("/api/config/save", {"version": page["version"], "config": config})
    assert status == 422 and "semitones" in "\n".join(answer["errors"]), answer
    assert path.read_bytes() == before
    assert control(daemon.env, "STATUS")["reloads"] == reloads
    assert not [p for p in path.parent.iterdir() if ".check." in p.name]
    bad = daemon.root / "bad.toml"
    bad.write_text(check["text"])
    cli = midimon(daemon.env, "validate", bad)
    assert cli.returncode != 0 and "semitones" in cli.stdout + cli.stderr


def test_a_change_on_disk_is_refused_with_the_difference(api: Http, daemon: Daemon) -> None:
    """The file edited by hand after the page read it: the save is refused (409) with a diff
    showing the hand edit, the hand edit stays; saving on the new version then works."""
    path = daemon.root / "config.toml"
    page = loaded(api)
    path.write_text(path.read_text().replace("# The one mode", "# The only mode (by hand)"))
    config = page["config"]
    config["modes"][0]["mappings"][1]["description"] = "octave pad"
    status, answer = api.post("/api/config/save", {"version": page["version"], "config": config})
    assert status == 409 and answer["conflict"], answer
    assert "-# The one mode\n+# The only mode (by hand)\n" in answer["diff"]
    assert "by hand" in path.read_text() and "octave pad" not in path.read_text()
    status, answer = api.post("/api/config/save", {"version": answer["version"], "config": config})
    assert status == 200, answer
    assert "by hand" in path.read_text() and 'description = "octave pad"' in path.read_text()


def test_undo_puts_back_the_file_before_the_last_save(api: Http, daemon: Daemon) -> None:
    """Undo restores the previous bytes and reloads; a second undo has nothing to undo."""
    path = daemon.root / "config.toml"
    page = loaded(api)
    config = page["config"]
    config["modes"][0]["mappings"].append(
        {"description": "added", "trigger": {"type": "Note", "note": 41},
         "action": {"type": "Plugin", "plugin": "midi_transpose", "params": {"semitones": 7}}}
    )  # fmt: skip
    status, saved = api.post("/api/config/save", {"version": page["version"], "config": config})
    assert status == 200, saved
    assert 'description = "added"' in path.read_text()
    assert loaded(api)["can_undo"]
    status, undone = api.post("/api/config/undo", {})
    assert status == 200 and undone["reload"]["ok"], undone
    assert path.read_text() == page["text"]
    assert api.post("/api/config/undo", {})[0] == 409


def test_the_save_road_needs_the_origin_and_the_key(api: Http, daemon: Daemon) -> None:
    """Without the panel's Origin, or without the session key, a save is refused (403)."""
    path = daemon.root / "config.toml"
    before = path.read_bytes()
    page = loaded(api)
    body = json.dumps({"version": page["version"], "config": {}}).encode()
    for drop in ("Origin", "X-CSRF-Token"):
        headers = {k: v for k, v in api.session_headers().items() if k != drop}
        headers["Content-Type"] = "application/json"
        status, _, _ = api.call("POST", "/api/config/save", headers=headers, body=body)
        assert status == 403, drop
    assert path.read_bytes() == before


def test_the_trigger_schema_for_the_generic_form(api: Http) -> None:
    """/api/editor/schema: every trigger type with its fields, ranges and choices."""
    status, schema = api.get("/api/editor/schema")
    assert status == 200
    assert {"Note", "CC", "LongPress", "EncoderTurn", "NoteChord"} <= set(schema)
    note = {f["name"]: f for f in schema["Note"]}
    assert note["note"]["required"] and (note["note"]["min"], note["note"]["max"]) == (0, 127)
    assert note["velocity_min"]["default"] == 1 and not note["velocity_min"]["required"]
    encoder = {f["name"]: f for f in schema["EncoderTurn"]}
    assert encoder["direction"]["kind"] == "enum" and "cw" in encoder["direction"]["choices"]


def test_the_action_schema_for_the_action_editor(api: Http) -> None:
    """/api/editor/actions: every action type's fields (nested ones name their family), the
    conditions, the SendMidi messages, and a mode's colour with the templates' colour names."""
    status, schema = api.get("/api/editor/actions")
    assert status == 200
    assert set(schema) == {"action", "condition", "midi_message", "mode"}
    assert {"Plugin", "Sequence", "Delay", "Repeat", "Conditional"} <= set(schema["action"])
    sequence = schema["action"]["Sequence"][0]
    assert (sequence["kind"], sequence["family"], sequence["required"]) == ("nodes", "action", True)
    delay = schema["action"]["Delay"][0]
    assert (delay["name"], delay["min"], delay["max"]) == ("ms", 0, 3_600_000)
    assert schema["condition"]["Days"][0]["choices"][0] == "mon"
    color = next(f for f in schema["mode"] if f["name"] == "color")
    assert color["kind"] == "color" and {"red", "blue"} <= set(color["choices"])


def test_the_test_button_runs_the_action_once_with_the_saved_grants(
    api: Http, daemon: Daemon
) -> None:
    """/api/editor/test/file_log runs the action as `midimon plugins exec` does: the line lands
    in the granted folder; a path outside it is refused by the sandbox and reported."""
    target = Path(daemon.env["HOME"]) / "logs" / "tested.log"
    status, answer = api.post(
        "/api/editor/test/file_log", {"params": {"path": str(target)}, "note": 45}
    )
    assert status == 200 and answer["ok"], answer
    assert json.loads(target.read_text().splitlines()[-1])["context"]["note"] == 45
    outside = Path(daemon.env["HOME"]) / "outside.log"
    status, answer = api.post("/api/editor/test/file_log", {"params": {"path": str(outside)}})
    assert status == 200 and not answer["ok"] and not outside.exists(), answer
    assert api.post("/api/editor/test/..%2Fx", {})[0] in (400, 404)
