"""Figure 2: end to end through a real JACK dummy server, rtmidi send -> plugin ``execute`` entry.

A real ``midimon run`` maps note 36 to ``bench_stamp`` (isolated, the default), note 37 to
``bench_stamp_inproc`` (in-process, trusted signer) and note 38 to ``bench_stamp_inline``
(in-process with ``inline = true``: it runs on the MIDI input thread, here JACK's). Each round
sends one note to the daemon's port and, right after, one to a plain python-rtmidi input in
this process: both land in the same JACK period, so the plain callback's delay is the floor
for that very round (JACK's own port-to-port latency, period phase included). The plugin
reports its entry time (CLOCK_MONOTONIC, shared by all processes) and the time since the
daemon's input callback stamped the message, which splits the path into JACK delivery and
midimon's host overhead — the figure the design compares with mididings (30-44 us over a
bare rtmidi callback).
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from benchmarks.harness import Figure, Report, isolated_home, progress, summarize
from benchmarks.live import LiveDaemon
from benchmarks.plugins import Signer, build_plugin, parse_stamp

ROUNDS = 2_000
QUICK_ROUNDS = 300
NOTES = {
    "isolated": (36, "bench_stamp"),
    "in_process": (37, "bench_stamp_inproc"),
    "in_process_inline": (38, "bench_stamp_inline"),
}


def config_text(plugins_dir: Path) -> str:
    """Note 36 -> isolated stamp plugin, 37 -> in-process, 38 -> in-process and inline."""
    return f"""
[device]
virtual_port = "midimon-bench"
[plugins]
dirs = ["{plugins_dir}"]
rate_limit = 1000000.0
rate_burst = 1000000
[plugins.overrides.bench_stamp_inproc]
isolation = "in-process"
[plugins.overrides.bench_stamp_inline]
isolation = "in-process"
inline = true
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "bench_stamp" }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 37 }}
action = {{ type = "Plugin", plugin = "bench_stamp_inproc" }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 38 }}
action = {{ type = "Plugin", plugin = "bench_stamp_inline" }}
"""


class StampListener:
    """Follows the daemon's action events; ``get()`` -> (entry_ns, callback_to_entry_ns)."""

    def __init__(self) -> None:
        self.stamps: queue.Queue[tuple[int, int]] = queue.Queue()
        self.errors: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        from midimon.daemon.client import ControlClient, IpcError

        with ControlClient() as client:
            stream = client.stream("EVENTS", {"types": ["action"]})
            self.ready.set()
            try:
                for event in stream:
                    stamp = parse_stamp(event)
                    if stamp is None:
                        self.errors.append(event.get("detail", ""))
                        continue
                    self.stamps.put(stamp)
            except IpcError as exc:  # the daemon stopping at the end of the run
                self.errors.append(str(exc))

    def get(self) -> tuple[int, int]:
        """The next plugin stamp (RuntimeError after 10 s or on a failed action)."""
        try:
            return self.stamps.get(timeout=10)
        except queue.Empty:
            raise RuntimeError(f"no plugin stamp within 10 s; errors: {self.errors[-3:]}") from None


def run(report: Report, quick: bool) -> None:
    """Measure figure 2 into ``report``."""
    import rtmidi

    rounds = QUICK_ROUNDS if quick else ROUNDS
    with isolated_home("jack") as tmp:
        signer = Signer()
        for _, name in NOTES.values():
            signer.sign(build_plugin(tmp / "plugins" / name, name))
        progress("jack: starting jackd and midimon run")
        with LiveDaemon(config_text(tmp / "plugins"), tmp) as live:
            listener = StampListener()
            listener.ready.wait(10)
            out = live.output()
            floor_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="bench-floor")
            floor_in.open_virtual_port("floor")
            floor_times: queue.Queue[int] = queue.Queue()
            floor_in.set_callback(lambda event, _: floor_times.put(time.monotonic_ns()))
            floor_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="bench-floor-out")
            time.sleep(0.3)
            floor_out.open_port(
                next(i for i, p in enumerate(floor_out.get_ports()) if "bench-floor" in p)
            )
            time.sleep(0.3)
            for note, _ in NOTES.values():  # warm up: worker start, first load
                out.send_message([0x90, note, 1])
                listener.get()
            samples: dict[str, dict[str, list[float]]] = {
                key: {"e2e": [], "floor": [], "host": []} for key in NOTES
            }
            progress(f"jack: {rounds} rounds per plugin")
            for index in range(rounds * len(NOTES)):
                key = list(NOTES)[index % len(NOTES)]
                note = NOTES[key][0]
                time.sleep(0.002 + (index % 7) * 0.0001)  # vary the phase in the JACK period
                sent = time.monotonic_ns()
                out.send_message([0x90, note, 1 + index % 126])
                floor_out.send_message([0x90, note, 1])
                entry, host = listener.get()
                floor = floor_times.get(timeout=10)
                samples[key]["e2e"].append((entry - sent) / 1000)
                samples[key]["floor"].append((floor - sent) / 1000)
                samples[key]["host"].append(host / 1000)
            for port in (floor_out, floor_in):
                port.close_port()
                port.delete()
    for key, values in samples.items():
        e2e, floor, host = (summarize(values[k]) for k in ("e2e", "floor", "host"))
        for stat in ("p50", "p99"):
            report.add(Figure(
                f"jack.{key}.send_to_execute.{stat}", e2e[stat], "us", floor=floor[stat],
                floor_name=f"JACK port-to-port {stat}",
                note=f"rtmidi send -> execute() entry over JACK, {rounds} rounds",
            ))  # fmt: skip
        report.add(Figure(
            f"jack.{key}.host_overhead.p50", host["p50"], "us",
            target=80 if key == "isolated" else 30,
            note="daemon's MIDI callback -> execute() entry (mididings adds 30-44 us)",
        ))  # fmt: skip
        report.add(Figure(f"jack.{key}.host_overhead.p99", host["p99"], "us",
                          target=300 if key == "isolated" else 150))  # fmt: skip
