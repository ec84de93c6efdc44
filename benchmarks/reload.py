"""Figure 6: config reload with 500 mappings.

Times ``Daemon.reload()`` — what SIGHUP, an edit of the file and ``midimon reload`` run: read,
parse, validate every mapping, build the mapper and trigger tables, swap them in. The peer
is Python's own TOML parser (``tomllib``) reading the same file, with no validation at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def config_text(mappings: int = MAPPINGS) -> str:
    """A config with ``mappings`` varied mappings over two modes (no two alike)."""
    lines = ["[device]", "", "[[modes]]", 'name = "Default"']
    for i in range(mappings):
        if i == mappings // 2:
            lines += ["", "[[modes]]", 'name = "Second"']
        n, c = i % 128, (i // 128) % 16
        lines += [
            "",
            "[[modes.mappings]]",
            f'description = "mapping {i}"',
            TRIGGERS[i % len(TRIGGERS)].format(n=n, c=c),
            ACTIONS[i % len(ACTIONS)].format(i=i, n=n),
        ]
    return "\n".join(lines) + "\n"


def run(report: Report, quick: bool) -> None:
    """Measure figure 6 into ``report``."""
    from midimon.daemon.service import Daemon

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    repeat = 5 if quick else 21
    with isolated_home("reload") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text())
        daemon = Daemon(config)
        try:
            progress(f"reload: {MAPPINGS} mappings x{repeat}")
            answer = daemon.reload()
            if not answer["ok"]:
                raise RuntimeError(f"the benchmark config is invalid: {answer['errors'][:3]}")
            mappings = sum(len(m.mappings) for m in daemon.config.modes)
            if mappings != MAPPINGS:
                raise RuntimeError(f"the config has {mappings} mappings, not {MAPPINGS}")
            reload_ms = median_time(daemon.reload, repeat)
            peer = median_time(lambda: tomllib.loads(config.read_text()), repeat)
        finally:
            daemon.stop()
    report.add(Figure(
        "reload.500_mappings", reload_ms, "ms", floor=peer, floor_name="tomllib parse only",
        target=20, note="Daemon.reload(): read, parse, validate, build mapper, swap",
    ))  # fmt: skip
