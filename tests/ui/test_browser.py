"""The panel in Debian's chromium against a real daemon on a private JACK dummy server with the
bundled plugins: approvals on a pad press (Allow, Deny, Not now, keyboard only), plugin actions
seen by `midimon plugins info`, install and uninstall of a signed package, a tampered one
refused, and the live statistics. Every page is screenshotted (tests/panel_harness.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TcpListener, open_jack_output
from panel_harness import (
    RUN_STARTED,
    Daemon,
    Panel,
    build_packages,
    control,
    midimon,
    midimon_json,
    screenshot_dir,
    shot,
    start_daemon,
    start_panel,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow

CONFIG = """
[device]
virtual_port = "midimon-ui"

[[modes]]
name = "Default"
[[modes.mappings]]
description = "Pad 1: HTTP request"
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "http_request", params = {{ url = "{url}" }} }}
[[modes.mappings]]
description = "Pad 2: log the hit"
trigger = {{ type = "Note", note = 38 }}
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}" }} }}
[[modes.mappings]]
description = "Pad 3: echo an octave up"
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ semitones = 12 }} }}
[[modes.mappings]]
description = "Pad 4: the packaged probe"
trigger = {{ type = "Note", note = 41 }}
action = {{ type = "Plugin", plugin = "pkg_probe", params = {{}} }}
"""


@pytest.fixture(scope="module")
def listener() -> Iterator[TcpListener]:
    """Where http_request's GET would go once allowed."""
    server = TcpListener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def daemon(ui_root: Path, jack_env: dict[str, str], listener: TcpListener) -> Iterator[Daemon]:
    """`midimon run` on a JACK virtual port with the bundled plugins on pads 36/38/40."""
    log = Path(jack_env["HOME"]) / "logs" / "pads.log"
    log.parent.mkdir()
    config = CONFIG.format(url=f"http://127.0.0.1:{listener.port}/pad", log=log)
    running = start_daemon(ui_root, jack_env, config)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def panel(daemon: Daemon) -> Iterator[Panel]:
    """`midimon ui --no-browser` for that daemon."""
    running = start_panel(daemon.env, daemon.root)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def pads(daemon: Daemon) -> Iterator[Any]:
    """A JACK MIDI output connected to the daemon's input: ``pads(note)`` presses a pad."""
    out = open_jack_output("midimon:midimon-ui", client="ui-test-pads")

    def press(note: int, velocity: int = 100) -> None:
        out.send_message([0x90, note, velocity])
        out.send_message([0x80, note, 0])

    yield press
    out.delete()


@pytest.fixture
def page(chromium: Any, panel: Panel) -> Iterator[Any]:
    """A fresh browser context logged in through the panel's URL, on the Plugins page."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(panel.url)
    tab.wait_for_url(f"{panel.base}/#/plugins")  # the token and the session key left the URL
    tab.wait_for_selector("article.card")
    yield tab
    context.close()
    assert not errors, errors


def goto(page: Any, panel: Panel, name: str) -> None:
    """Open one of the panel's pages through its navigation link."""
    page.get_by_role("link", name=name.capitalize()).first.click()
    page.wait_for_url(f"{panel.base}/#/{name}")


def requests_of(daemon: Daemon, plugin: str) -> list[dict[str, Any]]:
    """The daemon's grant requests (pending and denied) for ``plugin``."""
    return [r for r in control(daemon.env, "PLUGIN_REQUESTS", all=True) if r["plugin"] == plugin]


def info(daemon: Daemon, plugin: str) -> dict[str, Any]:
    """`midimon plugins info NAME --json` (through the daemon)."""
    return midimon_json(daemon.env, "plugins", "info", plugin)


def test_keyboard_only_dialog_takes_focus_and_escape_is_not_now(
    page: Any, panel: Panel, daemon: Daemon, pads: Any
) -> None:
    """A press of a pad whose plugin lacks Network opens the dialog in the open page with the
    focus inside it; Escape is Not now (the request stays pending); the Approvals page reopens
    it with the keyboard alone."""
    pads(36)
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=10_000)
    assert "http_request" in dialog.inner_text() and "Network" in dialog.inner_text()
    assert "medium risk" in dialog.inner_text()
    for name in ("Allow", "Deny", "Not now"):
        assert dialog.get_by_role("button", name=name, exact=True).is_visible()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    shot(page, "approval-dialog", full_page=False)
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached", timeout=5_000)
    assert [r["state"] for r in requests_of(daemon, "http_request")] == ["pending"]

    page.focus("a[href='#/approvals']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{panel.base}/#/approvals")
    review = page.get_by_role("button", name="Review the request of http_request for network")
    review.wait_for()
    shot(page, "approvals")
    for _ in range(40):  # Tab until the Review button has the focus
        if page.evaluate("document.activeElement.textContent.trim()") == "Review":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    dialog.wait_for(timeout=5_000)
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached", timeout=5_000)


def test_deny_is_remembered(page: Any, panel: Panel, daemon: Daemon, pads: Any) -> None:
    """Deny: the dialog goes and does not come back on the next press; the Plugins page shows
    the denial until "Forget denial" there."""
    pads(36)
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=10_000)
    dialog.get_by_role("button", name="Deny", exact=True).click()
    dialog.wait_for(state="detached", timeout=5_000)
    wait_until(lambda: [r["state"] for r in requests_of(daemon, "http_request")] == ["denied"])
    pads(36)
    time.sleep(1.5)
    assert page.get_by_role("dialog").count() == 0
    assert [r["state"] for r in requests_of(daemon, "http_request")] == ["denied"]
    forget = page.get_by_role("button", name="Forget the denial of Network for http_request")
    forget.wait_for(timeout=10_000)
    shot(page, "plugins-denied")
    forget.click()
    wait_until(lambda: requests_of(daemon, "http_request") == [])
    assert info(daemon, "http_request")["execution"]["enabled"]


def test_allow_filesystem_asks_for_folders_and_a_second_confirmation(
    page: Any, panel: Panel, daemon: Daemon, pads: Any
) -> None:
    """file_log lacks Filesystem: the dialog asks for a folder; midimon's own state folder is
    refused with the CLI's message; a folder of the user's, after the high-risk confirmation,
    is granted (the CLI sees it) and the next press writes the log line."""
    log = Path(daemon.env["HOME"]) / "logs" / "pads.log"
    pads(38)
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=10_000)
    assert "high risk" in dialog.inner_text() and "Pad 2: log the hit" in dialog.inner_text()
    dialog.get_by_role("button", name="Allow", exact=True).click()
    error = dialog.locator("p.error[role='alert']")  # the confirmation step is an alert too
    assert "Name at least one folder" in error.inner_text()

    state = Path(daemon.env["XDG_STATE_HOME"]) / "midimon"
    dialog.get_by_label("Folder 1").fill(str(state))
    dialog.get_by_role("button", name="Allow", exact=True).click()
    dialog.get_by_role("button", name="Yes, allow Filesystem").click()
    error.wait_for()
    refused = error.inner_text()
    assert str(state) in refused or "midimon" in refused, refused
    shot(page, "approval-filesystem-refused", full_page=False)
    assert "filesystem" not in info(daemon, "file_log")["execution"]["granted"]

    dialog.get_by_label("Folder 1").fill(str(log.parent))
    dialog.get_by_role("button", name="Allow", exact=True).click()
    confirm = dialog.get_by_role("button", name="Yes, allow Filesystem")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Yes, allow Filesystem"
    shot(page, "approval-high-risk-confirmation", full_page=False)
    confirm.click()
    dialog.wait_for(state="detached", timeout=5_000)
    execution = info(daemon, "file_log")["execution"]
    assert "filesystem" in execution["granted"]
    assert execution["filesystem_paths"] == [str(log.parent)]
    assert requests_of(daemon, "file_log") == []
    pads(38)
    wait_until(lambda: log.exists() and log.read_text().count("\n") >= 1)
    audit = control(daemon.env, "AUDIT", plugin="file_log")
    assert any(e["event"] == "grant" and e.get("source") == "ui" for e in audit), audit[-3:]


def test_enable_disable_load_revoke_reach_the_cli(page: Any, panel: Panel, daemon: Daemon) -> None:
    """Disable, Enable, Load, Unload and Revoke on the page are what `midimon plugins info`
    reports at once."""
    granted = midimon(daemon.env, "plugins", "grant", "http_request", "network")
    assert granted.returncode == 0, granted.stderr
    page.reload()
    page.wait_for_selector("article.card")
    page.get_by_role("button", name="Disable midi_transpose").click()
    page.get_by_role("button", name="Enable midi_transpose").wait_for()
    assert not info(daemon, "midi_transpose")["execution"]["enabled"]
    shot(page, "plugins-disabled")
    page.get_by_role("button", name="Enable midi_transpose").click()
    page.get_by_role("button", name="Disable midi_transpose").wait_for()
    assert info(daemon, "midi_transpose")["execution"]["enabled"]
    page.get_by_role("button", name="Load midi_transpose").click()
    page.get_by_role("button", name="Unload midi_transpose").wait_for()
    assert info(daemon, "midi_transpose")["execution"]["loaded"]
    card = page.get_by_role("article").filter(has_text="midi_transpose")
    assert "pid" in card.inner_text()  # the worker's pid and RSS
    page.get_by_role("button", name="Unload midi_transpose").click()
    page.get_by_role("button", name="Load midi_transpose").wait_for()
    assert not info(daemon, "midi_transpose")["execution"]["loaded"]
    page.get_by_role("button", name="Revoke Network from http_request").click()
    page.get_by_role("button", name="Revoke Network from http_request").wait_for(state="detached")
    assert "network" not in info(daemon, "http_request")["execution"]["granted"]
    page.locator("article.card summary").first.click()  # what the kernel enforces, shown
    shot(page, "plugins")


@pytest.fixture(scope="module")
def packages(ui_root: Path, daemon: Daemon) -> dict[str, Path]:
    """A signed package of the test plugin ``pkg_probe`` (its key trusted) and a copy whose
    binary was changed after signing."""
    return build_packages(daemon.env, ui_root, "pkg_probe", "a packaged probe")


def test_a_tampered_package_is_refused_with_the_reason(
    page: Any, daemon: Daemon, packages: dict[str, Path]
) -> None:
    """The verification report of a package whose binary changed after signing says so, offers
    no Install, and nothing is installed."""
    page.get_by_label("Package file (.midimon-plugin)").set_input_files(str(packages["tampered"]))
    page.get_by_role("button", name="Verify").click()
    report = page.get_by_label("Verification report")
    report.wait_for(timeout=20_000)
    assert "REFUSED" in report.inner_text() and "modified" in report.inner_text()
    assert page.get_by_role("button", name="Install", exact=True).count() == 0
    shot(page, "install-refused")
    user_plugins = Path(daemon.env["XDG_DATA_HOME"]) / "midimon" / "plugins"
    assert not (user_plugins / "pkg_probe").exists()


def test_install_run_and_uninstall_a_signed_package(
    page: Any, daemon: Daemon, packages: dict[str, Path], pads: Any
) -> None:
    """Upload, read the report (signed, trusted key), choose Network, install; the plugin is
    listed with its grant and a pad runs it; Uninstall asks first, naming what goes, then
    removes it with its grant."""
    page.get_by_label("Package file (.midimon-plugin)").set_input_files(str(packages["good"]))
    page.get_by_role("button", name="Verify").click()
    report = page.get_by_label("Verification report")
    report.wait_for(timeout=20_000)
    assert "verified" in report.inner_text() and "FAILED" not in report.inner_text()
    assert "Alice" in report.inner_text() and "medium risk" in report.inner_text()
    report.get_by_label("Network").check()
    shot(page, "install-report")
    page.get_by_role("button", name="Install", exact=True).click()
    done = page.get_by_role("status").filter(has_text="Installed pkg_probe")
    done.wait_for(timeout=20_000)
    assert "granted: network" in done.inner_text()
    # the daemon installs through its own state store: the grant holds at once
    assert "network" in info(daemon, "pkg_probe")["execution"]["granted"]
    card = page.get_by_role("article").filter(has_text="a packaged probe")
    card.wait_for(timeout=10_000)
    listed = midimon_json(daemon.env, "plugins", "list")["plugins"]
    assert "pkg_probe" in [r["name"] for r in listed]
    card.get_by_role("button", name="Revoke Network from pkg_probe").wait_for(timeout=10_000)
    pads(41)
    wait_until(lambda: control(daemon.env, "PLUGIN_STATS", name="pkg_probe")["successes"] >= 1)
    # the press loaded it: the card says so, with its worker, without a reload
    wait_until(lambda: "not loaded" not in card.inner_text() and "pid " in card.inner_text(), 15)
    shot(page, "plugins-installed")

    page.get_by_role("button", name="Uninstall pkg_probe").click()
    dialog = page.get_by_role("dialog")
    assert "pkg_probe" in dialog.inner_text() and "grants: network" in dialog.inner_text()
    shot(page, "uninstall-confirmation", full_page=False)
    dialog.get_by_role("button", name="Uninstall pkg_probe").click()
    card.wait_for(state="detached", timeout=10_000)
    names = [r["name"] for r in midimon_json(daemon.env, "plugins", "list")["plugins"]]
    assert "pkg_probe" not in names
    audit = control(daemon.env, "AUDIT", plugin="pkg_probe")
    assert {"install", "uninstall"} <= {e["event"] for e in audit if e.get("source") == "ui"}, [
        (e["event"], e.get("source")) for e in audit
    ]


def test_statistics_chart_gains_points_while_notes_play(
    page: Any, panel: Panel, daemon: Daemon, pads: Any
) -> None:
    """The Statistics page updates without a reload: daemon figures, the plugin's row, the
    calls/s and p99 charts gain points and each call appears in Recent calls."""
    goto(page, panel, "statistics")
    chart = page.locator("#chart-calls")
    chart.wait_for(timeout=10_000)
    wait_until(lambda: int(chart.get_attribute("data-points") or 0) >= 1, 10)
    before = int(chart.get_attribute("data-points") or 0)
    for _ in range(12):
        pads(40)
        time.sleep(0.25)
    wait_until(lambda: int(chart.get_attribute("data-points") or 0) >= before + 2, 10)
    row = page.locator("tr[data-plugin='midi_transpose']")
    wait_until(lambda: int(row.locator("td").nth(1).inner_text()) >= 12, 10)
    assert page.locator("#recent-calls tbody tr").count() >= 12
    assert int(page.locator("#chart-p99").get_attribute("data-points") or 0) >= 2
    page.wait_for_timeout(1200)
    shot(page, "statistics")


def test_a_request_list_read_before_the_press_does_not_hide_the_dialog(
    chromium: Any, panel: Panel, daemon: Daemon, pads: Any
) -> None:
    """The page reads the request list as it opens; when that answer, read before a press,
    arrives after the press's event (a loaded machine), it must not take the dialog away:
    the page reads the list again instead. The browser holds the first answer until then."""
    if requests_of(daemon, "http_request"):  # left by an earlier test: start with none
        control(daemon.env, "PLUGIN_DENY", name="http_request", capability="network")
        control(daemon.env, "PLUGIN_UNDENY", name="http_request", capability="network")
    assert requests_of(daemon, "http_request") == []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    held: list[tuple[Any, Any]] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))  # read now, before the press; answered later

    try:
        page = context.new_page()
        page.route("**/api/requests*", hold_first)
        page.goto(panel.url)
        page.wait_for_selector("article.card")
        for _ in range(200):  # the route handler runs while Playwright waits, not in sleep()
            if held:
                break
            page.wait_for_timeout(50)
        assert held
        assert "http_request" not in str(held[0][1].json())
        pads(36)
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=10_000)
        route, stale = held[0]
        route.fulfill(response=stale)
        page.wait_for_timeout(1500)
        assert dialog.is_visible() and "http_request" in dialog.inner_text()
        dialog.get_by_role("button", name="Deny", exact=True).click()
        dialog.wait_for(state="detached", timeout=5_000)
    finally:
        context.close()
    control(daemon.env, "PLUGIN_UNDENY", name="http_request", capability="network")


def test_a_tab_without_the_key_gets_no_data(chromium: Any, panel: Panel) -> None:
    """The panel's address without logging in is a 401 page; a second tab of a logged-in
    browser has the cookie but not the session's key, so it shows how to get in and no data."""
    context = chromium.new_context()
    try:
        tab = context.new_page()
        response = tab.goto(f"{panel.base}/")
        assert response is not None and response.status == 401
        assert "midimon ui --url" in tab.inner_text("body")
        tab.goto(panel.url)
        tab.wait_for_selector("article.card")
        other = context.new_page()
        other.goto(f"{panel.base}/#/plugins")
        alert = other.get_by_role("alert")
        alert.wait_for(timeout=10_000)
        assert "midimon ui --url" in alert.inner_text()
        assert other.locator("article.card").count() == 0
    finally:
        context.close()


#: The screenshots CI keeps: every page, dialog and report the tests above open.
SCREENSHOTS = (
    "plugins", "plugins-disabled", "plugins-denied", "plugins-installed", "approvals",
    "approval-dialog", "approval-filesystem-refused", "approval-high-risk-confirmation",
    "statistics", "install-report", "install-refused", "uninstall-confirmation",
)  # fmt: skip


def test_every_page_was_screenshotted(request: pytest.FixtureRequest) -> None:
    """Last: each screenshot was written by this run, is a PNG of the page's width, and is not
    a blank page (a painted page compresses far worse than an empty one)."""
    import struct

    if request.session.testsfailed:
        pytest.skip("an earlier test failed: its screenshots may be missing")
    for name in SCREENSHOTS:
        path = screenshot_dir() / f"{name}.png"
        assert path.exists(), path
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", path
        width, height = struct.unpack(">II", data[16:24])
        assert width == 1280 and height >= 600, (path, width, height)
        assert path.stat().st_mtime >= RUN_STARTED, f"{path} is from an earlier run"
        assert len(data) > 30_000, f"{path}: {len(data)} bytes, a blank page?"
