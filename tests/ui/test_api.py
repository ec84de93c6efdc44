"""The panel's JSON API (midimon/ui/api.py) over real HTTP, against a real `midimon ui` and a
real daemon on a private JACK dummy server with the bundled plugins: every route answers
what the daemon says, each change is the CLI's own (seen by `midimon plugins info` and the
audit log, marked source "ui"), a daemon refusal comes back as JSON carrying its message, a
package installed with chosen grants runs on the very next press, and the event stream
delivers a grant request as it happens."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import open_jack_output, wait_for
from panel_harness import (
    Daemon,
    Http,
    Panel,
    build_packages,
    control,
    midimon_json,
    start_daemon,
    start_panel,
    stop,
)

CONFIG = """
[device]
virtual_port = "midimon-api"

[[modes]]
name = "Default"
[[modes.mappings]]
description = "installed pad"
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "api_probe", params = {{}} }}
[[modes.mappings]]
description = "log pad"
trigger = {{ type = "Note", note = 38 }}
action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "{log}" }} }}
[[modes.mappings]]
description = "transpose pad"
trigger = {{ type = "Note", note = 40 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ semitones = 12 }} }}
"""


@pytest.fixture(scope="module")
def daemon(ui_root: Path, jack_env: dict[str, str]) -> Iterator[Daemon]:
    """`midimon run` on a JACK virtual port with pads 36 (a package installed later), 38 and
    40 (bundled plugins)."""
    log = Path(jack_env["HOME"]) / "logs" / "pads.log"
    log.parent.mkdir()
    running = start_daemon(ui_root, jack_env, CONFIG.format(log=log))
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def panel(daemon: Daemon) -> Iterator[Panel]:
    """`midimon ui --no-browser` for that daemon."""
    running = start_panel(daemon.env, daemon.root)
    yield running
    stop(running.proc)


@pytest.fixture(scope="module")
def api(panel: Panel) -> Http:
    """A logged-in session on the panel."""
    return Http(panel).login()


@pytest.fixture(scope="module")
def pads(daemon: Daemon) -> Iterator[Any]:
    """``pads(note)``: one press of a pad, from a JACK output into the daemon."""
    out = open_jack_output("midimon:midimon-api", client="api-test-pads")

    def press(note: int) -> None:
        out.send_message([0x90, note, 100])
        out.send_message([0x80, note, 0])

    yield press
    out.delete()


def info(daemon: Daemon, plugin: str) -> dict[str, Any]:
    """`midimon plugins info NAME --json`: what the CLI sees."""
    return midimon_json(daemon.env, "plugins", "info", plugin)


def last_audit(daemon: Daemon, plugin: str) -> dict[str, Any]:
    return control(daemon.env, "AUDIT", plugin=plugin)[-1]


class Events:
    """The page's event stream (/api/events), read by a thread."""

    def __init__(self, api: Http) -> None:
        self.received: list[dict[str, Any]] = []
        self._conn = http.client.HTTPConnection("127.0.0.1", api.panel.port, timeout=60)
        self._conn.request(
            "GET", f"/api/events?key={api.key}",
            headers={"Host": f"127.0.0.1:{api.panel.port}", "Cookie": api.cookie},
        )  # fmt: skip
        response = self._conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        self._response = response
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._response:
                if line.startswith(b"data: "):
                    self.received.append(json.loads(line[6:]))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):  # closed
            pass

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("type") == kind]

    def close(self) -> None:
        self._conn.close()


def test_session_and_the_capability_table(api: Http, daemon: Daemon) -> None:
    """/api/session: the daemon answers, and where user plugins live; /api/capabilities: every
    capability with its risk worded and described (one source, Python's)."""
    status, session = api.get("/api/session")
    assert status == 200 and "error" not in session["daemon"], session
    assert session["user_plugins_dir"] == str(
        Path(daemon.env["XDG_DATA_HOME"]) / "midimon" / "plugins"
    )
    assert api.panel.token not in json.dumps(session) and api.key not in json.dumps(session)
    status, table = api.get("/api/capabilities")
    assert status == 200
    risks = {row["name"]: row["risk"] for row in table}
    assert risks["network"] == "medium" and risks["filesystem"] == "high"
    assert set(risks.values()) <= {"low", "medium", "high"} and "low" in risks.values()
    assert all(row["display"] and row["description"] for row in table)


def test_plugins_brief_rows_then_merged_detail(api: Http, daemon: Daemon) -> None:
    """?brief=1 gives the daemon's PLUGINS rows as they are; the full list merges each
    plugin's PLUGIN_INFO (signer, trust, SHA-256, capability risks, grants, enforcement) and
    PLUGIN_STATS."""
    status, brief = api.get("/api/plugins?brief=1")
    assert status == 200 and brief == control(daemon.env, "PLUGINS")
    status, full = api.get("/api/plugins")
    assert status == 200
    rows = {row["name"]: row for row in full}
    assert {"file_log", "http_request", "midi_transpose"} <= set(rows)
    for name in ("file_log", "http_request", "midi_transpose"):
        row = rows[name]
        cli = info(daemon, name)
        detail = row["info"]
        assert len(detail["sha256_actual"]) == 64 and detail["sha256_actual"] in json.dumps(cli)
        assert detail["trust"] == "bundled" and detail["version"] == cli["version"]
        assert detail["granted"] == cli["execution"]["granted"]
        assert detail["isolation"] == "isolated" and detail["enforced"], detail
        assert detail["kernel"] and detail["worker_pid"] is None
        assert row["stats"] == control(daemon.env, "PLUGIN_STATS", name=name)
    risks = {c["name"]: c["risk"] for c in rows["file_log"]["info"]["capability_details"]}
    assert risks == {"filesystem": "high"}


def test_actions_are_the_cli_s_and_audited_as_ui(api: Http, daemon: Daemon) -> None:
    """Disable, enable, load, unload, grant (with a folder) and revoke: each answer is the
    daemon's, `midimon plugins info` sees it at once, and the audit log says source ui."""
    base = "/api/plugins/midi_transpose"
    assert api.post(f"{base}/disable") == (200, {"disabled": "midi_transpose"})
    assert not info(daemon, "midi_transpose")["execution"]["enabled"]
    assert last_audit(daemon, "midi_transpose")["source"] == "ui"
    assert api.post(f"{base}/enable") == (200, {"enabled": "midi_transpose"})
    assert info(daemon, "midi_transpose")["execution"]["enabled"]
    assert api.post(f"{base}/load") == (200, {"loaded": "midi_transpose"})
    assert info(daemon, "midi_transpose")["execution"]["loaded"]
    assert api.post(f"{base}/unload") == (200, {"unloaded": True})
    assert not info(daemon, "midi_transpose")["execution"]["loaded"]

    folder = Path(daemon.env["HOME"]) / "logs"
    answer = api.post(
        "/api/plugins/file_log/grant", {"capability": "filesystem", "paths": [str(folder)]}
    )
    assert answer == (200, {"granted": "filesystem"})
    execution = info(daemon, "file_log")["execution"]
    assert "filesystem" in execution["granted"]
    assert execution["filesystem_paths"] == [str(folder)]
    granted = last_audit(daemon, "file_log")
    assert (granted["event"], granted["source"], granted["paths"]) == ("grant", "ui", [str(folder)])
    assert api.post("/api/plugins/file_log/revoke", {"capability": "filesystem"}) == (
        200, {"revoked": True}
    )  # fmt: skip
    assert "filesystem" not in info(daemon, "file_log")["execution"]["granted"]
    assert last_audit(daemon, "file_log")["source"] == "ui"


def test_refusals_come_back_as_json_with_the_daemons_message(api: Http, daemon: Daemon) -> None:
    """What the daemon refuses is a JSON error carrying its message (the page shows it):
    a folder of midimon's own state (409, as the CLI refuses it), a capability the plugin
    does not ask for, an unknown plugin; a malformed request never reaches the daemon."""
    state = Path(daemon.env["XDG_STATE_HOME"]) / "midimon"
    status, answer = api.post(
        "/api/plugins/file_log/grant", {"capability": "filesystem", "paths": [str(state)]}
    )
    assert status == 409 and answer["code"] == "COMMAND_FAILED", answer
    assert "midimon" in answer["error"], answer
    assert "filesystem" not in info(daemon, "file_log")["execution"]["granted"]
    status, answer = api.post("/api/plugins/file_log/grant", {"capability": "network"})
    assert status == 409 and "does not ask for network" in answer["error"], answer
    status, answer = api.post("/api/plugins/no_such_plugin/load")
    assert status == 409 and "no_such_plugin" in answer["error"], answer
    status, answer = api.post("/api/plugins/file_log/grant", {"capability": "telepathy"})
    assert status == 400 and "telepathy" in answer["error"], answer
    assert api.post("/api/plugins/file_log/explode")[0] == 404
    assert api.post("/api/plugins/..%2f..%2fx/disable")[0] in (400, 404)
    assert api.post("/api/plugins/-rf/disable")[0] == 400
    for body in (b"[1, 2]", b"{nope"):
        status, _, _ = api.call(
            "POST", "/api/plugins/file_log/grant", headers=api.session_headers(), body=body
        )
        assert status == 400, body
    assert api.get("/api/plugins/file_log/grant")[0] == 405


def test_a_refused_press_is_a_request_on_the_stream_then_denied_and_undenied(
    api: Http, daemon: Daemon, pads: Any
) -> None:
    """A press of file_log without its grant: the event stream delivers the request at once,
    /api/requests lists it with its mapping and trigger; Deny moves it to ?all=1 as denied
    (the next press asks nothing); Undeny forgets it."""
    events = Events(api)
    try:
        assert wait_for(lambda: bool(events.received), 10)
        assert events.received[0] == {"type": "daemon", "connected": True}
        pads(38)
        assert wait_for(lambda: bool(events.of("grant_request")), 10), events.received
        event = events.of("grant_request")[0]
        assert (event["plugin"], event["capability"], event["risk"]) == (
            "file_log", "filesystem", "high"
        )  # fmt: skip
        status, pending = api.get("/api/requests")
        assert status == 200 and [r["plugin"] for r in pending] == ["file_log"]
        assert pending[0]["mapping"] == 'modes[0] "Default" mappings[1] ("log pad")'
        assert pending[0]["trigger"].startswith("Note note=38")

        status, denied = api.post("/api/plugins/file_log/deny", {"capability": "filesystem"})
        assert status == 200 and denied["state"] == "denied", denied
        assert last_audit(daemon, "file_log")["event"] == "grant_denied"
        assert api.get("/api/requests") == (200, [])
        status, everything = api.get("/api/requests?all=1")
        assert [(r["plugin"], r["state"]) for r in everything] == [("file_log", "denied")]
        assert wait_for(lambda: bool(events.of("grant_request_cleared")), 10)
        pads(38)
        time.sleep(1.0)
        assert len(events.of("grant_request")) == 1  # denied: not asked again
        assert api.post("/api/plugins/file_log/undeny", {"capability": "filesystem"}) == (
            200, {"undenied": True}
        )  # fmt: skip
        assert api.get("/api/requests?all=1") == (200, [])
    finally:
        events.close()


@pytest.fixture(scope="module")
def packages(ui_root: Path, daemon: Daemon) -> dict[str, Path]:
    """A signed package of ``api_probe`` (asks for Network) and a tampered copy."""
    return build_packages(daemon.env, ui_root, "api_probe", "an uploaded probe")


def test_a_tampered_package_is_refused_and_installs_nothing(
    api: Http, daemon: Daemon, packages: dict[str, Path]
) -> None:
    """Verify reports the modified binary; install refuses it with the reason (409) and
    nothing lands in the user plugins dir; malformed uploads are 400s."""
    status, report = api.upload("/api/packages/verify", packages["tampered"])
    assert status == 200 and report["ok"] is False and "modified" in report["reason"], report
    status, answer = api.upload(
        "/api/packages/install", packages["tampered"], {"grant": ["network"]}
    )
    assert status == 409 and "not installed" in answer["error"] and "modified" in answer["error"]
    user_plugins = Path(daemon.env["XDG_DATA_HOME"]) / "midimon" / "plugins"
    assert not (user_plugins / "api_probe").exists()
    assert api.upload("/api/packages/verify", None, {"grant": []})[0] == 400  # no file
    assert api.upload("/api/packages/install", packages["good"], "{nope")[0] == 400
    assert api.upload("/api/packages/install", packages["good"], {"grant": "network"})[0] == 400
    assert not (user_plugins / "api_probe").exists()


def test_install_with_chosen_grants_runs_at_the_next_press_then_uninstall(
    api: Http, daemon: Daemon, packages: dict[str, Path], pads: Any
) -> None:
    """Verify (signed by Alice, Network medium risk, nothing installed), install granting
    Network: the very next press runs the plugin (no denial, no request, no restart);
    `midimon plugins info` shows the grant; uninstall removes plugin and grant."""
    status, report = api.upload("/api/packages/verify", packages["good"])
    assert status == 200 and report["ok"] is True and report["plugin"] == "api_probe", report
    assert report["signature"]["signer"] == "Alice"
    assert report["capabilities"] == [{"name": "network", "risk": "medium"}]
    user_plugins = Path(daemon.env["XDG_DATA_HOME"]) / "midimon" / "plugins"
    assert not (user_plugins / "api_probe").exists()

    status, done = api.upload("/api/packages/install", packages["good"], {"grant": ["network"]})
    assert status == 200 and done["installed"] == "api_probe" and done["granted"] == ["network"]
    pads(36)
    stats = lambda: control(daemon.env, "PLUGIN_STATS", name="api_probe")  # noqa: E731
    assert wait_for(lambda: stats()["executions"] + stats()["denials"] >= 1, 10)
    assert (stats()["successes"], stats()["denials"]) == (1, 0), stats()
    assert api.get("/api/requests?all=1") == (200, [])
    assert info(daemon, "api_probe")["execution"]["granted"] == ["network"]
    audit = control(daemon.env, "AUDIT", plugin="api_probe")
    assert {("install", "ui"), ("grant", "ui")} <= {(e["event"], e.get("source")) for e in audit}

    status, gone = api.post("/api/plugins/api_probe/uninstall")
    assert status == 200 and gone["grants_removed"] == ["network"], gone
    assert not (user_plugins / "api_probe").exists()
    assert "api_probe" not in {r["name"] for r in api.get("/api/plugins?brief=1")[1]}
    status, answer = api.post("/api/plugins/file_log/uninstall")  # bundled: never removed
    assert status == 409 and "bundled or system-wide" in answer["error"]


def test_stats_now_with_history_and_the_audit_tail(api: Http, daemon: Daemon, pads: Any) -> None:
    """/api/stats: STATS now (daemon figures, a row per plugin) and the stats events the panel
    kept (the chart's history); /api/audit: the log's tail, for one plugin with ?plugin=."""
    for _ in range(5):
        pads(40)
        time.sleep(0.05)
    assert wait_for(
        lambda: api.get("/api/stats")[1]["now"]["plugins"]["midi_transpose"]["executions"] >= 5
    )
    assert wait_for(lambda: len(api.get("/api/stats")[1]["history"]) >= 2, 10)
    status, answer = api.get("/api/stats")
    now = answer["now"]
    assert now["daemon"]["events"] >= 10 and now["daemon"]["rss_bytes"] > 0
    assert now["daemon"]["uptime_s"] > 0 and "dropped" in now["daemon"]
    row = now["plugins"]["midi_transpose"]
    assert row["ok"] >= 5 and row["p50_us"] > 0 and row["p99_us"] >= row["p50_us"], row
    assert all(e["type"] == "stats" for e in answer["history"])
    status, entries = api.get("/api/audit?plugin=midi_transpose")
    assert status == 200 and entries and {e["plugin"] for e in entries} == {"midi_transpose"}
    status, everything = api.get("/api/audit")
    assert status == 200 and 0 < len(everything) <= 200


def test_without_the_daemon_the_api_says_so(api: Http, daemon: Daemon) -> None:
    """Last: the daemon stops; the panel stays up and answers 503 with the reason (and the
    session route reports the daemon's absence) rather than failing."""
    control(daemon.env, "STOP")
    daemon.proc.wait(20)
    status, answer = api.get("/api/plugins")
    assert status == 503 and answer["error"], answer
    status, session = api.get("/api/session")
    assert status == 200 and session["daemon"]["error"], session
    assert api.post("/api/plugins/midi_transpose/disable")[0] == 503
