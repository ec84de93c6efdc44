"""Figure 6b: notes over JACK while the config is reloaded over and over.

Issue 14 asks that a reload of 500 mappings lose no event and delay none past one JACK period.
A real ``midimon run`` (benchmarks.live: a private JACK dummy server, 64-frame periods at 48 kHz,
so 1.33 ms) runs figure 6's 500 mappings plus one more: note 38 on channel 16 (no other mapping
uses channel 16) calls ``bench_stamp`` in-process and ``inline``. The same notes, 3 ms apart,
are sent twice: once with nothing else going on, once while a client sends ``RELOAD`` back to
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
STAMP = "bench_stamp_inline"


def config_text(plugins_dir: Path) -> str:
    """Figure 6's mappings, and note 38 on channel 16 first in the first mode."""
    body = mappings_text().split('name = "Default"\n', 1)[1]
    return f"""[device]
virtual_port = "{PORT}"
[plugins]
dirs = ["{plugins_dir}"]
rate_limit = 1000000.0
rate_burst = 1000000
[plugins.overrides.{STAMP}]
isolation = "in-process"
inline = true

[[modes]]
name = "Default"

[[modes.mappings]]
description = "the stamp"
trigger = {{ type = "Note", note = 38, channel = 16 }}
action = {{ type = "Plugin", plugin = "{STAMP}" }}
{body}"""


def _play(out: object, listener: StampListener, notes: int) -> tuple[list[float], int]:
    """Send ``notes`` note-ons 3 ms apart; (each delay in us, how many never reached the
    plugin)."""
    start = time.monotonic()
    for index in range(notes):
        pause = start + index * SPACING_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        out.send_message([0x9F, 38, 1 + index % 126])  # type: ignore[attr-defined]
    delays: list[float] = []
    for _ in range(notes):
        try:
            delays.append(listener.get()[1] / 1000)
        except RuntimeError:  # nothing for 10 s: the rest never came
            break
    return delays, notes - len(delays)


def run(report: Report, quick: bool) -> None:
    """Measure figure 6b into ``report``."""
    from midimon.daemon.client import ControlClient

    notes = QUICK_NOTES if quick else NOTES
    with isolated_home("reload_jack") as tmp:
        Signer().sign(build_plugin(tmp / "plugins" / STAMP, STAMP))
        progress("reload_jack: starting jackd and midimon run")
        with LiveDaemon(config_text(tmp / "plugins"), tmp) as live:
            listener = StampListener()
            listener.ready.wait(10)
            out = live.output()
            for _ in range(50):  # warm up
                out.send_message([0x9F, 38, 1])
                listener.get()
            progress(f"reload_jack: {notes} notes {SPACING_S * 1000:g} ms apart, quiet")
            quiet, quiet_lost = _play(out, listener, notes)
            stop = threading.Event()
            reloads: list[float] = []

            def reload_loop() -> None:
                with ControlClient() as client:
                    while not stop.is_set():
                        answer = client.request("RELOAD")
                        if not answer.get("ok"):
                            raise RuntimeError(f"reload failed: {answer}")
                        reloads.append(answer["ms"])

            thread = threading.Thread(target=reload_loop, daemon=True)
            thread.start()
            progress(f"reload_jack: {notes} notes while the config reloads")
            busy, busy_lost = _play(out, listener, notes)
            stop.set()
            thread.join(30)
    if not reloads:
        raise RuntimeError("no reload completed while the notes were sent")
    calm, loaded = summarize(quiet), summarize(busy)
    reload_ms = sorted(reloads)[len(reloads) // 2]
    note = (
        f"{notes} notes 3 ms apart over JACK to an inline plugin while {len(reloads)} "
        f"reloads of {MAPPINGS} mappings ran back to back (median {reload_ms:.1f} ms)"
    )
    for stat in ("p50", "p99", "max"):
        report.add(Figure(
            f"reload_jack.delay.{stat}", loaded[stat], "us", floor=calm[stat],
            floor_name=f"the same notes, no reload, {stat}",
            target=PERIOD_US if stat == "max" else None, note=note if stat == "p50" else "",
        ))  # fmt: skip
    report.add(Figure(
        "reload_jack.added_max", loaded["max"] - calm["p50"], "us", floor=PERIOD_US,
        floor_name="one JACK period", target=PERIOD_US,
        note="the longest delay while reloading, less the quiet median",
    ))  # fmt: skip
    report.add(Figure("reload_jack.lost", busy_lost + quiet_lost, "events", target=0))
