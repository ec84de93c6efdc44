"""Figure 3: sustained throughput, events/s with one plugin action per event, nothing dropped.

A real ``midimon run`` on a JACK dummy server maps note 36 to ``bench_stamp``: isolated (the
default), then in-process with ``inline = true``. This process sends note-ons into the
daemon's port at a fixed offered rate (10,000/s: ten messages every millisecond, on an
absolute schedule) for 60 s (10 s with ``--quick``), then waits until the daemon has carried
out every action. The daemon's own counters say what arrived (midi_in), what it dropped, and
how many plugin actions succeeded; an event is lost if it never became a successful plugin
action. The floor is the rate actually offered; keeping up means a ratio of at least 0.99
(the completion is seen by polling the daemon every 10 ms, so a little time is added).

What each event cost is read from /proc over the same span: CPU time (user + system) of the
daemon and of its worker processes per event acted on, and their threads' voluntary context
switches per event (each one a sleep and a wake-up: what pipelining calls to the worker
saves).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.dispatch import config_text as dispatch_config
from benchmarks.harness import Figure, Report, isolated_home, progress
from benchmarks.live import LiveDaemon, children
from benchmarks.plugins import Signer, build_plugin

RATE = 10_000  # events per second offered
BATCH = 10  # messages per send burst (every BATCH / RATE seconds)
# (figure key, isolation, inline): the default (isolated) and the fastest path.
VARIANTS = (("isolated", "isolated", False), ("in_process_inline", "in-process", True))


def config_text(plugins_dir: Path, isolation: str = "isolated", inline: bool = False) -> str:
    """Note 36 -> bench_stamp on the benchmark port."""
    text = dispatch_config(plugins_dir, isolation, inline)
    return text.replace("[device]", '[device]\nvirtual_port = "midimon-bench"', 1)


def offer(out, seconds: float) -> tuple[int, float]:
    """Send note-ons at RATE/s for ``seconds``; (messages sent, seconds it took)."""
    period = BATCH / RATE
    bursts = int(seconds / period)
    started = time.perf_counter()
    sent = 0
    for burst in range(bursts):
        delay = started + burst * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for _ in range(BATCH):
            out.send_message([0x90, 36, 1 + sent % 126])
            sent += 1
        if burst % int(1 / period) == 0 and burst:
            progress(f"throughput: {burst * period:.0f} s, {sent} sent")
    return sent, time.perf_counter() - started


def run(report: Report, quick: bool) -> None:
    """Measure figure 3 into ``report``."""
    seconds = 10.0 if quick else 60.0
    for key, isolation, inline in VARIANTS:
        with isolated_home("throughput") as tmp:
            Signer().sign(build_plugin(tmp / "plugins" / "bench_stamp"))
            with LiveDaemon(config_text(tmp / "plugins", isolation, inline), tmp) as live:
                out = live.output()
                out.send_message([0x90, 36, 1])  # warm up: load the plugin, start its worker
                warm = _wait_for(live, lambda s: s["actions_ok"] + s["actions_failed"] >= 1, 30)
                if not warm["actions_ok"]:
                    raise RuntimeError(f"the plugin action failed; daemon log:\n{live.log_text()}")
                before = live.status()
                pids = {"daemon": [live.pid], "worker": children(live.pid)}
                usage_before = {who: _usage(p) for who, p in pids.items()}
                progress(f"throughput: {key}, offering {RATE}/s for {seconds:g} s")
                started = time.perf_counter()
                sent, took = offer(out, seconds)
                # Done when every message that arrived was acted on, or nothing moves for 5 s.
                status = _drain(live, before, sent)
                finished = time.perf_counter()
                usage = {who: _usage(p) for who, p in pids.items()}
        arrived = status["midi_in"] - before["midi_in"]
        ok = status["actions_ok"] - before["actions_ok"]
        failed = status["actions_failed"] - before["actions_failed"]
        dropped = status["dropped"] - before["dropped"]
        report.add(Figure(
            f"throughput.{key}.sustained", ok / (finished - started), "events/s",
            floor=sent / took, floor_name="rate offered", target=0.99, target_of="ratio",
            higher_is_better=True,
            note=f"{sent} sent over {took:.1f} s; all acted on {finished - started:.1f} s "
            "after the first",
        ))  # fmt: skip
        report.add(Figure(
            f"throughput.{key}.lost", sent - ok, "events", target=0,
            note=f"sent {sent}, arrived {arrived}, daemon dropped {dropped}, actions ok {ok}, "
            f"failed {failed}",
        ))  # fmt: skip
        for who in ("daemon", "worker") if isolation == "isolated" else ("daemon",):
            cpu = usage[who][0] - usage_before[who][0]
            switches = usage[who][1] - usage_before[who][1]
            report.add(Figure(
                f"throughput.{key}.{who}_cpu_per_event", cpu / max(ok, 1) * 1e6, "us",
                note=f"{cpu:.2f} s of CPU (user + system) of the {who} process(es) over the run "
                f"/ {ok} actions ok",
            ))  # fmt: skip
            report.add(Figure(
                f"throughput.{key}.{who}_switches_per_event", switches / max(ok, 1), "switches",
                note=f"{switches} voluntary context switches of the {who}'s threads (each a "
                f"sleep and a wake-up) / {ok} actions ok",
            ))  # fmt: skip


def _usage(pids: list[int]) -> tuple[float, int]:
    """(CPU seconds, voluntary context switches of all threads) of ``pids`` so far."""
    cpu, switches = 0.0, 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / tick  # utime, stime (fields 14, 15)
            for task in Path(f"/proc/{pid}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process or thread is gone
    return cpu, switches


def _wait_for(live: LiveDaemon, check, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = live.status()
        if check(status):
            return status
        time.sleep(0.05)
    raise RuntimeError(f"the daemon did not get there in {timeout} s: {live.status()}")


def _drain(live: LiveDaemon, before: dict, sent: int) -> dict:
    last, last_change = None, time.monotonic()
    while True:
        status = live.status()
        done = (status["actions_ok"] + status["actions_failed"]) - (
            before["actions_ok"] + before["actions_failed"]
        )
        if done >= sent:
            return status
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > 5:
            return status
        time.sleep(0.01)
