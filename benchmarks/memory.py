"""Figure 7: memory. Daemon RSS idle and with 10 isolated plugins loaded; RSS per worker.

A real ``midimon run`` on a JACK dummy server (its MIDI port open, as in use). Idle is after
start-up with no plugin loaded; then ten signed plugins are loaded through the control socket
(``PLUGIN_LOAD``, as ``midimon plugins load`` does), each in its own sandboxed worker. RSS
comes from /proc. The daemon's figures leave out JACK's shared-memory segment (about 100 MiB
with this server: its engine and port buffers, mapped into every JACK client and locked by
jackd, not midimon's to save); the raw RSS is in the note. Floors in the same run: the same
Python interpreter importing nothing of its own (site and .pth files included: the daemon's
language floor on this machine) and ``sleep`` (a minimal libc process, the worker's floor).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import Figure, Report, isolated_home, progress
from benchmarks.live import LiveDaemon, children, jack_shm_kib, largest_mappings, rss_kib
from benchmarks.plugins import Signer, build_plugin

PLUGINS = 10


def config_text(plugins_dir: Path) -> str:
    """The benchmark port, the plugins folder, one mapping per plugin."""
    lines = ["[device]", 'virtual_port = "midimon-bench"', "[plugins]",
             f'dirs = ["{plugins_dir}"]', "[[modes]]", 'name = "Default"']  # fmt: skip
    for index in range(PLUGINS):
        lines += ["[[modes.mappings]]", f'trigger = {{ type = "Note", note = {36 + index} }}',
                  f'action = {{ type = "Plugin", plugin = "mem_{index}" }}']  # fmt: skip
    return "\n".join(lines) + "\n"


def floor_rss(command: list[str]) -> float:
    """RSS in MiB of ``command`` once it has started (it must sleep for a while)."""
    process = subprocess.Popen(command)
    try:
        time.sleep(0.5)
        return rss_kib(process.pid) / 1024
    finally:
        process.kill()
        process.wait()


def run(report: Report, quick: bool) -> None:
    """Measure figure 7 into ``report``."""
    with isolated_home("memory") as tmp:
        signer = Signer()
        for index in range(PLUGINS):
            signer.sign(build_plugin(tmp / "plugins" / f"mem_{index}", f"mem_{index}"))
        python_floor = floor_rss([sys.executable, "-c", "import time; time.sleep(30)"])
        worker_floor = floor_rss(["sleep", "30"])
        progress("memory: starting jackd and midimon run")
        with LiveDaemon(config_text(tmp / "plugins"), tmp) as live:
            live.output()  # a connected controller, as in use
            time.sleep(1.0)
            idle_raw = rss_kib(live.pid) / 1024
            idle = idle_raw - jack_shm_kib(live.pid) / 1024
            idle_top = largest_mappings(live.pid)
            progress(f"memory: loading {PLUGINS} isolated plugins")
            for index in range(PLUGINS):
                live.client.request("PLUGIN_LOAD", {"name": f"mem_{index}"})
            loaded = live.status()["plugins_loaded"]
            if len(loaded) != PLUGINS:
                raise RuntimeError(f"only {loaded} loaded:\n{live.log_text()}")
            time.sleep(0.5)
            busy_raw = rss_kib(live.pid) / 1024
            busy = busy_raw - jack_shm_kib(live.pid) / 1024
            busy_top = largest_mappings(live.pid)
            workers = [rss_kib(pid) / 1024 for pid in children(live.pid)]
            if len(workers) < PLUGINS:
                raise RuntimeError(f"{len(workers)} worker processes, expected {PLUGINS}")
    report.add(Figure("memory.daemon_idle", idle, "MiB", floor=python_floor,
                      floor_name="bare python", target=40,
                      note="midimon run, MIDI port open, no plugin loaded; without JACK's "
                      f"shared memory (raw RSS {idle_raw:.1f} MiB); largest, MiB: "
                      f"{idle_top}"))  # fmt: skip
    report.add(Figure("memory.daemon_idle_vs_python", idle, "MiB", floor=python_floor,
                      floor_name="bare python", target=2, target_of="ratio",
                      note="issue 14's goal: daemon idle at most 2x the bare interpreter "
                      "measured in the same run"))  # fmt: skip
    report.add(Figure("memory.daemon_10_plugins", busy, "MiB", floor=idle,
                      floor_name="daemon idle", target=40,
                      note=f"{PLUGINS} isolated plugins loaded (daemon process only); without "
                      f"JACK's shared memory (raw RSS {busy_raw:.1f} MiB); largest, MiB: "
                      f"{busy_top}"))  # fmt: skip
    report.add(Figure("memory.worker_max", max(workers), "MiB", floor=worker_floor,
                      floor_name="sleep (libc)", target=15,
                      note=f"largest of {len(workers)} workers; "
                      f"median {statistics.median(workers):.2f} MiB"))  # fmt: skip
