"""Trigger plugins: OSC packet -> mapped action's execute(), next to MIDI -> execute().

A real ``midimon run`` on a JACK dummy server runs the bundled ``osc_in`` trigger plugin (its
own sandboxed worker, granted Network) and maps ``/bench`` and note 36 to ``bench_stamp``
(isolated). This process sends OSC over UDP to 127.0.0.1, taking CLOCK_MONOTONIC just before
each ``sendto``; ``bench_stamp`` reads the same clock at the entry of ``execute``: the OSC
figure is entry minus send (UDP, osc_in's thread, the worker socket, the daemon's event queue
and dispatcher, the action plugin's worker). The MIDI figure of the same run is the plugin's
own callback-to-entry time for notes sent through JACK, spaced the same way (2-5 ms).

Then throughput: OSC offered at a fixed rate for a few seconds with the event cap raised out
of the way; the highest rate at which every packet became a successful action is the figure.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Figure, Report, isolated_home, progress, summarize
from benchmarks.live import LiveDaemon
from benchmarks.plugins import Signer, build_plugin, parse_stamp

SAMPLES = 2000
RATES = (2000, 5000, 10000, 20000)  # OSC packets per second offered in the throughput runs


def _osc(address: str, value: int) -> bytes:
    def padded(raw: bytes) -> bytes:
        raw += b"\0"
        return raw + b"\0" * (-len(raw) % 4)

    return padded(address.encode()) + padded(b",i") + struct.pack(">i", value)


def bundled_plugins() -> Path:
    """The installed package's bundled plugins (osc_in): the benchmarks may run from a source
    checkout, whose midimon/ has none."""
    from importlib import metadata

    return Path(str(metadata.distribution("midimon").locate_file("midimon/bundled_plugins")))


def config_text(plugins: Path, port: int) -> str:
    """OSC /bench and note 36 -> bench_stamp; osc_in on ``port`` with no practical cap."""
    return (
        '[device]\nvirtual_port = "midimon-bench"\n'
        f'[plugins]\ndirs = ["{plugins}", "{bundled_plugins()}"]\n'
        "rate_limit = 1000000.0\nrate_burst = 1000000\n"
        f"[plugins.settings.osc_in]\nport = {port}\n"
        # the source checkout's midimon trusts its own bundled folder, not the installed one
        "[plugins.overrides.osc_in]\nevent_rate_limit = 1000000\ndev_mode = true\n"
        '[[modes]]\nname = "Default"\n'
        '[[modes.mappings]]\ntrigger = { type = "Plugin", plugin = "osc_in", event = "/bench" }\n'
        'action = { type = "Plugin", plugin = "bench_stamp" }\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 36 }\n'
        'action = { type = "Plugin", plugin = "bench_stamp" }\n'
    )


class Stamps:
    """bench_stamp's answers, read from the daemon's event stream on a thread."""

    def __init__(self, live: LiveDaemon) -> None:
        from midimon.daemon.client import ControlClient

        self.stamps: list[tuple[int, int]] = []
        self.ready = threading.Event()
        self._client = ControlClient()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.ready.wait(10)

    def _read(self) -> None:
        from midimon.daemon.client import IpcError

        stream = self._client.stream("EVENTS", {"types": ["action"]})
        self.ready.set()
        try:
            for event in stream:
                stamp = parse_stamp(event) if isinstance(event, dict) else None
                if stamp is not None:
                    self.stamps.append(stamp)
        except IpcError:  # the daemon shut down at the end of the run
            return

    def wait_for(self, count: int, seconds: float = 30.0) -> bool:
        deadline = time.monotonic() + seconds
        while len(self.stamps) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.stamps) >= count


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(quick: bool) -> dict[str, Any]:
    """The figures, as plain numbers (see the module docstring)."""
    from midimon.plugins.description.capabilities import Capability
    from midimon.plugins.manager.plugin_manager import PluginManager

    samples = 300 if quick else SAMPLES
    out: dict[str, Any] = {}
    with isolated_home("triggers") as home:
        plugins = home / "plugins"
        signer = Signer()
        signer.sign(build_plugin(plugins / "bench_stamp"))
        PluginManager(extra_dirs=[bundled_plugins()]).grant("osc_in", Capability.NETWORK)
        port = _free_port()
        with LiveDaemon(config_text(plugins, port), home) as live:
            stamps = Stamps(live)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # warm up: the first call starts bench_stamp's worker (and the stream subscribes)
            for _ in range(60):
                sock.sendto(_osc("/bench", 0), ("127.0.0.1", port))
                if stamps.wait_for(1, 0.5):
                    break
            else:
                raise RuntimeError(f"no OSC event reached bench_stamp:\n{live.log_text()}")
            stamps.stamps.clear()
            sent: list[int] = []
            for i in range(samples):
                time.sleep(random.uniform(0.002, 0.005))
                packet = _osc("/bench", i)
                sent.append(time.monotonic_ns())
                sock.sendto(packet, ("127.0.0.1", port))
            stamps.wait_for(samples)
            got = stamps.stamps[:samples]
            pairs = zip(sent, got, strict=False)
            out["osc_us"] = summarize([(entry - at) / 1000 for at, (entry, _) in pairs])
            out["osc_lost"] = samples - len(got)
            progress(f"triggers: OSC -> execute {out['osc_us']}")

            midi = live.output()
            stamps.stamps.clear()
            for _ in range(samples):
                time.sleep(random.uniform(0.002, 0.005))
                midi.send_message([0x90, 36, 100])
            stamps.wait_for(samples)
            out["midi_us"] = summarize([lat / 1000 for _, lat in stamps.stamps[:samples]])
            progress(f"triggers: MIDI -> execute {out['midi_us']}")

            best = 0
            for rate in RATES:
                before = live.status()
                ok_before = before["actions_ok"]
                seconds = 2.0 if quick else 5.0
                batch = 10
                period = batch / rate
                started = time.perf_counter()
                count = 0
                for burst in range(int(seconds / period)):
                    delay = started + burst * period - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    for _ in range(batch):
                        sock.sendto(_osc("/bench", count), ("127.0.0.1", port))
                        count += 1
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    done = live.status()["actions_ok"] - ok_before
                    if done >= count:
                        break
                    time.sleep(0.05)
                done = live.status()["actions_ok"] - ok_before
                events = live.status()["plugin_events"]
                progress(f"triggers: {rate}/s offered: {count} sent, {done} acted on; {events}")
                out[f"throughput_{rate}"] = {"sent": count, "acted_on": done}
                if done >= count:
                    best = rate
            out["sustained_events_per_s"] = best
            sock.close()
    return out


def run(report: Report, quick: bool) -> None:
    """Measure the trigger-plugin figures into ``report``."""
    data = measure(quick)
    osc, midi = data["osc_us"], data["midi_us"]
    for key in ("p50", "p99"):
        report.add(
            Figure(
                f"triggers.osc_to_execute.{key}",
                round(osc[key], 1),
                "us",
                floor=round(midi[key], 1),
                floor_name=f"MIDI over JACK -> execute {key}, same run",
            )
        )
    report.add(
        Figure(
            "triggers.sustained",
            data["sustained_events_per_s"],
            "events/s",
            higher_is_better=True,
            note="highest offered OSC rate with every packet acted on",
        )
    )
