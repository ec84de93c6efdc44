"""``midimon audit``: the audit log read back, filtered by plugin, event and time, as lines
or JSON; --since takes durations and dates and says what it wants when it gets neither."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from helpers import RunMidimon

from midimon.cli.audit_cmd import parse_since
from midimon.cli.common import CliError
from midimon.plugins.manager.audit import AuditLog


@pytest.mark.parametrize(
    ("text", "ago"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)]
)
def test_since_as_a_duration(text: str, ago: float) -> None:
    """Durations count back from now."""
    assert parse_since(text, now=100_000.0) == 100_000.0 - ago


def test_since_as_a_date_or_neither() -> None:
    """An ISO date or time is taken as local time; anything else names both forms."""
    assert parse_since("2026-11-27T08:00") == datetime(2026, 11, 27, 8, 0).timestamp()
    with pytest.raises(CliError, match=r"use a duration \(30s, 10m, 2h, 1d\) or a date"):
        parse_since("yesterday")


@pytest.fixture
def audit_log(midimon_env: dict[str, str]) -> AuditLog:
    """The isolated environment's audit log with four events, the first two a day old."""
    now = time.time()
    stamps = iter([now - 86400, now - 86000, now - 10, now - 5])
    log = AuditLog(Path(midimon_env["XDG_STATE_HOME"]) / "midimon" / "audit.jsonl",
                   clock=lambda: next(stamps))  # fmt: skip
    log.record("grant", "pad", capability="network")
    log.record("crash", "knob", detail="SIGSEGV")
    log.record("crash", "pad", detail="exit 3", empty="")
    log.record("disable", "pad", reason="too many crashes")
    return log


def test_filters_combine(audit_log: AuditLog, run_midimon: RunMidimon) -> None:
    """--plugin, --event and --since narrow the JSON list together."""
    def events(*args: str) -> list[tuple[str, str]]:
        done = run_midimon("audit", "--json", *args)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["log"] == str(audit_log.path)
        return [(e["event"], e["plugin"]) for e in data["events"]]

    assert len(events()) == 4
    assert events("--plugin", "pad") == [("grant", "pad"), ("crash", "pad"), ("disable", "pad")]
    assert events("--event", "crash") == [("crash", "knob"), ("crash", "pad")]
    assert events("--plugin", "pad", "--since", "1h") == [("crash", "pad"), ("disable", "pad")]


def test_text_lines(audit_log: AuditLog, run_midimon: RunMidimon) -> None:
    """One line per event: time, event, plugin, details without the empty ones."""
    lines = run_midimon("audit", "--plugin", "pad", "--since", "1h").stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[1:] == ["crash", "pad", "detail=exit", "3"]
    assert "empty=" not in lines[0]
    assert "reason=too many crashes" in lines[1]


def test_nothing_matches_or_bad_input(audit_log: AuditLog, run_midimon: RunMidimon) -> None:
    """No match says where it looked; an unknown event is a usage error; a bad --since exits
    with the message."""
    done = run_midimon("audit", "--plugin", "nobody")
    assert done.returncode == 0 and done.stdout.strip() == f"no matching events in {audit_log.path}"
    assert run_midimon("audit", "--event", "explode").returncode == 2
    done = run_midimon("audit", "--since", "soon")
    assert done.returncode != 0 and "--since 'soon'" in done.stderr
