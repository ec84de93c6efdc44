"""The Mappings page in Debian's chromium against a real daemon on a private JACK dummy server:
a plugin's params edited through the form generated from its schema are saved, the file keeps
every comment, and the daemon runs the new mapping on the next JACK press (seen in the file
the plugin writes), and the Test button runs it once more; a params error is shown inline
and blocks Save, an error only the daemon sees is refused with nothing written; a change made
on disk while the page is open is shown as a difference. Each state is screenshotted
(tests/panel_harness.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import open_jack_output, wait_for
from panel_harness import Daemon, Panel, midimon, shot, start_daemon, start_panel, stop, wait_until

pytestmark = pytest.mark.slow

CONFIG = """# My pads: every comment here must survive the editor
[device]
virtual_port = "midimon-editor"

# The one mode
[[modes]]
name = "Default"

# Pad 38 logs the hit
[[modes.mappings]]
description = "log pad"
trigger = {{ type = "Note", note = 38 }}  # the snare
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}" }} }}

# Pad 40 echoes an octave up
[[modes.mappings]]
description = "transpose pad"
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ semitones = 12 }} }}
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


@pytest.fixture(scope="module")
def pads(daemon: Daemon) -> Iterator[Any]:
    """``pads(note)``: one press of a pad, from a JACK output into the daemon."""
    out = open_jack_output("midimon:midimon-editor", client="editor-test-pads")

    def press(note: int) -> None:
        out.send_message([0x90, note, 100])
        out.send_message([0x80, note, 0])

    yield press
    out.delete()


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
    tab.wait_for_selector("table[aria-label='Mappings of Default'] tbody tr")
    yield tab
    context.close()
    assert not errors, errors


def open_mapping(page: Any, number: int) -> None:
    page.get_by_role("button", name=f"Edit mapping {number}", exact=True).click()
    page.wait_for_selector("section[aria-label='Mapping editor'] [data-param]", timeout=15000)


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def test_edit_params_save_and_the_pad_runs_it(page: Any, daemon: Daemon, pads: Any) -> None:
    """The log pad's path changed in the generated form and saved: one line of the file
    changes, the comments stay, and the next press over JACK writes the new file."""
    path = daemon.root / "config.toml"
    before = path.read_text()
    shot(page, "editor-mappings")
    open_mapping(page, 1)
    editor = page.locator("section[aria-label='Mapping editor']")
    assert editor.get_by_role("radio", name="file_log").is_checked()
    assert "absolute path of the file" in editor.locator("[data-param=path]").inner_text()
    new_log = Path(daemon.env["HOME"]) / "logs" / "second.log"
    editor.locator("[data-param=path] input").fill(str(new_log))
    shot(page, "editor-plugin-form")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("text=the daemon reloaded it")
    after = path.read_text()
    assert comments(after) == comments(before)
    assert after == before.replace(str(new_log.with_name("first.log")), str(new_log))
    pads(38)
    assert wait_for(lambda: new_log.exists() and new_log.read_text().strip() != "", 10)
    assert json.loads(new_log.read_text().splitlines()[-1])["context"]["note"] == 38
    lines = len(new_log.read_text().splitlines())
    editor.get_by_role("button", name="Test", exact=True).click()
    result = editor.get_by_label("Test result")
    result.wait_for(timeout=30000)
    assert result.inner_text().startswith("ok"), result.inner_text()
    assert len(new_log.read_text().splitlines()) == lines + 1  # the Test ran it once
    shot(page, "editor-saved")


def test_invalid_edits_are_refused_and_nothing_is_written(page: Any, daemon: Daemon) -> None:
    """semitones = 500 is flagged inline (the schema's range) and Save is disabled; a note of
    200 in the trigger reaches the daemon's check, which refuses it: nothing is written."""
    path = daemon.root / "config.toml"
    before = path.read_bytes()
    open_mapping(page, 2)
    editor = page.locator("section[aria-label='Mapping editor']")
    editor.locator("[data-param=semitones] input").fill("500")
    alert = editor.locator("[data-param=semitones] [role=alert]")
    assert "-127..127" in alert.inner_text()
    assert page.get_by_role("button", name="Save", exact=True).is_disabled()
    shot(page, "editor-inline-error")
    editor.locator("[data-param=semitones] input").fill("7")
    editor.locator("[data-field=note] input").fill("200")
    page.get_by_role("button", name="Save", exact=True).click()
    refusal = page.locator("text=Not saved (nothing was written)")
    refusal.wait_for()
    assert "note" in page.locator("div.error[role=alert]").inner_text()
    assert path.read_bytes() == before
    shot(page, "editor-refused")


def test_a_change_on_disk_is_shown_as_a_difference(page: Any, daemon: Daemon) -> None:
    """A hand edit made while the page is open: Save shows the difference and writes nothing;
    "Load the file from disk" brings the hand edit into the page."""
    path = daemon.root / "config.toml"
    page.get_by_role("button", name="Duplicate mapping 2").click()
    path.write_text(path.read_text().replace("# The one mode", "# The only mode, by hand"))
    hand = path.read_bytes()
    page.get_by_role("button", name="Save", exact=True).click()
    box = page.locator("div.conflict")
    box.wait_for()
    assert "+# The only mode, by hand" in box.inner_text()
    assert "-# The one mode" in box.inner_text()
    assert path.read_bytes() == hand
    shot(page, "editor-conflict")
    page.get_by_role("button", name="Load the file from disk").click()
    page.wait_for_selector("text=Loaded the file as it is on disk now")
    assert page.locator("div.conflict").count() == 0
    rows = page.locator("table[aria-label='Mappings of Default'] tbody tr")
    wait_until(lambda: rows.count() == 2)  # the duplicate was dropped with the page's edits


def test_learn_fills_the_trigger_and_the_console_shows_the_press(
    page: Any, panel: Any, pads: Any
) -> None:
    """Learn, then a note over JACK: the trigger form shows it. On the Console page a press
    of the log pad shows as its MIDI in, trigger and action rows; the current mode is shown."""
    open_mapping(page, 2)
    editor = page.locator("section[aria-label='Mapping editor']")
    editor.get_by_role("button", name="Learn", exact=True).click()
    note = editor.locator("[data-field=note] input")
    deadline = time.monotonic() + 20
    while note.input_value() != "45" and time.monotonic() < deadline:
        pads(45)  # Learn's own `midimon learn` may not be listening yet: press until seen
        time.sleep(0.3)
    assert note.input_value() == "45"
    assert editor.locator("[data-field=channel] input").input_value() == "0"
    shot(page, "editor-learned")

    page.get_by_role("link", name="Console").click()
    page.wait_for_url(f"{panel.base}/#/console")
    page.wait_for_selector("text=streaming")
    wait_until(lambda: page.get_by_label("Current mode").input_value() == "Default")
    time.sleep(0.3)  # the daemon takes the console's subscription
    pads(38)
    table = page.get_by_label("Console", exact=True)
    table.locator("tr.t-action").first.wait_for()
    text = table.inner_text()
    assert "note_on ch 0 #38" in text and "NoteTrigger #38" in text, text
    assert "ok" in table.locator("tr.t-action").first.inner_text()
    shot(page, "console")
    page.get_by_role("checkbox", name="midi").uncheck()
    assert "note_on" not in table.inner_text()
    page.get_by_role("button", name="Clear").click()
    assert table.locator("tbody tr").count() == 0
    page.get_by_role("link", name="Statistics").click()
    page.wait_for_selector("#chart-calls", state="attached")  # leaving the console is clean
