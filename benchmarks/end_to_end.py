"""End-to-end latency: rtmidi send over a real JACK dummy server -> plugin ``execute`` entry.

    python -m benchmarks.end_to_end [--events N] [--json]

Starts jackd (dummy backend, 64-frame periods) and ``midimon run`` on a generated config that
maps a note to a C plugin reporting CLOCK_MONOTONIC at its entry; the same clock stamps each
send, so the difference is the whole path: JACK, rtmidi callback, queue, triggers, mapper,
action pool, PluginManager and the isolated worker. JACK's own port-to-port latency (send ->
a plain rtmidi callback) is measured in the same run as the floor. Also times a config reload
of 500 mappings through the running daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the JACK server helper the tests use

STAMP_PLUGIN = r"""
#define _POSIX_C_SOURCE 199309L
#include "midimon_plugin.h"
#include <stdio.h>
#include <time.h>
static int32_t ex(const midimon_plugin_t *s, const char *p, size_t n,
                  const midimon_trigger_context_t *c, char *m, size_t cap) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    (void)s; (void)p; (void)n; (void)c;
    snprintf(m, cap, "stamp=%lld", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
    return MIDIMON_OK;
}
static const midimon_plugin_t plugin = { MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR,
    sizeof(midimon_plugin_t), 0, "bench_stamp", "1.0.0", "stamps", 0, 0, ex, 0, 0, 0 };
MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p99/max of microsecond values."""
    ordered = sorted(values)
    at = lambda f: ordered[min(len(ordered) - 1, int(f * len(ordered)))]  # noqa: E731
    return {"p50_us": round(at(0.5), 1), "p99_us": round(at(0.99), 1),
            "max_us": round(ordered[-1], 1), "samples": len(ordered)}  # fmt: skip


def config_text(plugins_dir: Path, extra_mappings: int = 0) -> str:
    lines = [
        "[device]", 'virtual_port = "midimon-bench"',
        "[plugins]", f'dirs = ["{plugins_dir}"]', "dev_mode = true",
        "rate_limit = 100000.0", "rate_burst = 100000",
        "[[modes]]", 'name = "Default"',
        "[[modes.mappings]]", 'trigger = { type = "Note", note = 36 }',
        'action = { type = "Plugin", plugin = "bench_stamp" }',
    ]  # fmt: skip
    for i in range(extra_mappings):
        lines += ["[[modes.mappings]]", f'trigger = {{ type = "CC", controller = {i % 128}, '
                  f"value_min = {i // 128}, value_max = 127 }}",
                  'action = { type = "Shell", argv = ["true"] }']  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.end_to_end", description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import rtmidi
    from jack import JackServer

    tmp = Path(tempfile.mkdtemp(prefix="midimon-e2e-bench-"))
    plugin_dir = tmp / "plugins" / "bench_stamp"
    plugin_dir.mkdir(parents=True)
    (plugin_dir / "s.c").write_text(STAMP_PLUGIN)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", f"-I{REPO / 'abi'}", str(plugin_dir / "s.c"),
                    "-o", str(plugin_dir / "bench_stamp.so")], check=True)  # fmt: skip
    (plugin_dir / "plugin.toml").write_text(
        '[plugin]\nname = "bench_stamp"\nversion = "1.0.0"\ntype = "action"\nabi = "1.0"\n'
        'binary = "bench_stamp.so"\n'
    )
    config = tmp / "config.toml"
    config.write_text(config_text(tmp / "plugins"))
    env = {**os.environ}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        env[var] = str(tmp / var.lower())
    results: dict[str, dict] = {}
    with JackServer() as jack:
        env.update(jack.env)
        os.environ.update(jack.env)
        os.environ.update({k: env[k] for k in ("XDG_RUNTIME_DIR",)})
        daemon = subprocess.Popen(
            [sys.executable, "-m", "midimon", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            results.update(_measure(rtmidi, args.events, tmp, config))
        finally:
            daemon.terminate()
            daemon.wait(15)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        for name, figures in results.items():
            print(f"{name:<28} {figures}")
    return 0


def _measure(rtmidi, events: int, tmp: Path, config: Path) -> dict[str, dict]:
    from midimon.daemon.client import ControlClient, IpcError

    deadline = time.monotonic() + 30
    client = None
    while time.monotonic() < deadline:
        try:
            client = ControlClient()
            client.request("PING")
            break
        except IpcError:
            time.sleep(0.2)
    assert client is not None
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bench-controller")
    while not any("midimon-bench" in p for p in out.get_ports()):
        time.sleep(0.05)
    out.open_port(next(i for i, p in enumerate(out.get_ports()) if "midimon-bench" in p))
    # The floor: JACK port to port, into a plain rtmidi callback, in this process.
    floor_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="bench-floor")
    floor_in.open_virtual_port("floor")
    floor_q: queue.Queue[int] = queue.Queue()
    floor_in.set_callback(lambda e, _: floor_q.put(time.monotonic_ns()))
    floor_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bench-floor-out")
    time.sleep(0.3)
    floor_out.open_port(next(i for i, p in enumerate(floor_out.get_ports()) if "floor" in p))
    time.sleep(0.3)
    stamps: queue.Queue[int] = queue.Queue()

    def listen() -> None:
        with ControlClient() as events_client:
            for event in events_client.stream("EVENTS"):
                if event.get("type") == "action" and "stamp=" in event.get("detail", ""):
                    stamps.put(int(event["detail"].rsplit("stamp=", 1)[1]))

    threading.Thread(target=listen, daemon=True).start()
    out.send_message([0x90, 36, 1])  # warm-up: starts the plugin's worker
    stamps.get(timeout=30)
    e2e, floor = [], []
    for i in range(events):
        time.sleep(0.002 + (i % 7) * 0.0001)  # land at varied points of the JACK period
        sent = time.monotonic_ns()
        out.send_message([0x90, 36, 1 + i % 126])
        e2e.append((stamps.get(timeout=10) - sent) / 1000)
        sent = time.monotonic_ns()
        floor_out.send_message([0x90, 36, 1])
        floor.append((floor_q.get(timeout=10) - sent) / 1000)
    # Reload time of a 500-mapping config, through the running daemon.
    reloads = []
    config.write_text(config_text(tmp / "plugins", extra_mappings=499))
    for _ in range(5):
        reloads.append(client.request("RELOAD", {"path": str(config)})["ms"])
    return {"jack_port_to_port": percentiles(floor),
            "send_to_plugin_execute": percentiles(e2e),
            "reload_500_mappings_ms": {"median": sorted(reloads)[len(reloads) // 2],
                                       "min": min(reloads)}}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
