"""The Device page's road over real HTTP and in Debian's chromium, against a real `midimon ui`
and a real daemon on a private JACK dummy server with three controllers (JACK clients padsA,
padsB, padsC): the page lists every API's ports with the configured one marked; choosing
another writes `[device] name` through the save road (comments kept) and the same daemon
process switches its input, so a note on the new controller fires its mapping and one on the
old does not; an absent controller is reported and waited for. Screenshots: device-waiting,
device (tests/panel_harness.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for
from panel_harness import Daemon, Http, Panel, control, shot, start_daemon, start_panel, stop

CONFIG = """# Which controller (this comment must survive every switch)
[device]
name = "padsA:out"  # the first controller
virtual_port = "midimon-device"

# Pad 36 flips between two modes: STATUS shows whether a press reached the mapping
[[modes]]
name = "Default"

[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "ModeChange", mode = "Second" }

[[modes]]
name = "Second"

[[modes.mappings]]
trigger = { type = "Note", note = 36 }
action = { type = "ModeChange", mode = "Default" }
"""


@pytest.fixture(scope="module")
def pads(jack_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Three controllers, each a JACK client with a MIDI output port "out"."""
    import rtmidi

    outs = {}
    for name in ("padsA", "padsB", "padsC"):
        out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=name)
        out.open_virtual_port("out")
        outs[name] = out
    yield outs
    for out in outs.values():
        out.delete()


@pytest.fixture(scope="module")
def daemon(ui_root: Path, jack_env: dict[str, str], pads: dict[str, Any]) -> Iterator[Daemon]:
    """`midimon run` reading padsA."""
    running = start_daemon(ui_root, jack_env, CONFIG)
    assert wait_for(lambda: status(running)["device"]["connected"], 15), status(running)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def panel(daemon: Daemon) -> Iterator[Panel]:
    running = start_panel(daemon.env, daemon.root)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def api(panel: Panel) -> Http:
    return Http(panel).login()


def status(daemon: Daemon) -> dict[str, Any]:
    answer: dict[str, Any] = control(daemon.env, "STATUS")
    return answer


def press(pads: dict[str, Any], name: str) -> None:
    """Pad 36 on controller ``name``."""
    pads[name].send_message([0x90, 36, 100])
    pads[name].send_message([0x80, 36, 0])


def fires(daemon: Daemon, pads: dict[str, Any], name: str) -> bool:
    """Whether a press on ``name`` reaches the mapping (the mode flips) within 5 s."""
    before = status(daemon)["mode"]
    press(pads, name)
    return wait_for(lambda: status(daemon)["mode"] != before, 5)


def jack_inputs(api: Http) -> dict[str, dict[str, Any]]:
    code, answer = api.get("/api/devices")
    assert code == 200, answer
    jack = next(entry for entry in answer["apis"] if entry["api"] == "jack")
    return {port["name"]: port for port in jack["inputs"]}


def choose(api: Http, name: str) -> dict[str, Any]:
    """What the Device page does: [device] name changed in the config, saved."""
    code, file = api.get("/api/config")
    assert code == 200, file
    config = file["config"]
    config["device"]["name"] = name
    code, answer = api.post("/api/config/save", {"version": file["version"], "config": config})
    assert code == 200 and answer["reload"]["ok"], answer
    return dict(answer)


def test_choosing_another_controller_switches_the_running_daemon(
    api: Http, daemon: Daemon, pads: dict[str, Any]
) -> None:
    """padsA -> padsB over the save road: the file keeps its comments, the same daemon process
    now fires the mapping for padsB's notes and no longer for padsA's."""
    pid = daemon.proc.pid
    rows = jack_inputs(api)
    assert rows["padsA:out"]["configured"] and rows["padsA:out"]["connected"]
    assert not rows["padsB:out"]["configured"] and not rows["padsB:out"]["own"]
    assert rows["midimon-out:midimon-device out"]["own"]
    assert fires(daemon, pads, "padsA")
    assert not fires(daemon, pads, "padsB")

    choose(api, "padsB:out")  # the RELOAD it sends, or the daemon's file watcher, switches
    code, ports = api.get("/api/devices")
    device = ports["device"]
    assert code == 200 and device["port"] == "padsB:out"
    assert device["connected"] and device["error"] is None
    text = (daemon.root / "config.toml").read_text()
    assert 'name = "padsB:out"  # the first controller' in text
    assert "# Which controller (this comment must survive every switch)" in text
    time.sleep(0.3)  # JACK makes the new connection
    assert fires(daemon, pads, "padsB")
    assert not fires(daemon, pads, "padsA")
    rows = jack_inputs(api)
    assert rows["padsB:out"]["configured"] and rows["padsB:out"]["connected"]
    assert not rows["padsA:out"]["connected"]
    assert daemon.proc.poll() is None and daemon.proc.pid == pid
    assert status(daemon)["device"]["switches"] == 1


def test_an_absent_controller_is_reported_and_waited_for(api: Http, daemon: Daemon) -> None:
    """A name no port has: the save succeeds, the daemon says it waits for it (STATUS, the
    page's listing), and keeps running."""
    choose(api, "padsZ")
    warning = "MIDI controller 'padsZ' not found on jack"
    code, ports = api.get("/api/devices")
    assert code == 200 and ports["device"]["waiting"] and not ports["device"]["connected"]
    assert warning in ports["device"]["error"]
    assert daemon.proc.poll() is None


@pytest.mark.slow
def test_the_device_page_chooses_the_controller(
    chromium: Any, panel: Panel, daemon: Daemon, pads: dict[str, Any]
) -> None:
    """On the Device page (the daemon waiting for padsZ) "Use padsC:out" switches the input:
    the page marks padsC in use and a press on padsC fires the mapping."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(panel.url)
        page.wait_for_url(f"{panel.base}/#/plugins")
        page.get_by_role("link", name="Device").click()
        page.wait_for_url(f"{panel.base}/#/device")
        page.wait_for_selector("section[aria-label='JACK ports'] td:text('padsC:out')")
        current = page.inner_text("section[aria-label='Current controller']")
        assert "waiting for the controller" in current
        shot(page, "device-waiting")
        page.get_by_role("button", name="Use padsC:out").click()
        page.wait_for_selector("text=the input now reads padsC:out")
        row = page.locator("section[aria-label='JACK ports'] tr", has_text="padsC:out")
        row.get_by_text("in use").wait_for()
        current = page.inner_text("section[aria-label='Current controller']")
        assert "reads padsC:out on jack" in current
        shot(page, "device")
        time.sleep(0.3)
        assert fires(daemon, pads, "padsC")
        assert 'name = "padsC:out"' in (daemon.root / "config.toml").read_text()
    finally:
        context.close()
    assert not errors, errors
