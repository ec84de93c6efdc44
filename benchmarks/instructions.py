"""CPU instructions per MIDI event, ``Daemon.feed`` -> the plugin's ``execute()`` and back.

Wall-clock figures on a shared VM move by 2x between runs; instruction counts do not. This
runs the daemon of ``benchmarks/dispatch.py`` (note 36 -> ``bench_stamp``, an ``action``
monitor subscribed, each event waited for) under ``valgrind --tool=callgrind`` twice, with
``--events`` and with twice as many, and divides the difference of the two totals by the
difference in events: start-up, plugin loading and the interpreter's own set-up cancel out.
``--cprofile`` instead profiles the same loop with cProfile (the feeding thread only: exact
for ``in_process_inline``, where the plugin runs on that thread) and prints the call chain.

    python -m benchmarks.instructions                       # all three dispatch paths, inline
    python -m benchmarks.instructions --variant in_process --dispatch reference
    python -m benchmarks.instructions --cprofile --dispatch compiled

Not part of ``python -m benchmarks`` (valgrind makes it take a minute or two per path); its
figures are quoted in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dispatch import VARIANTS, _wait_for_stamp, config_text
from benchmarks.harness import isolated_home
from benchmarks.plugins import Signer, build_plugin
from midimon.daemon.dispatch import DISPATCH_VARIABLE

WARMUP = 50
NOTE_ON = bytes([0x90, 36, 100])


def _feed_loop(config: Path, events: int, profile: bool, monitor: bool = True) -> None:
    """Start a daemon on ``config``, feed WARMUP + ``events`` note-ons, each waited for
    (through an ``action`` monitor stream; without ``monitor``, an inline plugin's action is
    done when ``feed`` returns and nobody watches)."""
    from midimon.daemon.service import Daemon

    daemon = Daemon(config)
    stream = daemon.registry.events.subscribe(["action"]) if monitor else None
    daemon.start()
    try:
        for index in range(WARMUP):
            daemon.feed(NOTE_ON, time.monotonic_ns())
            if stream is not None:
                _wait_for_stamp(stream)
            else:  # the first call loads the plugin on an action thread; then inline
                deadline = time.monotonic() + 30
                while daemon.counters.actions_ok <= index and time.monotonic() < deadline:
                    time.sleep(0.01)
        if stream is None and not daemon.manager.runs_inline("bench_stamp"):
            raise RuntimeError("--no-monitor needs the in_process_inline variant")
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        done = daemon.counters.actions_ok
        for _ in range(events):
            daemon.feed(NOTE_ON, time.monotonic_ns())
            if stream is not None:
                _wait_for_stamp(stream)
        if daemon.counters.actions_ok != done + events:
            raise RuntimeError(f"{events} events, {daemon.counters.actions_ok - done} actions ok")
        if profiler is not None:
            profiler.disable()
            _print_profile(profiler, events)
    finally:
        daemon.stop()


def _print_profile(profiler: object, events: int) -> None:
    import pstats

    stats = pstats.Stats(profiler)  # type: ignore[arg-type]
    stats.strip_dirs().sort_stats("tottime")
    print(f"--- cProfile, {events} events (calls / event = ncalls / {events})")
    stats.print_stats(30)
    stats.sort_stats("cumulative").print_callees("feed")


def _callgrind_total(
    config: Path, events: int, dispatch: str, env: dict[str, str], extra: list[str]
) -> int:
    """Instructions (callgrind's ``summary``) of one child run feeding ``events`` events."""
    out = Path(tempfile.mkstemp(prefix="midimon-callgrind-")[1])
    try:
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-m", "benchmarks.instructions", "--child", str(config),
             "--events", str(events), "--dispatch", dispatch, *extra],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        found = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no summary line in callgrind's output {out}")
        return int(found.group(1))
    finally:
        out.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--variant", default="in_process_inline",
                        choices=[v[0] for v in VARIANTS])  # fmt: skip
    parser.add_argument("--dispatch", default="all",
                        choices=("all", "reference", "compiled", "native"))  # fmt: skip
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--no-monitor", dest="monitor", action="store_false",
                        help="no `midimon monitor` stream (in_process_inline only)")  # fmt: skip
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        os.environ[DISPATCH_VARIABLE] = args.dispatch
        _feed_loop(args.child, args.events, profile=False, monitor=args.monitor)
        return 0
    if not args.cprofile and shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    paths = ("reference", "compiled", "native") if args.dispatch == "all" else (args.dispatch,)
    _, isolation, inline, _path = next(v for v in VARIANTS if v[0] == args.variant)
    with isolated_home("instructions") as tmp:
        folder = build_plugin(tmp / "plugins" / "bench_stamp")
        Signer().sign(folder)
        config = tmp / "config.toml"
        config.write_text(config_text(tmp / "plugins", isolation, inline))
        for dispatch in paths:
            if args.cprofile:
                os.environ[DISPATCH_VARIABLE] = dispatch
                _feed_loop(config, args.events, profile=True, monitor=args.monitor)
                continue
            env = dict(os.environ)
            extra = [] if args.monitor else ["--no-monitor"]
            low = _callgrind_total(config, args.events, dispatch, env, extra)
            high = _callgrind_total(config, 2 * args.events, dispatch, env, extra)
            per_event = (high - low) / args.events
            watched = "" if args.monitor else ", no monitor"
            print(
                f"{args.variant}{watched} dispatch={dispatch}: {per_event:,.0f} instructions/event "
                f"({low:,} for {args.events} events, {high:,} for {2 * args.events})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
