"""GrantRequests: one request per (plugin, capability), throttled count events, denials kept
per binary in the state file, and the audit log's source context."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from midimon.daemon.control_streams import EventHub
from midimon.daemon.grant_requests import EVENT_INTERVAL, GrantRequests
from midimon.plugins.manager.audit import AuditLog, audit_source


class Clock:
    """Wall and monotonic time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> tuple[GrantRequests, list[dict[str, Any]], Clock]:
    events: list[dict[str, Any]] = []
    clock = Clock()
    requests = GrantRequests(tmp_path / "grant_requests.json", events.append,
                             clock=clock, monotonic=clock)  # fmt: skip
    return requests, events, clock


def test_one_request_per_pair_with_counts_and_throttled_events(store) -> None:
    """Three refusals in a second: one request counting 3, one event; the held count event
    goes out once its second has passed."""
    requests, events, clock = store
    for _ in range(3):
        requests.record("file_log", "filesystem", "high", "aa" * 32, 'modes[0] "Default" '
                        "mappings[0]", lambda: "Note note=40 on channel 1")  # fmt: skip
        clock.now += 0.1
    rows = requests.listing()
    assert len(rows) == 1
    row = rows[0]
    assert (row["plugin"], row["capability"], row["risk"], row["count"], row["state"]) == (
        "file_log", "filesystem", "high", 3, "pending"
    )  # fmt: skip
    assert row["first"] == 1000.0 and row["last"] == pytest.approx(1000.2)
    assert row["mapping"].endswith("mappings[0]") and row["trigger"].startswith("Note")
    assert [(e["type"], e["count"]) for e in events] == [("grant_request", 1)]
    requests._send_held()  # the background thread's job: not yet a second since the event
    assert len(events) == 1
    clock.now += EVENT_INTERVAL
    requests._send_held()
    assert [(e["type"], e["count"]) for e in events] == [("grant_request", 1), ("grant_request", 3)]
    requests.record("http_request", "network", "medium", "bb" * 32, "", "CC")
    assert len(requests.listing()) == 2 and events[-1]["plugin"] == "http_request"


def test_grant_clears_and_deny_is_remembered_for_that_binary(store, tmp_path: Path) -> None:
    """A grant removes the request (event "granted"); a deny removes it from the pending list,
    survives a new store read from the file (0600), keeps counting silently, and holds only
    for the binary it was given to."""
    requests, events, clock = store
    requests.record("file_log", "filesystem", "high", "aa" * 32, "m", "t")
    assert requests.granted("file_log", "filesystem") is True
    assert events[-1] == {"type": "grant_request_cleared", "plugin": "file_log",
                          "capability": "filesystem", "state": "granted"}  # fmt: skip
    assert requests.listing(include_denied=True) == []
    assert requests.granted("file_log", "filesystem") is False

    requests.record("http_request", "network", "medium", "bb" * 32, "m", "t")
    requests.deny("http_request", "network", "medium", "bb" * 32)
    assert events[-1]["type"] == "grant_request_cleared" and events[-1]["state"] == "denied"
    path = tmp_path / "grant_requests.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["requests"][0]["sha256"] == "bb" * 32

    again: list[dict[str, Any]] = []
    reread = GrantRequests(path, again.append, clock=clock, monotonic=clock)
    assert reread.listing() == []
    reread.record("http_request", "network", "medium", "bb" * 32, "m", "t")
    assert again == []  # denied: no dialog
    denied = reread.listing(include_denied=True)
    assert [(r["state"], r["count"]) for r in denied] == [("denied", 2)]
    assert reread.denied("http_request")[0]["sha256"] == "bb" * 32

    reread.record("http_request", "network", "medium", "cc" * 32, "m", "t")  # a new binary
    assert [(r["state"], r["count"]) for r in reread.listing()] == [("pending", 1)]
    assert again[-1]["type"] == "grant_request"


def test_undeny_asks_again_and_forget_drops_a_plugin(store) -> None:
    """undeny forgets the denial (the next refusal is a new pending request); forget drops
    everything of an uninstalled plugin."""
    requests, _, _ = store
    requests.deny("http_request", "network", "medium", "bb" * 32)
    assert requests.undeny("http_request", "network") is True
    assert requests.undeny("http_request", "network") is False
    requests.record("http_request", "network", "medium", "bb" * 32, "m", "t")
    assert [r["state"] for r in requests.listing()] == ["pending"]
    assert requests.forget("http_request") == ["network"]
    assert requests.listing(include_denied=True) == []


def test_a_corrupt_file_starts_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An unreadable state file is reported by name and replaced on the next save."""
    path = tmp_path / "grant_requests.json"
    path.write_text("{not json")
    requests = GrantRequests(path, lambda event: None)
    assert requests.listing(include_denied=True) == []
    assert str(path) in caplog.text
    requests.deny("p", "network", "medium", None)
    assert json.loads(path.read_text())["requests"][0]["state"] == "denied"


def test_background_thread_saves_after_a_burst(tmp_path: Path) -> None:
    """Recording writes nothing itself; the thread saves the burst, and stop() the rest."""
    path = tmp_path / "grant_requests.json"
    requests = GrantRequests(path, lambda event: None)
    requests.record("p", "network", "medium", None, "m", "t")
    assert not path.exists()
    requests.start()
    requests.record("p", "network", "medium", None, "m", "t")
    requests.stop()
    assert json.loads(path.read_text())["requests"][0]["count"] == 2


def test_audit_source_marks_events_of_the_block(tmp_path: Path) -> None:
    """Events recorded inside audit_source("ui") carry source "ui"; outside, none; an explicit
    source wins."""
    log = AuditLog(tmp_path / "audit.jsonl")
    with audit_source("ui"):
        log.record("grant", "p", capability="network")
        log.record("verify", "p", source="midimon verify")
    log.record("revoke", "p", capability="network")
    entries = list(log.read())
    assert [e.get("source") for e in entries] == ["ui", "midimon verify", None]


def test_stats_events_go_only_to_subscribers_that_name_them() -> None:
    """An opt-in type (stats) reaches a subscriber naming it, never one that takes all."""
    hub = EventHub()
    everything = hub.subscribe()
    assert not hub.wants("stats")
    named = hub.subscribe(["stats"])
    assert hub.wants("stats")
    assert hub.publish({"type": "stats"}) == 1
    assert hub.publish({"type": "midi"}) == 1
    assert named.next_item(0)["type"] == "stats"
    assert everything.next_item(0)["type"] == "midi"
    named.release()
    assert not hub.wants("stats")
    everything.release()
