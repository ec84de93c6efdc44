"""The audit log: one JSON line per event, appended by many threads without tearing, read back
filtered; unknown events refused, damaged lines skipped."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from midimon.plugins.manager.audit import EVENTS, AuditLog


def test_record_and_read_back_filtered(tmp_path: Path) -> None:
    """Entries carry time, event, plugin and details; read() filters by plugin, event, since."""
    times = iter([10.0, 20.0, 30.0])
    log = AuditLog(tmp_path / "state" / "audit.jsonl", clock=lambda: next(times))
    first = log.record("grant", "a", capability="network")
    log.record("crash", "b", detail="SIGSEGV")
    log.record("crash", "a", detail="exit 3")
    assert first == {"time": 10.0, "event": "grant", "plugin": "a", "capability": "network"}
    assert [e["time"] for e in log.read()] == [10.0, 20.0, 30.0]
    assert [e["time"] for e in log.read(plugin="a")] == [10.0, 30.0]
    assert [e["plugin"] for e in log.read(event="crash")] == ["b", "a"]
    assert [e["time"] for e in log.read(since=20.0)] == [20.0, 30.0]
    assert list(log.read(plugin="a", event="crash", since=25)) == [
        {"time": 30.0, "event": "crash", "plugin": "a", "detail": "exit 3"}
    ]
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_unknown_events_are_refused(tmp_path: Path) -> None:
    """Only the documented events can be written (a typo would hide from every filter)."""
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ValueError, match="unknown audit event 'crashed'"):
        log.record("crashed", "p")
    assert not log.path.exists()
    assert "control_refused" in EVENTS and "host_service_limited" in EVENTS


def test_details_that_json_cannot_hold_are_written_as_text(tmp_path: Path) -> None:
    """A Path or other object in the details is stored as its text; non-ASCII stays readable."""
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("grant", "p", path=Path("/home/ü"))
    assert "/home/ü" in log.path.read_text(encoding="utf-8")
    assert next(log.read())["path"] == "/home/ü"


def test_damaged_lines_are_skipped(tmp_path: Path) -> None:
    """A torn line, a line that is not an object, or a missing file never stop a reader."""
    log = AuditLog(tmp_path / "audit.jsonl")
    assert list(log.read()) == []
    log.record("load", "p")
    with log.path.open("a", encoding="utf-8") as out:
        out.write('{"time": 1, "event": "lo\n[1, 2]\n\xff\n')
    log.record("unload", "p")
    assert [e["event"] for e in log.read()] == ["load", "unload"]


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Eight threads (and two AuditLog objects on one file) write 200 events each; every line
    reads back whole."""
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path), AuditLog(path)]

    def write(n: int) -> None:
        for i in range(200):
            logs[n % 2].record("execute_failed", f"p{n}", message="x" * (n * 100), i=i)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1600
    entries = [json.loads(line) for line in lines]
    for n in range(8):
        assert [e["i"] for e in entries if e["plugin"] == f"p{n}"] == list(range(200))
