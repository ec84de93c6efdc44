"""The panel's guard, over real HTTP against a real `midimon ui` and daemon: token and cookie,
Host (DNS rebinding), Origin and CSRF, headers, loopback only, no token in any log, upload
limit, no file outside the app's own, and the runtime record out of a plugin worker's reach."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from panel_harness import (
    Daemon,
    Panel,
    browser_script,
    control,
    midimon,
    midimon_json,
    start_daemon,
    start_panel,
    stop,
    wait_until,
)

CONFIG = '[device]\nvirtual_port = false\n\n[[modes]]\nname = "Default"\n'


@pytest.fixture(scope="module")
def daemon(ui_root: Path, ui_env: dict[str, str]) -> Iterator[Daemon]:
    """A daemon without MIDI input (these tests need none)."""
    running = start_daemon(ui_root, ui_env, CONFIG)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def panel(daemon: Daemon) -> Iterator[Panel]:
    """`midimon ui --no-browser` for that daemon."""
    running = start_panel(daemon.env, daemon.root)
    yield running
    stop(running.proc)


def call(
    panel: Panel, method: str, path: str, *, host: str | None = None,
    headers: dict[str, str] | None = None, body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (no client-side normalisation of the path or Host)."""
    conn = http.client.HTTPConnection("127.0.0.1", panel.port, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"127.0.0.1:{panel.port}" if host is None else host)
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def login(panel: Panel) -> tuple[str, str]:
    """Exchange the token for a session: the cookie header and the session's key (from the
    redirect's fragment, as the page takes it)."""
    status, headers, _ = call(panel, "GET", f"/login?token={panel.token}")
    assert status == 303 and headers["location"].startswith("/#session=")
    cookie = headers["set-cookie"].split(";")[0]
    key = headers["location"].split("=", 1)[1]
    status, _, _ = call(panel, "GET", "/api/session", headers={"Cookie": cookie, KEY: key})
    assert status == 200
    return cookie, key


KEY = "X-CSRF-Token"


def test_no_token_or_a_wrong_one_is_401(panel: Panel) -> None:
    """Nothing is served without a session: the app, the API, the event stream; a wrong
    token or a made-up cookie logs nobody in."""
    for path in ("/", "/api/plugins", "/api/events", "/assets/app.js"):
        assert call(panel, "GET", path)[0] == 401, path
    assert call(panel, "GET", "/login?token=" + "A" * 43)[0] == 401
    assert call(panel, "GET", "/login")[0] == 401
    forged = {"Cookie": f"midimon_panel_{panel.port}={panel.token}", KEY: panel.token}
    # the token itself is neither a session nor a key
    assert call(panel, "GET", "/api/plugins", headers=forged)[0] == 401
    assert call(panel, "POST", "/api/plugins/midi_transpose/disable", headers=forged)[0] == 401


def test_the_token_becomes_an_httponly_strict_cookie_and_a_key(panel: Panel) -> None:
    """/login?token= answers with a redirect to / (the token leaves the address bar) carrying
    the session's key in its fragment, and an HttpOnly SameSite=Strict cookie; the API needs
    both: a cookie alone (which the browser would send to any 127.0.0.1 port) opens nothing,
    and the key as a query parameter only opens the event stream (EventSource sends no
    headers)."""
    status, headers, _ = call(panel, "GET", f"/login?token={panel.token}")
    assert status == 303 and headers["location"].startswith("/#session=")
    key = headers["location"].split("=", 1)[1]
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and panel.token not in cookie
    assert cookie.startswith(f"midimon_panel_{panel.port}=") and key not in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    for path in ("/api/plugins", "/api/session", "/api/events", f"/api/plugins?key={key}"):
        assert call(panel, "GET", path, headers=jar)[0] == 403, path
    assert call(panel, "GET", "/api/plugins", headers={KEY: key})[0] == 401  # no cookie
    status, _, body = call(panel, "GET", "/api/plugins", headers={**jar, KEY: key})
    assert status == 200
    assert {p["name"] for p in json.loads(body)} >= {"file_log", "http_request", "midi_transpose"}
    conn = http.client.HTTPConnection("127.0.0.1", panel.port, timeout=10)
    conn.request("GET", f"/api/events?key={key}", headers=jar)
    events = conn.getresponse()
    assert events.status == 200 and events.getheader("Content-Type") == "text/event-stream"
    assert events.readline().startswith(b"data: ")
    conn.close()


def test_a_foreign_host_is_refused(panel: Panel) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused even with a valid
    session, and so is a login through that name."""
    cookie, key = login(panel)
    session = {"Cookie": cookie, KEY: key}
    for host in (f"evil.example:{panel.port}", "127.0.0.1", f"127.0.0.1:{panel.port + 1}", ""):
        status, _, _ = call(panel, "GET", "/api/plugins", host=host, headers=session)
        assert status == 403, host
    status, _, _ = call(panel, "GET", f"/login?token={panel.token}", host="evil.example")
    assert status == 403
    for host in (f"localhost:{panel.port}", f"[::1]:{panel.port}"):
        assert call(panel, "GET", "/api/session", host=host, headers=session)[0] == 200


def test_cross_origin_and_csrf_less_posts_are_refused(panel: Panel, daemon: Daemon) -> None:
    """A state change needs the panel's own Origin and the session's CSRF header: a foreign
    Origin, no Origin, no or a wrong CSRF token are refused and change nothing; the right
    request changes the daemon, audited with source "ui"; no CORS header is ever sent."""
    cookie, csrf = login(panel)
    path = "/api/plugins/midi_transpose/disable"
    own = f"http://127.0.0.1:{panel.port}"
    attempts = [
        {"Cookie": cookie, "Origin": "http://evil.example", "X-CSRF-Token": csrf},
        {"Cookie": cookie, "X-CSRF-Token": csrf},
        {"Cookie": cookie, "Origin": own},
        {"Cookie": cookie, "Origin": own, "X-CSRF-Token": csrf[:-2] + "xx"},
        {"Cookie": cookie, "Origin": "null", "X-CSRF-Token": csrf},
    ]
    for headers in attempts:
        status, answer, _ = call(panel, "POST", path, headers=headers, body=b"{}")
        assert status == 403, headers
        assert "access-control-allow-origin" not in answer
    assert midimon_json(daemon.env, "plugins", "info", "midi_transpose")["execution"]["enabled"]
    headers = {"Cookie": cookie, "Origin": own, "X-CSRF-Token": csrf}
    status, answer, _ = call(panel, "POST", path, headers=headers, body=b"{}")
    assert status == 200 and "access-control-allow-origin" not in answer
    assert not midimon_json(daemon.env, "plugins", "info", "midi_transpose")["execution"]["enabled"]
    audit = control(daemon.env, "AUDIT", plugin="midi_transpose")
    assert audit[-1]["event"] == "disable" and audit[-1].get("source") == "ui", audit[-1]
    status, _, _ = call(panel, "POST", "/api/plugins/midi_transpose/enable", headers=headers)
    assert status == 200


def test_every_answer_has_the_strict_headers(panel: Panel) -> None:
    """CSP without inline script or framing, nosniff, no referrer: on the app, the API and on
    refusals alike."""
    cookie, _ = login(panel)
    for path, headers in (("/", {"Cookie": cookie}), ("/api/session", {"Cookie": cookie}),
                          ("/api/plugins", {}), ("/nowhere", {"Cookie": cookie})):  # fmt: skip
        _, answer, _ = call(panel, "GET", path, headers=headers)
        csp = answer["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp
        assert answer["x-content-type-options"] == "nosniff"
        assert answer["referrer-policy"] == "no-referrer"


def _listening(port: int) -> set[str]:
    """The local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_the_panel_listens_on_loopback_only(panel: Panel) -> None:
    """The kernel's own table: the port listens on 127.0.0.1 and ::1 and nothing else; a
    connection to this host's other addresses is refused."""
    assert _listening(panel.port) <= {"0100007F", "00000000000000000000000001000000"}
    assert "0100007F" in _listening(panel.port)
    others = set()
    for line in Path("/proc/net/fib_trie").read_text().splitlines() if Path(
        "/proc/net/fib_trie"
    ).exists() else []:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "|--" and not parts[1].startswith(("127.", "0.")):
            others.add(parts[1])
    for address in sorted(others)[:4]:
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, panel.port)) != 0, address


def test_upload_over_the_limit_is_refused(panel: Panel) -> None:
    """A package upload past the size limit is refused (413) before reaching the daemon."""
    from midimon.ui.app import MAX_UPLOAD_BYTES

    cookie, csrf = login(panel)
    boundary = "midimonboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
        f"filename=\"big.midimon-plugin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode() + b"\0" * (MAX_UPLOAD_BYTES + 1024) + f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Cookie": cookie, "Origin": f"http://127.0.0.1:{panel.port}", "X-CSRF-Token": csrf,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }  # fmt: skip
    status, _, _ = call(panel, "POST", "/api/packages/verify", headers=headers, body=body)
    assert status == 413


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../../__init__.py", "/assets/%2e%2e/%2e%2e/__init__.py", "/assets/..%2fapi.py",
        "/static/index.html", "/BUILD.json", "/assets/", "/frontend/package.json",
        "/../../../../etc/passwd", "/assets/app.js/../../app.py", "//etc/passwd",
    ],
)  # fmt: skip
def test_nothing_outside_the_apps_own_files(panel: Panel, path: str) -> None:
    """Only index.html and the built assets are served; any other path is a 404, however it
    is spelled."""
    cookie, _ = login(panel)
    status, _, body = call(panel, "GET", path, headers={"Cookie": cookie})
    assert status in (400, 404), (path, status)
    assert b"import" not in body and b"root:" not in body


def test_the_token_is_in_no_log_line(panel: Panel, daemon: Daemon) -> None:
    """After logins, refusals and API calls at -vv, the token is in neither the panel's log
    nor the daemon's, nor in the audit log."""
    cookie, key = login(panel)
    call(panel, "GET", f"/login?token={panel.token}x")
    call(panel, "GET", "/api/plugins", headers={"Cookie": cookie, KEY: key})
    state = Path(daemon.env["XDG_STATE_HOME"]) / "midimon"
    logs = [panel.stderr, daemon.log, *state.glob("*.jsonl")]
    assert any(p.exists() and p.stat().st_size for p in logs)
    for path in logs:
        if path.exists():
            assert panel.token not in path.read_text(errors="replace"), path
            assert cookie.split("=", 1)[1] not in path.read_text(errors="replace"), path
            assert key not in path.read_text(errors="replace"), path


def test_the_runtime_record_is_private(panel: Panel, daemon: Daemon) -> None:
    """panel.json is 0600 in a 0700 folder; `midimon ui --url` prints the running panel's URL
    (and --json its port and pid); a second `midimon ui` reuses it."""
    record = Path(daemon.env["XDG_RUNTIME_DIR"]) / "midimon" / "panel.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o700
    done = midimon(daemon.env, "ui", "--url")
    assert done.returncode == 0 and panel.url in done.stdout
    answer = midimon_json(daemon.env, "ui", "--url")
    assert (answer["port"], answer["pid"]) == (panel.port, panel.proc.pid)
    again = midimon(daemon.env, "ui", "--no-browser")
    assert again.returncode == 0 and panel.url in again.stdout
    assert "already running" in again.stderr


def _http_request(panel: Panel, head: str) -> str:
    """``head`` (method and path) as a C string literal of a whole request that forges all a
    page's headers it can: the loopback Host, the panel's Origin, a guessed cookie and key."""
    port = panel.port
    lines = [
        f"{head} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Origin: http://127.0.0.1:{port}",
        f"Cookie: midimon_panel_{port}=guessed", "X-CSRF-Token: guessed",
        "Content-Length: 0", "Connection: close", "", "",
    ]  # fmt: skip
    return '"' + "\\r\\n".join(lines) + '"'


def test_a_network_plugin_cannot_read_the_panel_token(
    make_plugin, make_manager, isolated_dirs: dict[str, str], panel: Panel, daemon: Daemon
) -> None:
    """A plugin granted Network (so it can reach the loopback port) runs in a worker that
    cannot open the runtime folder's panel.json (Landlock); what it sends to the port, with
    every header a page would send forged but no session, is refused (401) and changes
    nothing the daemon holds."""
    from hostile import hostile

    from midimon.plugins.description.capabilities import Capability
    from midimon.plugins.loading.context import TriggerContext
    from midimon.ui.runtime_file import PanelRecord, write_record

    record = write_record(PanelRecord(url="u", port=panel.port, pid=os.getpid(), token="t" * 43))
    assert str(record).startswith(isolated_dirs["XDG_RUNTIME_DIR"])
    hostile(make_plugin, "h_panel_read", "READ", caps=("network",), P_PATH=f'"{record}"')
    hostile(make_plugin, "h_panel_post", "CONNECT", caps=("network",), P_PORT=str(panel.port))
    manager = make_manager()
    for name in ("h_panel_read", "h_panel_post"):
        manager.grant(name, Capability.NETWORK)
    result = manager.execute("h_panel_read", {}, TriggerContext(velocity=100, number=36))
    enforced = manager.describe("h_panel_read")["enforced"] or []
    if not any(line.startswith("Landlock") for line in enforced):
        from helpers import IN_CI

        if IN_CI:
            pytest.fail(f"Landlock is not in force in the worker under CI: {enforced}")
        pytest.skip("Landlock is not available here")
    assert not result.ok and os.strerror(13) in result.message, result
    result = manager.execute("h_panel_post", {}, TriggerContext(velocity=100, number=36))
    assert result.ok and "connected" in result.message, result  # the port is reachable...
    assert call(panel, "POST", "/api/plugins/x/disable", body=b"hello")[0] == 401  # ...but shut
    requests = {
        "h_panel_disable": "POST /api/plugins/file_log/disable",
        "h_panel_list": "GET /api/plugins",
        "h_panel_login": "GET /login?token=guessed",
    }
    for name, head in requests.items():
        hostile(make_plugin, name, "HTTP", caps=("network",), P_PORT=str(panel.port),
                P_REQUEST=_http_request(panel, head))  # fmt: skip
    manager = make_manager()
    for name in requests:
        manager.grant(name, Capability.NETWORK)
        result = manager.execute(name, {}, TriggerContext(velocity=100, number=36))
        assert result.ok and result.message == "answer: HTTP/1.1 401 Unauthorized", result
    assert midimon_json(daemon.env, "plugins", "info", "file_log")["execution"]["enabled"]
    assert "disable" not in {e["event"] for e in control(daemon.env, "AUDIT", plugin="file_log")}


def test_a_second_ui_opens_the_running_panel_in_the_browser(panel: Panel, daemon: Daemon) -> None:
    """`midimon ui` while a panel runs hands that panel's URL to the browser ($BROWSER)."""
    browser, opened = browser_script(daemon.root)
    done = midimon({**daemon.env, "BROWSER": browser}, "ui")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: opened.exists() and panel.url in opened.read_text())
