"""The benchmark suite's smoke run: ``python -m benchmarks --quick`` produces every figure.

Values are not judged here (timed assertions on a shared machine are noise; the figures live
in benchmarks/README.md); what must hold is that each benchmark ran for real — JACK, the
daemon, workers, minisign — and reported its figure with the floor it is compared with.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import require_tool

REPO = Path(__file__).resolve().parent.parent

# figure -> whether it carries a floor measured in the same run
EXPECTED = {
    "dispatch.raw_cffi.p50": False,
    "dispatch.in_process.p50": True,
    "dispatch.in_process_inline.p50": True,
    "dispatch.in_process_inline_compiled.p50": True,
    "dispatch.thread_handover.p50": False,
    "dispatch.worker_wire.spaced.p50": True,
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
    "verify.in_daemon_load_50mb": True,
    "verify.midimon_startup": True,
    "verify.sha256sum_50mb": True,
    "discovery.1000_folders.first_scan": True,
    "discovery.load_first_execute.isolated": True,
    "discovery.load_first_execute.in_process": True,
    "reload.500_mappings": True,
    "reload.500_mappings.all_changed": True,
    "reload_jack.inline.delay.p50": True,
    "reload_jack.inline.delay.max": True,
    "reload_jack.inline.added_max": True,
    "reload_jack.inline.lost": False,
    "reload_jack.isolated.delay.p50": True,
    "reload_jack.isolated.added_max": True,
    "reload_jack.isolated.lost": False,
    "memory.daemon_idle": True,
    "memory.daemon_idle_vs_python": True,
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
    # midimon's receivers in the peer benchmark (mididings' own below)
    "peer.isolated.added.p50": False,
    "peer.in_process.added.p99": False,
    "peer.in_process_inline.added.p50": False,
    "peer.isolated.latency.p50": True,
    "peer.in_process.latency.p50": True,
    "peer.in_process_inline.latency.p50": True,
}
# The peer's figures: present whenever mididings could be found or built; else the report lists
# them under "missing" with the reason. Under CI=true the build packages are installed (.ci/run),
# so mididings missing there fails the run (the benchmark raises, an error of the report).
PEER = {
    "peer.mididings.added.p50": False,
    "peer.mididings.added.p99": False,
    "peer.mididings.latency.p50": True,
    # goal lines: floor = what mididings adds, which is > 0 in practice but not asserted
    "peer.goal.in_process.added_p50": False,
    "peer.goal.in_process_inline.added_p99": False,
    "peer.goal.isolated.added_p50": False,
    "peer.goal.isolated.added_p99": False,
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
    expected = dict(EXPECTED)
    if "peer.mididings" in report["missing"]:
        if os.environ.get("CI") == "true":
            pytest.fail(f"mididings missing under CI: {report['missing']['peer.mididings']}")
        assert report["missing"]["peer.mididings"].strip(), "a missing peer needs its reason"
        assert not [n for n in figures if n.startswith(("peer.mididings.", "peer.goal."))]
    else:
        expected.update(PEER)
    missing = sorted(set(expected) - set(figures))
    assert not missing, f"figures not produced: {missing}"
    for name, has_floor in expected.items():
        figure = figures[name]
        assert isinstance(figure["value"], (int, float)), figure
        # what a receiver adds over its floor may be negative (it was handed the note first)
        assert figure["value"] >= 0 or ".added" in name, figure
        assert figure["unit"], figure
        if has_floor:
            assert figure["floor"] is not None and figure["floor"] > 0, figure
            assert figure["ratio"] == round(figure["value"] / figure["floor"], 3), figure
        if figure["target"] is not None and (figure["floor"] or 1) > 0:
            assert isinstance(figure["met"], bool), figure
    # The saved figures render again as the Markdown table of benchmarks/README.md.
    table = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--from-json", str(out), "--markdown"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split("\n\n")[0].splitlines()  # fmt: skip (the peer's table follows a blank line)
    assert table[0].startswith("| figure | value |") and len(table) == 2 + len(figures)
    assert any(line.startswith("| `reload.500_mappings` |") for line in table)
    # Every benchmark printed progress lines.
    benchmarks = ("dispatch", "discovery", "reload", "verify", "memory", "jack", "throughput")
    for name in (*benchmarks, "reload_jack", "rt_cycles", "peer"):
        assert f"{name} done in" in done.stderr


def test_table_output_and_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "reload"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    header, rule, row, cold = done.stdout.splitlines()[:4]
    assert header.split()[:2] == ["figure", "value"] and set(rule) <= {"-", " "}
    assert row.startswith("reload.500_mappings ") and "<= 10 ms" in row
    assert cold.startswith("reload.500_mappings.all_changed ") and "<= 10 ms" in cold
    assert "(1/1) reload" in done.stderr


def test_bad_option_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nonsense"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_peer_without_mididings_is_reported_missing_never_faked(tmp_path: Path) -> None:
    """With mididings neither installed nor buildable (its build tools hidden from PATH, an
    empty cache), the peer benchmark still measures midimon against the floor and lists
    mididings' figures and the goal lines under ``missing`` with the reason; under CI=true the
    same run fails."""
    tools = ("cc", "gcc", "as", "ld", "jackd", "jack_wait")
    for tool in tools:
        require_tool(tool)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{bin_dir}"  # no c++/pkg-config/ninja
    env["MIDIMON_BENCH_CACHE"] = str(tmp_path / "cache")
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--only", "peer", "--json"]
    done = subprocess.run([*command, "--output", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    reason = report["missing"]["peer.mididings"]
    assert "cannot be built here" in reason and "libboost-python-dev" in reason
    assert "peer.goal" in report["missing"]
    figures = report["figures"]
    assert not [n for n in figures if n.startswith(("peer.mididings.", "peer.goal."))]
    assert figures["peer.in_process_inline.latency.p50"]["floor"] > 0
    env["CI"] = "true"
    failed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert failed.returncode == 1
    assert "PeerMissing" in json.loads(failed.stdout)["errors"]["peer"]
