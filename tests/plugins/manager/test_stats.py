"""Per-plugin statistics: counters, nearest-rank percentiles over a bounded window, and the
host-service drops folded in."""

from __future__ import annotations

import threading

import pytest

from midimon.plugins.manager.stats import LATENCY_WINDOW, PluginStats, percentile


def test_nearest_rank_percentiles() -> None:
    """p50 and p99 of 1..100 are 50 and 99; one value is every percentile; none gives 0."""
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def test_as_dict_reports_counters_and_latency_in_ms() -> None:
    """Latencies are given in seconds and reported in milliseconds; drops come from the host."""
    stats = PluginStats(executions=3, successes=2, crashes=1)
    for seconds in (0.001, 0.002, 0.003):
        stats.add_latency(seconds)
    data = stats.as_dict({"log": 4, "send_midi": 1})
    assert (data["executions"], data["successes"], data["crashes"]) == (3, 2, 1)
    assert (data["log_dropped"], data["send_midi_dropped"]) == (4, 1)
    assert data["latency_ms"] == {"samples": 3, "mean": 2.0, "p50": 2.0, "p99": 3.0}
    empty = PluginStats().as_dict()
    assert empty["latency_ms"] == {"samples": 0, "mean": 0.0, "p50": 0.0, "p99": 0.0}
    assert empty["log_dropped"] == 0 and empty["last_execution"] is None


def test_only_the_most_recent_calls_count() -> None:
    """Past LATENCY_WINDOW calls the oldest latencies are forgotten."""
    stats = PluginStats()
    for _ in range(LATENCY_WINDOW):
        stats.add_latency(1.0)
    for _ in range(LATENCY_WINDOW):
        stats.add_latency(0.001)
    latency = stats.as_dict()["latency_ms"]
    assert latency["samples"] == LATENCY_WINDOW
    assert latency["p99"] == pytest.approx(1.0)


def test_latencies_from_many_threads() -> None:
    """add_latency from several threads while another reads loses no sample."""
    stats = PluginStats()
    threads = [threading.Thread(target=lambda: [stats.add_latency(0.001) for _ in range(1000)])
               for _ in range(4)]  # fmt: skip
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        stats.as_dict()
    assert stats.as_dict()["latency_ms"]["samples"] == 4000
