"""The Mappings page's action editor and modes in Debian's chromium against a real daemon on a
private JACK dummy server: a Sequence holding a Plugin action and a Delay is built through the
forms generated from the daemon's action schema (the nested actions by the same form), saved
with every comment of the file kept, and run by the next pad press over JACK; modes moved and
coloured are saved in their new order, each with the comment above it; a Conditional with a
Days condition, a Repeat and an else branch is built and saved. Each state is screenshotted
(tests/panel_harness.py)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import open_jack_output, wait_for
from panel_harness import Daemon, Panel, control, midimon, shot, start_daemon, start_panel, stop

from midimon import _toml

pytestmark = pytest.mark.slow

CONFIG = """# My pads: every comment here must survive the editor
[device]
virtual_port = "midimon-actions"

# Playing: the mode at start
[[modes]]
name = "Play"

# Pad 38 logs the hit
[[modes.mappings]]
description = "log pad"
trigger = {{ type = "Note", note = 38 }}  # the snare
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}" }} }}

# Editing: switched to by hand
[[modes]]
name = "Edit"

[[modes.mappings]]
description = "back to play"
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "ModeChange", mode = "Play" }}

# Pads of every mode
[[global_mappings]]
description = "next mode"
trigger = {{ type = "CC", controller = 20 }}
action = {{ type = "ModeChange", mode = "next" }}
"""


@pytest.fixture(scope="module")
def daemon(ui_root: Path, jack_env: dict[str, str]) -> Iterator[Daemon]:
    """`midimon run` with file_log on pad 38 (granted the logs folder)."""
    logs = Path(jack_env["HOME"]) / "logs"
    logs.mkdir()
    running = start_daemon(ui_root, jack_env, CONFIG.format(log=logs / "first.log"))
    granted = midimon(jack_env, "plugins", "grant", "file_log", "filesystem", "--write", logs)
    assert granted.returncode == 0, granted.stderr
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def panel(daemon: Daemon) -> Iterator[Panel]:
    running = start_panel(daemon.env, daemon.root)
    yield running
    stop(running.proc)


@pytest.fixture
def page(chromium: Any, panel: Panel) -> Iterator[Any]:
    """A logged-in tab on the Mappings page, the plugins' details (params schemas) loaded."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(panel.url)
    tab.wait_for_url(f"{panel.base}/#/plugins")
    tab.wait_for_selector("article.card")
    tab.get_by_role("link", name="Mappings").click()
    tab.wait_for_url(f"{panel.base}/#/mappings")
    tab.wait_for_selector("table[aria-label^='Mappings of'] tbody tr")
    yield tab
    context.close()
    assert not errors, errors


def comments(text: str) -> list[str]:
    """The file's comments ("# ..." alone or after a value; a "#rrggbb" colour is none)."""
    return sorted(re.findall(r"(?m)(?:^|\s)(# .*)$", text))


def save(page: Any) -> None:
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("text=the daemon reloaded it")


def test_a_sequence_of_a_plugin_and_a_delay_built_in_forms_runs_on_the_pad(
    page: Any, daemon: Daemon
) -> None:
    """+ Mapping, trigger note 44, action Sequence: its first action is file_log (the plugin
    selector and its generated params form), the second a Delay, the third file_log again.
    Saved: the file keeps every comment and holds the nested table; a press of pad 44 over
    JACK writes the first log, then the second one the delay later."""
    path = daemon.root / "config.toml"
    before = path.read_text()
    log = Path(daemon.env["HOME"]) / "logs" / "before-delay.log"
    later = log.with_name("after-delay.log")
    page.get_by_role("button", name="+ Mapping").click()
    editor = page.locator("section[aria-label='Mapping editor']")
    editor.get_by_placeholder("what this pad does").fill("log twice")
    editor.locator("[data-field=note] input").fill("44")
    editor.get_by_label("Action type", exact=True).select_option("Sequence")
    first = editor.locator("[data-family=action][data-type=Plugin]").first
    first.wait_for()
    first.get_by_role("radio", name="file_log").check()
    first.locator("[data-param=path] input").fill(str(log))
    shot(page, "editor-plugin-selector")
    editor.get_by_role("button", name="Add to Action actions", exact=True).click()
    editor.get_by_label("Action actions 2 type").select_option("Delay")
    editor.get_by_label("Action actions 2 ms").fill("400")
    editor.get_by_role("button", name="Add to Action actions", exact=True).click()
    third = editor.locator("[data-family=action][data-type=Plugin]").nth(1)
    third.get_by_role("radio", name="file_log").check()
    third.locator("[data-param=path] input").fill(str(later))
    assert "Delay ms=400" in page.locator("table[aria-label='Mappings of Play']").inner_text()
    shot(page, "editor-nested-action")
    save(page)
    after = path.read_text()
    assert comments(after) == comments(before)
    assert after.startswith(before.split("# Editing")[0])  # the first mode's lines unchanged
    mapping = _toml.loads(after)["modes"][0]["mappings"][1]
    steps = [{"type": "Plugin", "plugin": "file_log", "params": {"path": str(log)}},
             {"type": "Delay", "ms": 400},
             {"type": "Plugin", "plugin": "file_log", "params": {"path": str(later)}}]  # fmt: skip
    assert mapping == {
        "description": "log twice",
        "trigger": {"type": "Note", "note": 44},
        "action": {"type": "Sequence", "actions": steps},
    }
    out = open_jack_output("midimon:midimon-actions", client="actions-test-pads")
    try:
        out.send_message([0x90, 44, 100])
        out.send_message([0x80, 44, 0])
        assert wait_for(lambda: log.exists() and log.read_text().strip() != "", 15, 0.005)
        seen = time.monotonic()
        assert wait_for(lambda: later.exists() and later.read_text().strip() != "", 15, 0.005)
        waited = time.monotonic() - seen
    finally:
        out.delete()
    assert waited >= 0.3, waited  # the Delay ran between the two plugin calls
    for written in (log, later):
        assert json.loads(written.read_text().splitlines()[-1])["context"]["note"] == 44


def test_modes_moved_and_coloured_are_saved_with_their_comments(
    page: Any, daemon: Daemon
) -> None:
    """Edit moved above Play and given the template colour red, Play given #00aa55 with the
    colour picker: the tabs show the colours, the file has the modes in the new order, each
    with the comment above it and its colour under its name, and the daemon runs it."""
    path = daemon.root / "config.toml"
    before = path.read_text()
    modes = page.get_by_role("navigation", name="Modes")
    modes.locator("button[data-mode=Edit]").click()
    page.get_by_role("button", name="Move mode up").click()
    page.get_by_label("Mode colour name").select_option("red")
    modes.locator("button[data-mode=Play]").click()
    page.get_by_label("Mode colour", exact=True).fill("#00aa55")
    tab = modes.locator("button[data-mode=Edit]")
    assert tab.evaluate("b => getComputedStyle(b).borderLeftColor") == "rgb(255, 0, 0)"
    assert [b.get_attribute("data-mode") for b in modes.locator("button[data-mode]").all()] == [
        "Edit", "Play",
    ]  # fmt: skip
    shot(page, "editor-modes")
    save(page)
    after = path.read_text()
    assert comments(after) == comments(before)
    assert '# Editing: switched to by hand\n[[modes]]\nname = "Edit"\ncolor = "red"\n' in after
    assert '# Playing: the mode at start\n[[modes]]\nname = "Play"\ncolor = "#00aa55"\n' in after
    assert after.index('name = "Edit"') < after.index('name = "Play"')
    assert "\n\n\n" not in after
    assert control(daemon.env, "STATUS")["modes"] == ["Edit", "Play"]


def test_a_conditional_with_a_repeat_and_an_else_branch(page: Any, daemon: Daemon) -> None:
    """Edit's mapping becomes a Conditional: Days (sat, sun; none ticked is flagged and blocks
    Save), then a Repeat of a ModeChange, else a Text. The file holds exactly that table and
    keeps every comment."""
    path = daemon.root / "config.toml"
    before = path.read_text()
    page.get_by_role("navigation", name="Modes").locator("button[data-mode=Edit]").click()
    page.get_by_role("button", name="Edit mapping 1", exact=True).click()
    editor = page.locator("section[aria-label='Mapping editor']")
    editor.get_by_label("Action type", exact=True).select_option("Conditional")
    editor.get_by_label("Action condition type").select_option("Days")
    save_button = page.get_by_role("button", name="Save", exact=True)
    assert "pick at least one" in editor.locator("[data-key=days]").inner_text()
    assert save_button.is_disabled()
    days = editor.get_by_role("group", name="Action condition days")
    days.get_by_role("checkbox", name="sat", exact=True).check()
    days.get_by_role("checkbox", name="sun", exact=True).check()
    editor.get_by_label("Action then type").select_option("Repeat")
    editor.get_by_label("Action then action type").select_option("ModeChange")
    editor.get_by_label("Action then action mode").select_option("Play")
    editor.get_by_label("Action then count").fill("2")
    editor.get_by_role("button", name="Add Action else").click()
    editor.get_by_label("Action else type").select_option("Text")
    editor.get_by_label("Action else text").fill("weekday")
    shot(page, "editor-conditional")
    save(page)
    after = path.read_text()
    assert comments(after) == comments(before)
    mapping = _toml.loads(after)["modes"][0]["mappings"][0]
    assert mapping["action"] == {
        "type": "Conditional",
        "condition": {"type": "Days", "days": ["sat", "sun"]},
        "then": {"type": "Repeat", "action": {"type": "ModeChange", "mode": "Play"}, "count": 2},
        "else": {"type": "Text", "text": "weekday"},
    }


def test_send_midi_keystroke_and_shell_forms(page: Any, daemon: Daemon) -> None:
    """The other forms: a Sequence of a SendMidi (a cc message), a Keystroke (keys one per
    line, modifiers ticked) and a Shell (argv one per line) saves as exactly those tables."""
    path = daemon.root / "config.toml"
    page.get_by_role("navigation", name="Modes").locator("button[data-mode=Play]").click()
    page.get_by_role("button", name="Edit mapping 1", exact=True).click()
    editor = page.locator("section[aria-label='Mapping editor']")
    editor.get_by_label("Action type", exact=True).select_option("Sequence")
    editor.get_by_label("Action actions 1 type").select_option("SendMidi")
    editor.get_by_label("Action actions 1 messages 1 type").select_option("cc")
    editor.get_by_label("Action actions 1 messages 1 controller").fill("7")
    editor.get_by_label("Action actions 1 messages 1 value").fill("64")
    editor.get_by_role("button", name="Add to Action actions", exact=True).click()
    editor.get_by_label("Action actions 2 type").select_option("Keystroke")
    editor.get_by_label("Action actions 2 keys").fill("c")
    modifiers = editor.get_by_role("group", name="Action actions 2 modifiers")
    modifiers.get_by_role("checkbox", name="ctrl", exact=True).check()
    editor.get_by_role("button", name="Add to Action actions", exact=True).click()
    editor.get_by_label("Action actions 3 type").select_option("Shell")
    editor.get_by_label("Action actions 3 argv").fill("notify-send\nmidimon")
    shot(page, "editor-other-actions")
    save(page)
    mapping = _toml.loads(path.read_text())["modes"][1]["mappings"][0]
    assert mapping["action"] == {"type": "Sequence", "actions": [
        {"type": "SendMidi", "messages": [{"type": "cc", "controller": 7, "value": 64}]},
        {"type": "Keystroke", "keys": ["c"], "modifiers": ["ctrl"]},
        {"type": "Shell", "argv": ["notify-send", "midimon"]},
    ]}  # fmt: skip
