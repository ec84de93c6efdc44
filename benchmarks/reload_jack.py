"""Figure 6b: notes over JACK while the config is reloaded over and over.

Issue 14 asks that a reload of 500 mappings lose no event and delay none past one JACK period.
A real ``midimon run`` (benchmarks.live: a private JACK dummy server, 64-frame periods at 48 kHz,
so 1.33 ms) runs figure 6's 500 mappings plus two more on channel 15 (the 16th, which no other
mapping uses): note 38 calls a stamp plugin in-process and ``inline`` (walked in C), note 39 one
isolated (the default; the Python path). For each in turn, the same notes 3 ms apart are
sent twice: once with nothing else going on, once while a client sends ``RELOAD`` back to
back (each a full reload: read, parse, validate, compile, swap, holding the GIL as a config save
does). Each note's delay is what the plugin measures itself: execute() entry minus the input's
stamp of the message. The figures: the delays with and without reloads, and notes lost.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from benchmarks.end_to_end import StampListener
from benchmarks.harness import Figure, Report, isolated_home, progress, summarize
from benchmarks.live import PORT, LiveDaemon
from benchmarks.plugins import Signer, build_plugin
from benchmarks.reload import MAPPINGS
from benchmarks.reload import config_text as mappings_text

NOTES = 2_000
QUICK_NOTES = 300
SPACING_S = 0.003
PERIOD_US = 64 / 48_000 * 1e6  # the JACK period of benchmarks.live's server
# receiver -> (note on channel 16, plugin): in-process inline (walked in C), isolated (Python)
RECEIVERS = {"inline": (38, "bench_stamp_inline"), "isolated": (39, "bench_stamp")}


def config_text(plugins_dir: Path) -> str:
    """Figure 6's mappings, and notes 38 and 39 on channel 15 (status 0x9F) first."""
    body = mappings_text().split('name = "Default"\n', 1)[1]
    stamps = "".join(
        f"""
[[modes.mappings]]
description = "{receiver}"
trigger = {{ type = "Note", note = {note}, channel = 15 }}
action = {{ type = "Plugin", plugin = "{plugin}" }}
"""
        for receiver, (note, plugin) in RECEIVERS.items()
    )
    return f"""[device]
virtual_port = "{PORT}"
[plugins]
dirs = ["{plugins_dir}"]
rate_limit = 1000000.0
rate_burst = 1000000
[plugins.overrides.bench_stamp_inline]
isolation = "in-process"
inline = true

[[modes]]
name = "Default"
{stamps}{body}"""


def _delays(listener: StampListener, expected: int) -> list[float]:
    """The next ``expected`` notes' delays in us, fewer when the rest never reached the plugin
    (nothing for 10 s)."""
    delays: list[float] = []
    for _ in range(expected):
        try:
            delays.append(listener.get()[1] / 1000)
        except RuntimeError:
            break
    return delays


def _play(out: object, note: int, notes: int) -> None:
    """Send ``notes`` note-ons of ``note``, 3 ms apart."""
    start = time.monotonic()
    for index in range(notes):
        pause = start + index * SPACING_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        out.send_message([0x9F, note, 1 + index % 126])  # type: ignore[attr-defined]


class Reloader:
    """``with Reloader():`` a client sends RELOAD back to back meanwhile."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from midimon.daemon.client import ControlClient

        with ControlClient() as client:
            while not self._stop.is_set():
                answer = client.request("RELOAD")
                if not answer.get("ok"):
                    self.failed.append(str(answer))
                    return
                self.times.append(answer["ms"])

    def __enter__(self) -> Reloader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def run(report: Report, quick: bool) -> None:
    """Measure figure 6b into ``report``."""
    notes = QUICK_NOTES if quick else NOTES
    quiet: dict[str, list[float]] = {}
    busy: dict[str, list[float]] = {}
    reloads: list[float] = []
    with isolated_home("reload_jack") as tmp:
        signer = Signer()
        for _, plugin in RECEIVERS.values():
            signer.sign(build_plugin(tmp / "plugins" / plugin, plugin))
        progress("reload_jack: starting jackd and midimon run")
        with LiveDaemon(config_text(tmp / "plugins"), tmp) as live:
            stamps = StampListener()
            stamps.ready.wait(10)
            out = live.output()
            for receiver, (note, _) in RECEIVERS.items():  # one receiver at a time
                _play(out, note, 30)  # warm up: the worker's first call, the first walk
                _delays(stamps, 30)
                progress(f"reload_jack: {receiver}, {notes} notes 3 ms apart, quiet")
                _play(out, note, notes)
                quiet[receiver] = _delays(stamps, notes)
                progress(f"reload_jack: {receiver}, {notes} notes while the config reloads")
                with Reloader() as reloader:
                    _play(out, note, notes)
                    busy[receiver] = _delays(stamps, notes)
                if reloader.failed or not reloader.times:
                    raise RuntimeError(f"the reloads failed: {reloader.failed[:1]}")
                reloads += reloader.times
    reload_ms = sorted(reloads)[len(reloads) // 2]
    note = (
        f"{notes} notes 3 ms apart over JACK while {len(reloads)} reloads of {MAPPINGS} "
        f"mappings ran back to back (median {reload_ms:.1f} ms); one receiver at a time"
    )
    for receiver in RECEIVERS:
        calm, loaded = summarize(quiet[receiver]), summarize(busy[receiver])
        for stat in ("p50", "p99", "max"):
            report.add(Figure(
                f"reload_jack.{receiver}.delay.{stat}", loaded[stat], "us", floor=calm[stat],
                floor_name=f"the same notes, no reload, {stat}",
                note=note if stat == "p50" else "",
            ))  # fmt: skip
        report.add(Figure(
            f"reload_jack.{receiver}.added_max", loaded["max"] - calm["p50"], "us",
            floor=PERIOD_US, floor_name="one JACK period", target=PERIOD_US,
            note="the longest delay while reloading, less the quiet median",
        ))  # fmt: skip
        lost = 2 * notes - len(quiet[receiver]) - len(busy[receiver])
        report.add(Figure(f"reload_jack.{receiver}.lost", lost, "events", target=0))
