"""Figure 9: midimon next to its peer, mididings, on one JACK server, each over a plain floor.

One private JACK dummy server (midimon.devtools.jack_server: 48 kHz, 64-frame periods) holds:

- a real ``midimon run`` (benchmarks/live.py) mapping note 36 to the isolated stamp plugin
  (the default isolation), 37 to the in-process one and 38 to the in-process ``inline`` one
  (benchmarks/end_to_end.py's config); each plugin stamps its ``execute()`` entry with
  CLOCK_MONOTONIC in C;
- mididings (built from PyPI, benchmarks/peer_build.py) running ``Filter(NOTEON) %
  Call(on_note)`` on its ``jack-rt`` backend, ``on_note`` stamping at its first instruction
  (benchmarks/peer_mididings.py);
- the floor: plain python-rtmidi input clients in a process of their own, whose callback
  stamps at its first instruction; one paired with mididings, one with midimon.

The sender (this process) has one output per peer, connected to that peer's input and to its
floor, so each note reaches a receiver and its floor in the same JACK period. Notes go round
the four receivers (mididings, isolated, in-process, inline), 2-5 ms apart (random, seeded),
2,000 per receiver in each of 3 repetitions (200 in 1 with --quick). Per note, *added* is the
receiver's stamp minus its floor's stamp for that same note; the table gives its p50 and p99
over all repetitions, and the p50 ratio of send -> receiver to send -> floor. The goal lines
compare what midimon adds with what mididings adds, measured in this same run.

When mididings can be neither found nor built its figures are not made up: they are listed in
the report's ``missing`` with the reason (under CI=true that is an error: the CI installs what
the build needs, see .ci/run).
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.end_to_end import NOTES, StampListener, config_text
from benchmarks.harness import REPO, Figure, Report, isolated_home, progress, summarize
from benchmarks.live import LiveDaemon
from benchmarks.peer_build import PeerMissing, find_or_build
from benchmarks.plugins import Signer, build_plugin

PER_RECEIVER = 2_000
REPETITIONS = 3
QUICK_PER_RECEIVER = 200
QUICK_REPETITIONS = 1
GAP_MS = (2.0, 5.0)
MIDIDINGS_NOTE = 60
RECEIVERS = ("mididings", "isolated", "in_process", "in_process_inline")
LABELS = {
    "mididings": "mididings `Call`",
    "in_process": "midimon in-process (action thread)",
    "in_process_inline": "midimon in-process `inline`",
    "isolated": "midimon isolated (default)",
}
# receiver -> (target on its p50 add / mididings' p50 add, the same at p99): issue 14's goals.
GOALS = {
    "in_process": (0.5, 1.0),
    "in_process_inline": (0.5, 1.0),
    "isolated": (1.0, 1.5),
}
SENDER = {"mididings": "peer-to-mididings", "midimon": "peer-to-midimon"}
FLOOR = {"mididings": "peer-floor-mididings", "midimon": "peer-floor-midimon"}


class Child:
    """A receiver process speaking the ``ready`` / ``dump`` / end-of-input protocol."""

    def __init__(self, command: list[str], what: str) -> None:
        self.what = what
        self.process = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=os.environ.copy(),
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # end of output

    def _line(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.what} said nothing within {timeout:g} s") from None
        if line == "" and self.process.poll() is not None:
            raise RuntimeError(f"{self.what} exited ({self.process.returncode})")
        return line

    def wait_ready(self, timeout: float = 30) -> None:
        """Block until the child printed ``ready`` (it may print other lines first)."""
        deadline = time.monotonic() + timeout
        while self._line(max(0.1, deadline - time.monotonic())) != "ready":
            pass

    def dump(self) -> Any:
        """The stamps the child took since its last dump (parsed JSON)."""
        assert self.process.stdin is not None
        self.process.stdin.write("dump\n")
        self.process.stdin.flush()
        while True:
            line = self._line(30)
            if line.startswith(("[", "{")):
                return json.loads(line)

    def close(self) -> None:
        """End its input (it stops), kill it if it does not."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def floor_main(pairs: list[str]) -> None:
    """The floor process: ``python -m benchmarks.peer floor CLIENT=SOURCE ...``, one plain
    python-rtmidi input per pair, connected to the output port of client SOURCE; its callback
    stamps ``time.monotonic_ns()`` first. Same protocol as benchmarks/peer_mididings.py; a dump
    is a JSON object CLIENT -> stamps."""
    import rtmidi

    stamps: dict[str, list[int]] = {}
    ports = []
    for pair in pairs:
        name, source = pair.split("=", 1)
        taken: list[int] = []
        stamps[name] = taken

        def on_message(_event: object, _data: object, _now=time.monotonic_ns,  # type: ignore[no-untyped-def]
                       _put=taken.append) -> None:  # fmt: skip
            _put(_now())  # first instruction: the stamp

        port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=name)
        names = port.get_ports()
        matches = [i for i, p in enumerate(names) if p.startswith(f"{source}:")]
        if not matches:
            raise SystemExit(f"floor {name}: no JACK output of client {source!r} in {names}")
        port.open_port(matches[0])
        port.set_callback(on_message)
        ports.append(port)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "dump":
            out = {}
            for name, taken in stamps.items():
                out[name] = taken[:]
                del taken[: len(out[name])]
            print(json.dumps(out), flush=True)
    for port in ports:
        port.close_port()
        port.delete()


def _open_output(name: str, target: str) -> Any:
    """An rtmidi JACK output named ``name`` connected to the input port ``target`` matches."""
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=name)
    deadline = time.monotonic() + 10
    while not any(target in p for p in out.get_ports()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no JACK port {target!r}; ports: {out.get_ports()}")
        time.sleep(0.05)
    out.open_port(next(i for i, p in enumerate(out.get_ports()) if target in p))
    return out


def run(report: Report, quick: bool) -> None:
    """Measure figure 9 into ``report``."""
    per_receiver = QUICK_PER_RECEIVER if quick else PER_RECEIVER
    repetitions = QUICK_REPETITIONS if quick else REPETITIONS
    try:
        mididings_python, found = find_or_build(progress)
        progress(f"peer: mididings from {mididings_python} ({found})")
    except PeerMissing as exc:
        if os.environ.get("CI") == "true":
            raise  # CI installs the build packages: not having the peer there is a failure
        mididings_python, found = None, str(exc)
        report.missing["peer.mididings"] = str(exc)
        report.missing["peer.goal"] = "the goal lines compare with mididings, which is missing"
        progress(f"peer: mididings missing: {exc}")
    receivers = [r for r in RECEIVERS if r != "mididings" or mididings_python]
    samples: dict[str, dict[str, list[float]]] = {
        r: {"added": [], "latency": [], "floor": [], "rep_p50": []} for r in receivers
    }
    with isolated_home("peer") as tmp:
        signer = Signer()
        for _, name in NOTES.values():
            signer.sign(build_plugin(tmp / "plugins" / name, name))
        progress("peer: starting jackd and midimon run")
        with LiveDaemon(config_text(tmp / "plugins"), tmp) as live:
            children: list[Child] = []
            outputs: dict[str, Any] = {}
            try:
                listener = StampListener()
                listener.ready.wait(10)
                outputs["midimon"] = live.output(SENDER["midimon"])
                mididings = None
                if mididings_python:
                    mididings = Child(
                        [mididings_python, str(REPO / "benchmarks" / "peer_mididings.py"),
                         "peer-mididings"], "the mididings receiver",
                    )  # fmt: skip
                    children.append(mididings)
                    mididings.wait_ready()
                    outputs["mididings"] = _open_output(SENDER["mididings"], "peer-mididings:")
                pairs = [f"{FLOOR[peer]}={SENDER[peer]}" for peer in outputs]
                floor = Child([sys.executable, "-m", "benchmarks.peer", "floor", *pairs],
                              "the rtmidi floor")  # fmt: skip
                children.append(floor)
                floor.wait_ready()
                time.sleep(0.5)
                _warm_up(live, outputs, listener, mididings, floor)
                for repetition in range(repetitions):
                    progress(f"peer: repetition {repetition + 1}/{repetitions}, "
                             f"{per_receiver} notes to each of {receivers}")  # fmt: skip
                    _repetition(repetition, per_receiver, receivers, outputs, listener,
                                mididings, floor, samples)  # fmt: skip
            finally:
                if "mididings" in outputs:  # (LiveDaemon closes the one it opened)
                    outputs["mididings"].close_port()
                    outputs["mididings"].delete()
                for child in children:
                    child.close()
    _add_figures(report, samples, per_receiver, repetitions, found)


def _warm_up(live: LiveDaemon, outputs: dict[str, Any], listener: StampListener,
             mididings: Child | None, floor: Child) -> None:  # fmt: skip
    """A few notes through every path (worker start, first loads), then forget their stamps."""
    for _ in range(3):
        for note, _ in NOTES.values():
            outputs["midimon"].send_message([0x90, note, 1])
            listener.get()
            time.sleep(0.003)
        if mididings is not None:
            outputs["mididings"].send_message([0x90, MIDIDINGS_NOTE, 1])
            time.sleep(0.003)
    time.sleep(0.3)
    if mididings is not None:
        mididings.dump()
    floor.dump()


def _repetition(repetition: int, per_receiver: int, receivers: list[str],
                outputs: dict[str, Any], listener: StampListener, mididings: Child | None,
                floor: Child, samples: dict[str, dict[str, list[float]]]) -> None:  # fmt: skip
    """One pass: ``per_receiver`` notes to each receiver, round robin, 2-5 ms apart."""
    rng = random.Random(1400 + repetition)
    sent: dict[str, list[int]] = {r: [] for r in receivers}
    stamps: dict[str, list[int]] = {r: [] for r in receivers if r != "mididings"}
    order = {"mididings": [], "midimon": []}  # type: dict[str, list[str]]
    due = time.monotonic_ns()
    for index in range(per_receiver * len(receivers)):
        receiver = receivers[index % len(receivers)]
        due += int(rng.uniform(*GAP_MS) * 1e6)
        time.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
        now = time.monotonic_ns()
        due = max(due, now)  # a late start does not squeeze the next gap
        if receiver == "mididings":
            outputs["mididings"].send_message([0x90, MIDIDINGS_NOTE, 1 + index % 126])
            order["mididings"].append(receiver)
        else:
            outputs["midimon"].send_message([0x90, NOTES[receiver][0], 1 + index % 126])
            order["midimon"].append(receiver)
        sent[receiver].append(now)
        if receiver != "mididings":  # midimon's stamps come unnamed: one at a time
            stamps[receiver].append(listener.get()[0])
    time.sleep(0.3)
    floors = floor.dump()
    if mididings is not None:
        stamps["mididings"] = mididings.dump()
    floor_of: dict[str, list[int]] = {r: [] for r in receivers}
    for peer, names in order.items():
        got = floors.get(FLOOR[peer], [])
        if len(got) != len(names):
            raise RuntimeError(f"the floor paired with {peer} got {len(got)} of "
                               f"{len(names)} notes in repetition {repetition + 1}")  # fmt: skip
        for receiver, stamp in zip(names, got, strict=True):
            floor_of[receiver].append(stamp)
    for receiver in receivers:
        if len(stamps[receiver]) != per_receiver:
            raise RuntimeError(f"{receiver} stamped {len(stamps[receiver])} of {per_receiver} "
                               f"notes in repetition {repetition + 1}")  # fmt: skip
        added = [(s - f) / 1000 for s, f in zip(stamps[receiver], floor_of[receiver], strict=True)]
        into = samples[receiver]
        into["added"] += added
        into["latency"] += [(s - t) / 1000
                            for s, t in zip(stamps[receiver], sent[receiver], strict=True)]
        into["floor"] += [(f - t) / 1000
                          for f, t in zip(floor_of[receiver], sent[receiver], strict=True)]
        into["rep_p50"].append(summarize(added)["p50"])


def _add_figures(report: Report, samples: dict[str, dict[str, list[float]]], per_receiver: int,
                 repetitions: int, found: str) -> None:  # fmt: skip
    setting = (f"one JACK dummy server 48 kHz/64, {per_receiver} note-ons per receiver "
               f"{GAP_MS[0]:g}-{GAP_MS[1]:g} ms apart x {repetitions} repetitions")  # fmt: skip
    added: dict[str, dict[str, float]] = {}
    for receiver, values in samples.items():
        added[receiver] = summarize(values["added"])
        reps = " / ".join(f"{p:.0f}" for p in values["rep_p50"])
        what = LABELS[receiver] + (f" (mididings {found})" if receiver == "mididings" else "")
        for stat in ("p50", "p99"):
            report.add(Figure(
                f"peer.{receiver}.added.{stat}", added[receiver][stat], "us",
                note=f"{what}: receiver stamp - its floor's stamp of the same note, {stat}; "
                f"p50 per repetition {reps} us; {setting}",
            ))  # fmt: skip
        report.add(Figure(
            f"peer.{receiver}.latency.p50", summarize(values["latency"])["p50"], "us",
            floor=summarize(values["floor"])["p50"], floor_name="rtmidi floor, send -> callback",
            note=f"{what}: send -> first instruction p50; the ratio is issue 14's 'p50 ratio "
            "to the floor'",
        ))  # fmt: skip
    if "mididings" not in added:
        return
    peer = added["mididings"]
    for receiver, (p50_goal, p99_goal) in GOALS.items():
        for stat, goal in (("p50", p50_goal), ("p99", p99_goal)):
            report.add(Figure(
                f"peer.goal.{receiver}.added_{stat}", added[receiver][stat], "us",
                floor=peer[stat], floor_name=f"mididings adds, {stat}", target=goal,
                target_of="ratio",
                note=f"{LABELS[receiver]} adds at most {goal:g}x what mididings adds at {stat} "
                "(issue 14); no verdict when mididings adds nothing or less than its floor",
            ))  # fmt: skip


def render_peer_table(report: Report) -> str:
    """Issue 14's table (Markdown) from the peer figures of ``report``; '' without them."""
    figures = {f.name: f for f in report.figures}
    lines = ["| receiver | added over the floor, p50 / p99 | p50 ratio to the floor |",
             "|---|---|---|"]  # fmt: skip
    for receiver in RECEIVERS:
        p50, p99 = (figures.get(f"peer.{receiver}.added.{s}") for s in ("p50", "p99"))
        latency = figures.get(f"peer.{receiver}.latency.p50")
        if p50 is None or p99 is None or latency is None or latency.ratio is None:
            why = report.missing.get(f"peer.{receiver}", "not measured")
            lines.append(f"| {LABELS[receiver]} | missing: {why.splitlines()[0]} | |")
            continue
        lines.append(f"| {LABELS[receiver]} | {p50.value:+.0f} / {p99.value:+.0f} us | "
                     f"{latency.ratio:.3f} |")  # fmt: skip
    if not any(n.startswith("peer.") for n in [*figures, *report.missing]):
        return ""
    lines.append("")
    for f in report.figures:
        if f.name.startswith("peer.goal.") and f.floor is not None:
            ratio = "n/a" if f.ratio is None else f"{f.ratio:.2f}x"
            met = {True: "met", False: "**not met**", None: "no verdict"}[f.met]
            lines.append(f"- `{f.name}`: {f.value:+.0f} us vs mididings {f.floor:+.0f} us = "
                         f"{ratio} (target {f.target_text()}): {met}")  # fmt: skip
    if "peer.goal" in report.missing:
        lines.append(f"- goal lines missing: {report.missing['peer.goal']}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor"]:
        floor_main(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m benchmarks.peer floor CLIENT=SOURCE ...")
