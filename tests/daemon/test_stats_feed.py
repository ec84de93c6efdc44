"""STATS and the once-a-second ``stats`` event against a real `midimon run` playing notes."""

from __future__ import annotations

import time
from pathlib import Path

from helpers import wait_for
from panel_daemon import Panel


def test_stats_move_while_notes_are_played(panel: Panel) -> None:
    """STATS counts events and plugin calls; a "stats" subscriber gets the same object once a
    second, with figures that grow while notes are played."""
    before = panel.request("STATS")
    assert before["daemon"]["uptime_s"] > 0 and before["daemon"]["rss_bytes"] > 1 << 20
    assert set(before["plugins"]) >= {"file_log", "http_request", "midi_transpose"}
    assert before["plugins"]["midi_transpose"]["executions"] == 0
    panel.listen(["stats"])
    assert wait_for(lambda: len(panel.events) >= 1, 10)
    panel.press(60, 20)
    assert wait_for(
        lambda: panel.events[-1]["plugins"]["midi_transpose"]["executions"] >= 20, 10
    )
    stats = panel.events[-1]
    assert stats["type"] == "stats"
    row = stats["plugins"]["midi_transpose"]
    assert row["ok"] >= 20 and row["failed"] == 0 and row["p50_us"] > 0
    assert row["p99_us"] >= row["p50_us"] and row["last_run"] > time.time() - 60
    assert row["loaded"] is True and isinstance(row["worker_pid"], int)
    assert row["worker_rss_bytes"] > 0
    after = panel.request("STATS")
    assert after["daemon"]["events"] >= before["daemon"]["events"] + 40
    assert any(e["daemon"]["events_per_s"] > 0 for e in panel.events)
    seconds = [e["daemon"]["uptime_s"] for e in panel.events]
    assert seconds == sorted(seconds)


def test_rss_leaves_out_shared_memory() -> None:
    """JACK's buffers (shared memory every client maps) are not counted: 64 MiB of touched
    shared memory move VmRSS, not rss_bytes."""
    import mmap

    from midimon.daemon.stats_feed import rss_bytes

    def vm_rss() -> int:
        status = Path("/proc/self/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1])

    before, vm_before = rss_bytes(), vm_rss()
    size = 64 << 20
    shared = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
    try:
        for offset in range(0, size, 4096):
            shared[offset] = 1
        after, vm_after = rss_bytes(), vm_rss()
    finally:
        shared.close()
    assert before is not None and after is not None
    assert vm_after - vm_before >= 60 << 10  # KiB: the shared pages are resident
    assert after - before < 8 << 20
