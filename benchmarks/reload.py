"""Figure 6: config reload with 500 mappings.

Times ``Daemon.reload()`` — what SIGHUP, an edit of the file and ``midimon reload`` run: read,
parse, validate, build the mapper and trigger tables, swap them in — on a daemon that keeps its
heap as ``midimon run`` does (``midimon.daemon.heap``: no collection while the reload builds, the
new config frozen after it). Two cases, the file rewritten before each reload (not timed):

- ``reload.500_mappings``: one mapping edited each time (a save after an edit), so the daemon
  parses that one and reuses the 499 others (``midimon.engine.mapping_parse``); the note gives
  the same reloads with Python's collector left as it is;
- ``reload.500_mappings.all_changed``: every mapping's description changed each time, so all 500
  are parsed and checked again.

The peer is Python's own TOML parser (``tomllib``) reading the same file, with no validation.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Figure, Report, isolated_home, median_time, progress

MAPPINGS = 500
TRIGGERS = (
    'trigger = {{ type = "Note", note = {n}, channel = {c} }}',
    'trigger = {{ type = "CC", controller = {n}, value_min = 1, value_max = 127, channel = {c} }}',
    'trigger = {{ type = "VelocityRange", note = {n}, min = 10, max = 100, channel = {c} }}',
    'trigger = {{ type = "LongPress", note = {n}, hold_ms = 800, channel = {c} }}',
    'trigger = {{ type = "EncoderTurn", controller = {n}, direction = "cw", channel = {c} }}',
)
ACTIONS = (
    'action = {{ type = "Shell", argv = ["notify-send", "pad {i}"] }}',
    'action = {{ type = "Plugin", plugin = "file_log", params = {{ path = "/tmp/pad{i}.log" }} }}',
    'action = {{ type = "SendMidi", '
    'messages = [{{ type = "note_on", note = {n}, velocity = 100 }}] }}',
    'action = {{ type = "ModeChange", mode = "next" }}',
)


def config_text(mappings: int = MAPPINGS, label: str = "mapping") -> str:
    """A config with ``mappings`` varied mappings over two modes (no two alike), each described
    as ``label`` and its number."""
    lines = ["[device]", "", "[[modes]]", 'name = "Default"']
    for i in range(mappings):
        if i == mappings // 2:
            lines += ["", "[[modes]]", 'name = "Second"']
        n, c = i % 128, (i // 128) % 16
        lines += [
            "",
            "[[modes.mappings]]",
            f'description = "{label} {i}"',
            TRIGGERS[i % len(TRIGGERS)].format(n=n, c=c),
            ACTIONS[i % len(ACTIONS)].format(i=i, n=n),
        ]
    return "\n".join(lines) + "\n"


def timed_reloads(daemon: Any, config: Path, texts: list[str], repeat: int) -> float:
    """Median ms of ``repeat`` reloads (after one untimed), the file set to the next of
    ``texts`` before each (not timed)."""
    times = []
    for index in range(repeat + 1):
        config.write_text(texts[index % len(texts)])
        started = time.perf_counter()
        answer = daemon.reload()
        elapsed = (time.perf_counter() - started) * 1000
        if not answer["ok"]:
            raise RuntimeError(f"the benchmark config is invalid: {answer['errors'][:3]}")
        if index:
            times.append(elapsed)
    return statistics.median(times)


def run(report: Report, quick: bool) -> None:
    """Measure figure 6 into ``report``."""
    from midimon.daemon.service import Daemon

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    repeat = 5 if quick else 21
    base = config_text()
    edited = base.replace('description = "mapping 7"', 'description = "mapping 7, edited"')
    renamed = config_text(label="pad")
    with isolated_home("reload") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(base)
        daemon = Daemon(config)
        try:
            progress(f"reload: {MAPPINGS} mappings x{repeat}, one edited / all changed")
            timed_reloads(daemon, config, [base], 1)
            mappings = sum(len(m.mappings) for m in daemon.config.modes)
            if mappings != MAPPINGS:
                raise RuntimeError(f"the config has {mappings} mappings, not {MAPPINGS}")
            plain_ms = timed_reloads(daemon, config, [edited, base], repeat)
            daemon.heap.enable()  # as `midimon run` does once started
            try:
                edit_ms = timed_reloads(daemon, config, [edited, base], repeat)
                reused = daemon.mapping_reuse.reused
                all_ms = timed_reloads(daemon, config, [renamed, base], repeat)
                fresh = daemon.mapping_reuse.parsed
            finally:
                gc.unfreeze()  # the benchmarks after this one run with the collector as it was
            peer = median_time(lambda: tomllib.loads(config.read_text()), repeat)
        finally:
            daemon.stop()
    if (reused, fresh) != (MAPPINGS - 1, MAPPINGS):
        raise RuntimeError(f"reused {reused} of an edit, parsed {fresh} of a renaming")
    report.add(Figure(
        "reload.500_mappings", edit_ms, "ms", floor=peer, floor_name="tomllib parse only",
        target=10, note="Daemon.reload() after one mapping was edited (499 reused): read, parse, "
        "validate, build mapper, swap, with the heap kept as midimon run keeps it; with "
        f"Python's collector as it is: {plain_ms:.2f} ms",
    ))  # fmt: skip
    report.add(Figure(
        "reload.500_mappings.all_changed", all_ms, "ms", floor=peer,
        floor_name="tomllib parse only", target=10,
        note="Daemon.reload() after every mapping changed (all 500 parsed and checked)",
    ))  # fmt: skip
