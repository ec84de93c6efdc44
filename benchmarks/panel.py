"""The control panel's figures: ``python -m benchmarks.panel [--quick] [--json]``.

A real ``midimon run`` on a JACK dummy server maps note 36 to the isolated ``bench_stamp``
plugin (it reports its execute() entry time and the daemon's share of the path). Then, in one
run: the daemon's dispatch (its MIDI callback -> execute() entry) with no panel, the same with
``midimon ui`` running and Debian's chromium showing its Statistics page (live stats and
action events flowing), with the panel's event stream read by a plain HTTP client and no
browser, and again once the panel stopped (the run's own noise); the time from
opening the panel's URL to the plugin list painted; the latency from a JACK note to its row in
the page's Recent calls (a MutationObserver stamps each row as it is inserted), and to its
MIDI-in row in the Console page; and the panel process's RSS.

Not part of ``python -m benchmarks`` (it needs chromium and Playwright, which the suite's CI
smoke run does not); figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from benchmarks.end_to_end import StampListener
from benchmarks.harness import (
    Figure,
    Report,
    isolated_home,
    progress,
    render_table,
    summarize,
)
from benchmarks.live import LiveDaemon, rss_kib
from benchmarks.plugins import Signer, build_plugin

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
NOTE = 36
ROW_OBSERVER = """(sel) => {
  window.__rows = [];
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      const rows = n.matches(sel) ? [n] : [...n.querySelectorAll(sel)];
      for (const row of rows) window.__rows.push(now);
    }
  }).observe(document.body, { childList: true, subtree: true });
}"""


def config_text(plugins_dir: Path) -> str:
    """Note 36 -> the isolated stamp plugin."""
    return f"""
[device]
virtual_port = "midimon-bench"
[plugins]
dirs = ["{plugins_dir}"]
rate_limit = 1000000.0
rate_burst = 1000000
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = {NOTE} }}
action = {{ type = "Plugin", plugin = "bench_stamp" }}
"""


def _dispatch(out: Any, listener: StampListener, rounds: int) -> list[float]:
    """The daemon's callback -> execute() entry share of ``rounds`` notes, in us."""
    host = []
    for index in range(rounds):
        time.sleep(0.004 + (index % 7) * 0.0002)
        out.send_message([0x90, NOTE, 1 + index % 126])
        host.append(listener.get()[1] / 1000)
    return host


class EventReader:
    """A page without a browser: logs in to the panel and reads its event stream in a
    thread (what the daemon and the panel do for an open page, without chromium's CPU)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.port = parts.port or 80
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", f"{parts.path}?{parts.query}")
        answer = conn.getresponse()
        answer.read()
        self.cookie = str(answer.getheader("Set-Cookie")).split(";")[0]
        self.key = str(answer.getheader("Location")).split("=", 1)[1]
        conn.close()
        self.events = 0
        self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self._conn.request("GET", f"/api/events?key={self.key}", headers={"Cookie": self.cookie})
        self._stream = self._conn.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._stream:
                self.events += line.startswith(b"data: ")
        except (OSError, ValueError, AttributeError):  # closed at the end (fp gone: None)
            pass

    def close(self) -> None:
        """Hang up."""
        self._conn.close()


def _start_panel() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "midimon", "ui", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    found = re.search(r"(http://\S+)", proc.stdout.readline())
    if found is None:
        proc.terminate()
        raise RuntimeError("midimon ui printed no URL")
    return proc, found.group(1)


def _rows(page: Any, out: Any, listener: StampListener, notes: int) -> list[float]:
    """ms from each JACK note sent to the page's first row for it (ROW_OBSERVER's stamps)."""
    row_ms = []
    for index in range(notes):
        time.sleep(0.1)
        before = page.evaluate("() => window.__rows.length")
        sent = time.time() * 1000
        out.send_message([0x90, NOTE, 1 + index % 126])
        listener.get()
        # a function, not an expression string: the panel's CSP forbids eval
        page.wait_for_function("(n) => window.__rows.length > n", arg=before)
        row_ms.append(page.evaluate("(n) => window.__rows[n]", before) - sent)
    return row_ms


def run(report: Report, quick: bool) -> None:
    """Measure the panel's figures into ``report``."""
    from playwright.sync_api import sync_playwright

    rounds, notes, loads = (200, 30, 3) if quick else (1_000, 100, 7)
    with isolated_home("panel") as tmp:
        Signer().sign(build_plugin(tmp / "plugins" / "bench_stamp", "bench_stamp"))
        progress("panel: starting jackd and midimon run")
        with LiveDaemon(config_text(tmp / "plugins"), tmp) as live:
            listener = StampListener()
            listener.ready.wait(10)
            out = live.output()
            out.send_message([0x90, NOTE, 1])  # warm up: the worker starts
            listener.get()
            progress(f"panel: dispatch with the panel closed, {rounds} notes")
            closed = _dispatch(out, listener, rounds)
            panel, url = _start_panel()
            try:
                with sync_playwright() as driver:
                    browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    paint = []
                    progress(f"panel: URL -> plugin list painted, {loads} loads")
                    for _ in range(loads):
                        context = browser.new_context()
                        page = context.new_page()
                        started = time.perf_counter()
                        page.goto(url)
                        page.wait_for_selector("article.card", state="visible")
                        paint.append((time.perf_counter() - started) * 1000)
                        context.close()
                    page = browser.new_page()
                    page.on("pageerror", lambda exc: progress(f"the page failed: {exc}"))
                    page.goto(url)
                    page.wait_for_selector("article.card")
                    page.get_by_role("link", name="Statistics").click()
                    page.wait_for_selector("#chart-calls")
                    page.evaluate(ROW_OBSERVER, "tr[data-received]")
                    progress(f"panel: note -> row in the page, {notes} notes")
                    row_ms = _rows(page, out, listener, notes)
                    progress(f"panel: note -> console row, {notes} notes")
                    page.get_by_role("link", name="Console").click()
                    page.wait_for_selector("text=streaming")
                    time.sleep(0.5)  # the daemon takes the console's subscription
                    page.evaluate(ROW_OBSERVER, "tr.t-midi")
                    console_ms = _rows(page, out, listener, notes)
                    progress(f"panel: dispatch with the console page open, {rounds} notes")
                    with_console = _dispatch(out, listener, rounds)
                    page.get_by_role("link", name="Statistics").click()  # the console closes
                    page.wait_for_url("**/#/statistics")
                    page.wait_for_selector("#chart-calls", state="attached")
                    time.sleep(0.5)  # the daemon drops the console's subscription
                    progress(f"panel: dispatch with the panel open, {rounds} notes")
                    opened = _dispatch(out, listener, rounds)
                    panel_rss = rss_kib(panel.pid) / 1024
                    browser.close()
                progress(f"panel: dispatch, the panel's stream read without a browser, {rounds}")
                reader = EventReader(url)
                headless = _dispatch(out, listener, rounds)
                reader.close()
            finally:
                panel.terminate()
                panel.wait(10)
            progress(f"panel: dispatch with the panel closed again, {rounds} notes")
            closed_again = _dispatch(out, listener, rounds)
    closed_s, open_s = summarize(closed), summarize(opened)
    again_s, headless_s = summarize(closed_again), summarize(headless)
    for stat in ("p50", "p99"):
        report.add(Figure(
            f"panel.dispatch_open.{stat}", open_s[stat], "us", floor=closed_s[stat],
            floor_name=f"panel closed before, {stat}", target=1.5 if stat == "p50" else None,
            target_of="ratio",
            note=f"daemon's MIDI callback -> execute() entry, {rounds} notes each, same run",
        ))  # fmt: skip
        report.add(Figure(
            f"panel.dispatch_stream_no_browser.{stat}", headless_s[stat], "us",
            floor=closed_s[stat], floor_name=f"panel closed before, {stat}",
            note="the panel running and its event stream read by a plain HTTP client: the "
                 "daemon's and the panel's share, without chromium's CPU",
        ))  # fmt: skip
        report.add(Figure(
            f"panel.dispatch_closed_again.{stat}", again_s[stat], "us", floor=closed_s[stat],
            floor_name=f"panel closed before, {stat}",
            note="the same after the panel and the browser stopped: the run's own noise",
        ))  # fmt: skip
    paint_s, row_s = summarize(paint), summarize(row_ms)
    report.add(Figure("panel.url_to_plugin_list.p50", paint_s["p50"], "ms",
                      note=f"goto(URL) incl. login redirect -> first plugin card visible, "
                           f"{loads} fresh browser contexts"))  # fmt: skip
    for stat in ("p50", "p99"):
        report.add(Figure(f"panel.note_to_row.{stat}", row_s[stat], "ms",
                          note=f"JACK note sent -> its Recent calls row inserted in the page "
                               f"(MutationObserver, Date.now()), {notes} notes"))  # fmt: skip
    console_s, with_console_s = summarize(console_ms), summarize(with_console)
    for stat in ("p50", "p99"):
        report.add(Figure(
            f"panel.dispatch_console_open.{stat}", with_console_s[stat], "us",
            floor=closed_s[stat], floor_name=f"panel closed before, {stat}",
            note="the Console page open: the daemon builds a MIDI-in and a trigger event per "
                 "note and the page paints three rows per note",
        ))  # fmt: skip
        report.add(Figure(f"panel.note_to_console_row.{stat}", console_s[stat], "ms",
                          note=f"JACK note sent -> its MIDI-in row inserted in the Console "
                               f"page (MutationObserver, Date.now()), {notes} notes"))  # fmt: skip
    report.add(Figure("panel.rss", panel_rss, "MiB",
                      note="VmRSS of the `midimon ui` process with one page open"))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.panel``: a table, or --json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.panel")
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    report = Report(quick=args.quick)
    started = time.monotonic()
    run(report, args.quick)
    report.seconds["panel"] = time.monotonic() - started
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
