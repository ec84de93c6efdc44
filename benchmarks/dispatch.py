"""Figure 1: dispatch latency, MIDI input callback -> plugin ``execute`` entry.

In this process, over the same C plugin (``bench_stamp``):

- ``raw_cffi``: the bare cffi call into ``execute`` (the floor: nothing of midimon around it);
- ``in_process``, ``in_process_inline``, ``isolated``: a real
  :class:`~midimon.daemon.service.Daemon` on a config mapping note 36 to the plugin. Each event
  goes in through ``Daemon.feed`` — exactly what the rtmidi input callback calls — stamped with
  ``time.monotonic_ns()``; the plugin reads CLOCK_MONOTONIC at its entry and reports the
  difference. That is the whole host path: decoding, the trigger state machine, the mapper, the
  hand-over to an action thread, the PluginManager's checks and, for ``isolated``, the worker
  process round trip up to the plugin's first instruction. ``in_process_inline`` is the same
  plugin with ``inline = true``: it runs on the input thread, no hand-over at all.
- ``thread_handover``: one bare Python thread hand-over (SimpleQueue put -> get in another
  thread), the floor of every path that uses an action thread;
- ``worker_wire``: an EXECUTE datagram written straight to a started, sandboxed worker of the
  plugin (no daemon, no pipeline) -> execute() entry, events 2 ms apart: the least any isolated
  call costs, whoever sends it (one write and the worker's wake-up), so what the isolated path
  could come down to were the call written from C.

Events 2 ms apart are interleaved with bare calls 2 ms apart (one every millisecond, in turn), and
each figure's floor is the bare calls of its own run: both under the same state of the CPU.

Events are fed one at a time (the next after the previous action finished) so the figure is
latency, not queueing; throughput has its own benchmark. Also reports the time of a whole
``PluginManager.execute`` call (the answer back in the caller), which is what isolation costs
an action that waits for its plugin.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import Figure, Report, isolated_home, progress, summarize
from benchmarks.plugins import Signer, build_plugin, parse_stamp
from midimon.daemon.dispatch import DISPATCH_VARIABLE

EVENTS = 20_000
QUICK_EVENTS = 2_000
# Events 2 ms apart, as from a player (and as JACK delivers them: one period is 1.3 ms here):
# caches and the CPU go cold between events, which back-to-back events never show.
SPACED_GAP = 0.002
SPACED_EVENTS = 2_000
QUICK_SPACED_EVENTS = 300
# (figure key, isolation, inline, MIDIMON_DISPATCH): inline runs the plugin on the input thread
# itself; on the native path (the default) the C walk calls it. The compiled path, which the
# native one stands in front of, is measured beside it in the same run.
VARIANTS = (
    ("in_process", "in-process", False, "native"),
    ("in_process_inline", "in-process", True, "native"),
    ("in_process_inline_compiled", "in-process", True, "compiled"),
    ("isolated", "isolated", False, "native"),
)


def config_text(plugins_dir: Path, isolation: str, inline: bool = False) -> str:
    """A config mapping note 36 to bench_stamp, with rate limits out of the way."""
    return f"""
[device]
[plugins]
dirs = ["{plugins_dir}"]
rate_limit = 1000000.0
rate_burst = 1000000
[plugins.overrides.bench_stamp]
isolation = "{isolation}"
inline = {str(inline).lower()}
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "bench_stamp" }}
"""


def bare_call(folder: Path) -> Callable[[], float]:
    """A function making one bare cffi ``execute`` call into the plugin (nothing of midimon
    around it: the floor) and returning how long it took, in microseconds."""
    from midimon.plugins.description.manifest import load_manifest
    from midimon.plugins.hazmat import load_unverified
    from midimon.plugins.loading import abi

    plugin = load_unverified(load_manifest(folder))
    plugin.initialize()
    ffi = abi.ffi()
    view, raw = plugin.c_struct  # the floor: no wrapper at all
    params = ffi.new("char[]", b"{}")
    ctx = ffi.new("midimon_trigger_context_t *")
    ctx.struct_size = ffi.sizeof("midimon_trigger_context_t")
    mode = ffi.new("char[]", b"Default")
    ctx.mode = mode
    message = ffi.new("char[]", 256)
    execute = view.execute
    clock = time.perf_counter_ns
    kept = (plugin, mode)  # alive as long as the function: ctx points into mode

    def call() -> float:
        started = clock()
        execute(raw, params, 2, ctx, message, 256)
        elapsed = (clock() - started) / 1000
        assert kept
        return elapsed

    return call


def raw_cffi(folder: Path, calls: int, gap: float = 0.0) -> list[float]:
    """Microseconds per bare cffi ``execute`` call into the plugin (``gap`` s between calls)."""
    call = bare_call(folder)
    samples = []
    for _ in range(calls):
        if gap:
            time.sleep(gap)
        samples.append(call())
    return samples


@contextlib.contextmanager
def fed_daemon(config: Path, dispatch: str = "native") -> Iterator[tuple[Any, Callable[[], float]]]:
    """(a started Daemon on ``config`` with the MIDIMON_DISPATCH path ``dispatch``, a function
    feeding it one note-on and returning callback -> execute() entry in microseconds)."""
    from midimon.daemon.service import Daemon

    saved = os.environ.get(DISPATCH_VARIABLE)
    os.environ[DISPATCH_VARIABLE] = dispatch
    try:
        daemon = Daemon(config)
    finally:
        if saved is None:
            del os.environ[DISPATCH_VARIABLE]
        else:
            os.environ[DISPATCH_VARIABLE] = saved
    stream = daemon.registry.events.subscribe(["action"])  # woken by nothing else
    daemon.start()
    note_on = bytes([0x90, 36, 100])

    def one() -> float:
        daemon.feed(note_on, time.monotonic_ns())
        return _wait_for_stamp(stream) / 1000

    try:
        yield daemon, one
    finally:
        daemon.stop()


def through_daemon(
    config: Path, events: int, gap: float = 0.0, dispatch: str = "native"
) -> tuple[list[float], list[float]]:
    """(callback -> execute entry, manager.execute round trip) in microseconds, per event;
    ``gap`` seconds between events (then no round-trip figures are taken); ``dispatch``: the
    MIDIMON_DISPATCH path."""
    from midimon.plugins.loading.context import TriggerContext, TriggerKind

    entry_latency: list[float] = []
    round_trip: list[float] = []
    with fed_daemon(config, dispatch) as (daemon, one):
        for index in range(events + 50):  # the first 50 warm up (worker start, caches)
            if gap:
                time.sleep(gap)
            latency = one()
            if index >= 50:
                entry_latency.append(latency)
        context = TriggerContext(velocity=100, number=36, trigger_kind=TriggerKind.NOTE)
        clock = time.perf_counter_ns
        for _ in range(0 if gap else events):
            started = clock()
            result = daemon.manager.execute("bench_stamp", {}, context)
            round_trip.append((clock() - started) / 1000)
            if not result.ok:
                raise RuntimeError(f"bench_stamp failed: {result}")
    return entry_latency, round_trip


def spaced_pairs(
    folder: Path, config: Path, events: int, gap: float, dispatch: str = "native"
) -> tuple[list[float], list[float]]:
    """(bare calls, callback -> execute entry through the daemon) in microseconds: each
    ``gap`` s apart, interleaved (a bare call, ``gap``/2 later an event, ``gap``/2 later the next
    bare call...), so the floor and the daemon see the same state of the CPU and its caches
    (this VM's wake-ups swing the spaced figures 2-3x between runs minutes apart)."""
    call = bare_call(folder)
    floor: list[float] = []
    fed: list[float] = []
    with fed_daemon(config, dispatch) as (_, one):
        for index in range(events + 50):  # the first 50 warm up (worker start, caches)
            time.sleep(gap / 2)
            bare = call()
            time.sleep(gap / 2)
            latency = one()
            if index >= 50:
                floor.append(bare)
                fed.append(latency)
    return floor, fed


def thread_handover(count: int) -> list[float]:
    """Microseconds from ``SimpleQueue.put`` in this thread to ``get`` returning in another:
    the least any hand-over to an action thread can cost on this machine."""
    import queue
    import threading

    jobs: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[int] = queue.SimpleQueue()

    def serve() -> None:
        while (sent := jobs.get()) is not None:
            done.put(time.monotonic_ns() - sent)

    thread = threading.Thread(target=serve)
    thread.start()
    samples = []
    for _ in range(count):
        jobs.put(time.monotonic_ns())
        samples.append(done.get() / 1000)
    jobs.put(None)
    thread.join()
    return samples


def worker_wire(folder: Path, calls: int, gap: float) -> list[float]:
    """Microseconds from just before an EXECUTE datagram is built and written to a started worker
    of the plugin to its execute() entry, ``gap`` s apart (the answer read before the next)."""
    from midimon.plugins.description.manifest import load_manifest
    from midimon.plugins.loading.context import TriggerContext, TriggerKind
    from midimon.plugins.loading.image import sealed_image_fd
    from midimon.plugins.loading.loader import LoggingHost
    from midimon.plugins.sandbox.spec import SandboxSpec
    from midimon.plugins.sandbox.worker import WorkerProcess

    manifest = load_manifest(folder)
    assert manifest.binary is not None
    image = sealed_image_fd(manifest.binary.read_bytes(), manifest.name)
    try:
        worker = WorkerProcess(image, manifest.name, SandboxSpec(granted=frozenset()),
                               LoggingHost())  # fmt: skip
        worker.start()
    finally:
        os.close(image)
    samples = []
    try:
        worker.initialize(5.0)
        for index in range(calls + 50):  # the first 50 warm up
            time.sleep(gap)
            context = TriggerContext(velocity=100, number=36, trigger_kind=TriggerKind.NOTE,
                                     timestamp_ns=time.monotonic_ns())  # fmt: skip
            status, message = worker.execute(b"{}", context, 5.0)
            stamp = parse_stamp({"ok": status == 0, "detail": message})
            if stamp is None:
                raise RuntimeError(f"bench_stamp answered {status}: {message}")
            if index >= 50:
                samples.append(stamp[1] / 1000)
    finally:
        worker.shutdown()
    return samples


def _wait_for_stamp(stream) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        item = stream.next_item(1.0)
        if isinstance(item, dict) and item.get("type") == "action":
            stamp = parse_stamp(item)
            if stamp is None:
                raise RuntimeError(f"the plugin action failed: {item.get('detail')}")
            return stamp[1]
    raise RuntimeError("no action event within 10 s")


def run(report: Report, quick: bool) -> None:
    """Measure figure 1 into ``report``."""
    events = QUICK_EVENTS if quick else EVENTS
    spaced = QUICK_SPACED_EVENTS if quick else SPACED_EVENTS
    with isolated_home("dispatch") as tmp:
        folder = build_plugin(tmp / "plugins" / "bench_stamp")
        Signer().sign(folder)  # in-process mode needs a trusted signer
        progress(f"dispatch: raw cffi call x{events}")
        floor = summarize(raw_cffi(folder, events))
        spaced_floor = summarize(raw_cffi(folder, spaced, SPACED_GAP))
        results = {}
        spaced_results = {}
        forced = os.environ.get(DISPATCH_VARIABLE)  # one path for every variant
        for variant, isolation, inline, path in VARIANTS:
            dispatch = forced or path
            progress(f"dispatch: {variant}, {events} events through the daemon")
            config = tmp / f"{variant}.toml"
            config.write_text(config_text(tmp / "plugins", isolation, inline))
            gc.collect()
            results[variant] = [summarize(s) for s in through_daemon(config, events, 0, dispatch)]
            progress(f"dispatch: {variant}, {spaced} events {SPACED_GAP * 1000:g} ms apart, "
                     "each between two bare calls")  # fmt: skip
            bare, fed = spaced_pairs(folder, config, spaced, SPACED_GAP, dispatch)
            spaced_results[variant] = (summarize(fed), summarize(bare))
        progress(f"dispatch: bare thread hand-over x{events}")
        handover = summarize(thread_handover(events))
        progress(f"dispatch: EXECUTE written to a worker, {spaced} events 2 ms apart")
        wire = summarize(worker_wire(folder, spaced, SPACED_GAP))
    targets = {"in_process": (30, 150, None), "in_process_inline": (30, 150, None),
               "in_process_inline_compiled": (30, 150, None),
               "isolated": (80, 300, None)}  # fmt: skip
    for stat in ("p50", "p99", "max"):
        report.add(Figure(f"dispatch.raw_cffi.{stat}", floor[stat], "us",
                          note="bare cffi call into execute()"))  # fmt: skip
    for stat in ("p50", "p99"):
        report.add(Figure(f"dispatch.thread_handover.{stat}", handover[stat], "us",
                          note="one Python thread waking another through a SimpleQueue: "
                          "the floor of every action that runs on an action thread"))  # fmt: skip
    for stat in ("p50", "p99"):
        report.add(Figure(f"dispatch.worker_wire.spaced.{stat}", wire[stat], "us",
                          floor=spaced_floor[stat], floor_name=f"raw cffi {stat}, spaced",
                          note="an EXECUTE datagram written straight to a started worker -> "
                          f"execute() entry, {SPACED_GAP * 1000:g} ms apart ({spaced} events): "
                          "the least any isolated call costs"))  # fmt: skip
    for key, (entry, round_trip) in results.items():
        for stat, target in zip(("p50", "p99", "max"), targets[key], strict=True):
            report.add(Figure(
                f"dispatch.{key}.{stat}", entry[stat], "us", floor=floor[stat],
                floor_name=f"raw cffi {stat}", target=target,
                note=f"Daemon.feed (the MIDI callback) -> execute() entry, {events} events",
            ))  # fmt: skip
        spaced_fed, spaced_bare = spaced_results[key]
        for stat, target in zip(("p50", "p99"), targets[key][:2], strict=True):
            report.add(Figure(
                f"dispatch.{key}.spaced.{stat}", spaced_fed[stat], "us", floor=spaced_bare[stat],
                floor_name=f"raw cffi {stat}, spaced, interleaved", target=target,
                note=f"as above, events {SPACED_GAP * 1000:g} ms apart ({spaced} events), each "
                f"{SPACED_GAP * 500:g} ms after a bare call (themselves {SPACED_GAP * 1000:g} ms "
                "apart): the floor under the same CPU state",
            ))  # fmt: skip
        report.add(Figure(
            f"dispatch.{key}.manager_call.p50", round_trip["p50"], "us", floor=floor["p50"],
            floor_name="raw cffi p50", note="PluginManager.execute call, answer included",
        ))  # fmt: skip
