"""The benchmark suite's smoke run: ``python -m benchmarks --quick`` produces every figure.

Values are not judged here (timed assertions on a shared machine are noise; the figures live
in benchmarks/README.md); what must hold is that each benchmark ran for real — JACK, the
daemon, workers, minisign — and reported its figure with the floor it is compared with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import require_tool

REPO = Path(__file__).resolve().parent.parent

# figure -> whether it carries a floor measured in the same run
EXPECTED = {
    "dispatch.raw_cffi.p50": False,
    "dispatch.in_process.p50": True,
    "dispatch.in_process_inline.p50": True,
    "dispatch.thread_handover.p50": False,
    "dispatch.in_process.p99": True,
    "dispatch.isolated.p50": True,
    "dispatch.isolated.p99": True,
    "dispatch.isolated.manager_call.p50": True,
    "jack.isolated.send_to_execute.p50": True,
    "jack.in_process.send_to_execute.p50": True,
    "jack.isolated.host_overhead.p50": False,
    "jack.in_process.host_overhead.p50": False,
    "jack.in_process_inline.host_overhead.p50": False,
    "throughput.isolated.sustained": True,
    "throughput.isolated.lost": False,
    "throughput.in_process_inline.sustained": True,
    "throughput.in_process_inline.lost": False,
    "verify.midimon_verify_50mb": True,
    "verify.sha256sum_50mb": True,
    "discovery.1000_folders.first_scan": True,
    "discovery.load_first_execute.isolated": True,
    "discovery.load_first_execute.in_process": True,
    "reload.500_mappings": True,
    "memory.daemon_idle": True,
    "memory.daemon_10_plugins": True,
    "memory.worker_max": True,
    # blamed counts: the plain client's floor is often 0, so no ratio is required
    "rt_cycles.plain.blamed": False,
    "rt_cycles.rtmidi_reloading.blamed": False,
    "rt_cycles.native_reloading.blamed": False,
    "rt_cycles.native.received": True,
    "rt_cycles.rtmidi.received": True,
    "costs.http_server_import": True,
    "costs.header_parse_rss": True,
    "costs.header_parse_time": True,
    "costs.context_checks": True,
}


def test_quick_run_produces_every_figure(tmp_path: Path) -> None:
    for tool in ("gcc", "jackd", "minisign", "objcopy", "sha256sum"):
        require_tool(tool)
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(out.read_text())
    assert json.loads(done.stdout) == report
    assert report["errors"] == {}
    assert report["quick"] is True and report["machine"]["cores"]
    figures = report["figures"]
    missing = sorted(set(EXPECTED) - set(figures))
    assert not missing, f"figures not produced: {missing}"
    for name, has_floor in EXPECTED.items():
        figure = figures[name]
        assert isinstance(figure["value"], (int, float)) and figure["value"] >= 0, figure
        assert figure["unit"], figure
        if has_floor:
            assert figure["floor"] is not None and figure["floor"] > 0, figure
            assert figure["ratio"] == round(figure["value"] / figure["floor"], 3), figure
        if figure["target"] is not None:
            assert isinstance(figure["met"], bool), figure
    # The saved figures render again as the Markdown table of benchmarks/README.md.
    table = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--from-json", str(out), "--markdown"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert table[0].startswith("| figure | value |") and len(table) == 2 + len(figures)
    assert any(line.startswith("| `reload.500_mappings` |") for line in table)
    # Every benchmark printed progress lines.
    benchmarks = ("dispatch", "discovery", "reload", "verify", "memory", "jack", "throughput")
    for name in (*benchmarks, "rt_cycles"):
        assert f"{name} done in" in done.stderr


def test_table_output_and_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "reload"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    header, rule, row = done.stdout.splitlines()[:3]
    assert header.split()[:2] == ["figure", "value"] and set(rule) <= {"-", " "}
    assert row.startswith("reload.500_mappings") and "<= 20 ms" in row
    assert "(1/1) reload" in done.stderr


def test_bad_option_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nonsense"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid choice" in done.stderr
