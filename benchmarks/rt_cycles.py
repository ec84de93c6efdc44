"""Figure 8: JACK cycles missed because of midimon's input while the config is reloaded.

One asynchronous jackd (dummy backend, 48 kHz, 64-frame periods: 1.33 ms cycles; realtime
scheduling when the machine allows it, as on a musician's machine) and three receivers, each
its own process and JACK client, all connected to one python-rtmidi sender that plays 4,000
note-ons 3 ms apart (1,000 with --quick):

- ``plain``: a python-rtmidi input whose callback appends to a list (the floor);
- ``rtmidi``: midimon's previous JACK input path, python-rtmidi calling ``Daemon.feed`` from
  JACK's process callback;
- ``native``: midimon's native input (``midimon/midi_jack.py``): JACK's callback only copies
  into a ring, a normal thread calls ``Daemon.feed``.

The last two hold a real ``Daemon`` with a 2,000-mapping config that a thread reloads over and
over (reload, 150 ms pause, reload...), holding the GIL as a config save does. jackd names the
client each missed cycle waited for ("JackEngine::XRun: client = NAME was not finished"): the
figures count those lines per client, in the same run. The goal (issue 14): midimon blamed no
more than the plain client.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.harness import REPO, Figure, Report, isolated_home, progress

NOTES = 4_000
QUICK_NOTES = 1_000
SPACING_S = 0.003
MAPPINGS = 2_000
RELOAD_PAUSE_S = 0.15
SENDER = "rt-sender"
RECEIVERS = ("plain", "rtmidi", "native")
_BLAME = re.compile(r"JackEngine::XRun: client = (\S+) was not finished")
_TRIGGERS = (
    'trigger = {{ type = "Note", note = {n}, channel = {c} }}',
    'trigger = {{ type = "CC", controller = {n}, value_min = 1, value_max = 127, channel = {c} }}',
    'trigger = {{ type = "VelocityRange", note = {n}, min = 10, max = 100, channel = {c} }}',
    'trigger = {{ type = "LongPress", note = {n}, hold_ms = 800, channel = {c} }}',
    'trigger = {{ type = "EncoderTurn", controller = {n}, direction = "cw", channel = {c} }}',
)


def config_text(mappings: int = MAPPINGS) -> str:
    """``mappings`` varied mappings whose actions are harmless 1 ms delays."""
    lines = ["[device]", "", "[[modes]]", 'name = "Default"']
    for i in range(mappings):
        n, c = i % 128, (i // 128) % 16
        lines += [
            "",
            "[[modes.mappings]]",
            f'description = "mapping {i}"',
            _TRIGGERS[i % len(_TRIGGERS)].format(n=n, c=c),
            'action = { type = "Delay", ms = 1 }',
        ]
    return "\n".join(lines) + "\n"


def client_name(kind: str) -> str:
    """The JACK client name of one receiver."""
    return f"rt-{kind}"


# -- the receiver process ---------------------------------------------------------------------
def receiver(kind: str, config: Path) -> None:
    """Open one receiver, say "ready", reload in a loop until stdin closes, print counts."""
    received = [0]
    reloads = [0]
    stop = threading.Event()
    source = f"{SENDER}:out"
    if kind == "plain":
        import rtmidi

        def count(_event: object, _data: object) -> None:
            received[0] += 1

        port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=client_name(kind))
        port.set_callback(count)
        port.open_port(port.get_ports().index(source), "in")
        close = port.delete
    else:
        from midimon.daemon.service import Daemon

        daemon = Daemon(config)
        answer = daemon.reload()
        if not answer["ok"]:
            raise RuntimeError(f"the benchmark config is invalid: {answer['errors'][:3]}")
        daemon.start()

        def feed(data: bytes, stamp: int) -> None:
            received[0] += 1
            daemon.feed(data, stamp)

        if kind == "rtmidi":
            import rtmidi

            def on_message(event: tuple[list[int], float], _data: object) -> None:
                feed(bytes(event[0]), time.monotonic_ns())  # what MidiInput did before

            port = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=client_name(kind))
            port.set_callback(on_message)
            port.open_port(port.get_ports().index(source), "in")
        else:
            from midimon.midi_jack import JackMidiIn

            port = JackMidiIn(client_name(kind), feed)
            port.connect(source, "in")
            stats = port.stats

        def reload_loop() -> None:
            while not stop.wait(RELOAD_PAUSE_S):
                daemon.reload()
                reloads[0] += 1

        threading.Thread(target=reload_loop, daemon=True).start()

        def close() -> None:
            port.delete()
            daemon.stop()

    print("ready", flush=True)
    sys.stdin.read()  # the parent closes stdin when the notes are sent
    stop.set()
    time.sleep(0.3)
    counts = {"received": received[0], "reloads": reloads[0]}
    if kind == "native":
        counts["ring"] = stats()
    close()
    print(json.dumps(counts), flush=True)


# -- the parent --------------------------------------------------------------------------------
def _async_server(realtime: bool):  # type: ignore[no-untyped-def]
    """The tests' JACK dummy server (midimon.devtools.jack_server), asynchronous (no --sync: a
    late client is skipped and blamed) and realtime when asked."""
    from midimon.devtools.jack_server import JackServer

    class AsyncJackServer(JackServer):
        @property
        def command(self) -> list[str]:
            command = [a for a in super().command if a != "--sync"]
            if realtime:
                command = ["--realtime" if a == "--no-realtime" else a for a in command]
            return command

    return AsyncJackServer()


def _start_server():  # type: ignore[no-untyped-def]
    """A started async server: realtime if this machine allows it, else non-realtime."""
    for realtime in (True, False):
        server = _async_server(realtime)
        try:
            return server.start(), realtime
        except RuntimeError as exc:
            progress(f"rt_cycles: jackd {'realtime' if realtime else 'non-realtime'}: {exc}")
    raise RuntimeError("jackd could not start")


def run(report: Report, quick: bool) -> None:
    """Measure figure 8 into ``report``."""
    import rtmidi

    notes = QUICK_NOTES if quick else NOTES
    with isolated_home("rt") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text())
        server, realtime = _start_server()
        os.environ.update(server.env)
        children: dict[str, subprocess.Popen[str]] = {}
        out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=SENDER)
        try:
            out.open_virtual_port("out")
            for kind in RECEIVERS:
                children[kind] = subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.rt_cycles", kind, str(config)],
                    cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    env=os.environ.copy(),
                )  # fmt: skip
            for kind, child in children.items():
                assert child.stdout is not None
                line = child.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"receiver {kind} did not start (said {line!r})")
            time.sleep(1.0)
            before = len(_BLAME.findall(server.log()))
            progress(f"rt_cycles: {notes} notes {SPACING_S * 1000:g} ms apart to {RECEIVERS}")
            started = time.monotonic()
            for i in range(notes):
                out.send_message([0x90, 36 + i % 48, 100])
                time.sleep(max(0.0, started + (i + 1) * SPACING_S - time.monotonic()))
            time.sleep(0.5)
            window = _BLAME.findall(server.log())[before:]  # not the clients' teardown
            results = {}
            for kind, child in children.items():
                answer, _ = child.communicate(timeout=60)
                results[kind] = json.loads(answer.strip().splitlines()[-1])
        finally:
            out.delete()
            for child in children.values():
                if child.poll() is None:
                    child.kill()
            server.stop()
    blamed = {kind: 0 for kind in RECEIVERS}
    others = 0
    for name in window:
        kind = name.removeprefix("rt-")
        if kind in blamed:
            blamed[kind] += 1
        else:
            others += 1
    mode = "realtime" if realtime else "non-realtime"
    setting = (
        f"async {mode} jackd dummy 48 kHz/64; {notes} notes {SPACING_S * 1000:g} ms apart; "
        f"{MAPPINGS}-mapping config reloaded every {RELOAD_PAUSE_S * 1000:g} ms pause"
    )
    report.add(Figure(
        "rt_cycles.plain.blamed", blamed["plain"], "count",
        note=f"missed cycles jackd blamed on a plain python-rtmidi client; {setting}; "
        f"{others} blamed on other clients",
    ))  # fmt: skip
    for kind, what in (("rtmidi", "python-rtmidi -> Daemon.feed (old path)"),
                       ("native", "native ring -> dispatcher thread -> Daemon.feed")):  # fmt: skip
        report.add(Figure(
            f"rt_cycles.{kind}_reloading.blamed", blamed[kind], "count",
            floor=blamed["plain"], floor_name="plain python-rtmidi client",
            target=blamed["plain"],
            note=f"{what}, {results[kind]['reloads']} reloads; {setting}"
            + (f"; ring counters {results[kind]['ring']}" if kind == "native" else ""),
        ))  # fmt: skip
    for kind in RECEIVERS:
        report.add(Figure(
            f"rt_cycles.{kind}.received", results[kind]["received"], "events",
            floor=notes, floor_name="notes sent", higher_is_better=True, target=1.0,
            target_of="ratio", note="events the receiver's callback got",
        ))  # fmt: skip


if __name__ == "__main__":
    receiver(sys.argv[1], Path(sys.argv[2]))
