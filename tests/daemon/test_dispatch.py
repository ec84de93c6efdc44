"""The compiled dispatch against the reference one (``MIDIMON_DISPATCH``), differentially.

Hypothesis generates configs (modes and global mappings over every trigger type, channels,
ranges, timings) and MIDI streams with timing (notes, releases, velocity 0, CC, encoders,
aftertouch, pitch bend, program changes, malformed and system messages, timer ticks, mode
switches), on an injected clock. The same stream goes through two real daemons, one per path,
whose every action calls the same real, signed, in-process ``inline`` plugin that echoes its
whole trigger context (timestamp included): both must publish the same triggers and actions in
the same order, with the same contexts, and count the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, signed_plugin, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midimon.daemon.control_streams import EMPTY
from midimon.daemon.dispatch import DISPATCH_VARIABLE, dispatch_path, feed_compiled
from midimon.daemon.native_feed import NativeFeed
from midimon.daemon.service import Daemon
from midimon.engine.errors import ConfigError
from midimon.plugins.sandbox.trigger_worker import PluginEvent

ECHO_SOURCE = r"""
#include "midimon_plugin.h"
#include <stdio.h>

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self;
    snprintf(msg, cap, "%.*s vel=%u ch=%u num=%u val=%d kind=%u mode=%s ts=%lld src=%s ev=%s "
             "ev_val=%g", (int)len, params, ctx->velocity, ctx->channel, ctx->number,
             (int)ctx->value, (unsigned)ctx->trigger_kind, ctx->mode,
             (long long)ctx->timestamp_ns, ctx->source, ctx->event_name, ctx->event_value);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), 0,
    "echo", "1.0.0", "echoes its trigger context", NULL,
    NULL, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""

NOTES = (36, 37, 38)
CONTROLLERS = (1, 2)
PLUGIN_EVENTS = ("/pad/1", "/fader")
START_NS = 10**12
MS = 1_000_000

# -- configs -----------------------------------------------------------------------------------

# Values from a few edges (shared by the configs' ranges and the events) and any other:
# a range bound and an event value meet often, so an off-by-one cannot hide.
EDGES = (0, 1, 2, 40, 41, 63, 64, 65, 90, 91, 126, 127)
seven_bits = st.one_of(st.sampled_from(EDGES), st.integers(0, 127))
channels = st.one_of(st.none(), st.sampled_from((0, 1)))
notes = st.sampled_from(NOTES)
levels = st.tuples(seven_bits, seven_bits).map(sorted)
bends = st.one_of(st.sampled_from((-8192, -8191, -1, 0, 1, 8190, 8191)), st.integers(-8192, 8191))


def _fields(**values: Any) -> str:
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        parts.append(f"{key} = {value!r}".replace("'", '"'))
    return ", ".join(parts)


TRIGGERS = (
    st.builds(lambda n, v, c: _fields(type="Note", note=n, velocity_min=max(1, v[0]),
                                      velocity_max=max(1, v[1]), channel=c),
              notes, levels, channels),
    st.builds(lambda n, v, c: _fields(type="VelocityRange", note=n, min=max(1, v[0]),
                                      max=max(1, v[1]), channel=c),
              notes, levels, channels),
    st.builds(lambda n, h, c: _fields(type="LongPress", note=n, hold_ms=h, channel=c),
              notes, st.integers(50, 800), channels),
    st.builds(lambda n, w, c: _fields(type="DoubleTap", note=n, window_ms=w, channel=c),
              notes, st.integers(50, 500), channels),
    st.builds(lambda ns, w, c: _fields(type="NoteChord", notes=sorted(ns), window_ms=w,
                                       channel=c),
              st.sets(notes, min_size=2, max_size=3), st.integers(20, 300), channels),
    st.builds(lambda n, v, c: _fields(type="CC", controller=n, value_min=v[0],
                                      value_max=v[1], channel=c),
              st.sampled_from(CONTROLLERS), levels, channels),
    st.builds(lambda n, d, e, c: _fields(type="EncoderTurn", controller=n, direction=d,
                                         encoding=e, channel=c),
              st.sampled_from(CONTROLLERS), st.sampled_from(("cw", "ccw", "any")),
              st.sampled_from(("twos_complement", "sign_magnitude", "binary_offset")),
              channels),
    st.builds(lambda v, s, n, c: _fields(type="Aftertouch", pressure_min=v[0],
                                         pressure_max=v[1], source=s,
                                         note=n if s == "poly" else None, channel=c),
              levels, st.sampled_from(("channel", "poly", "any")), st.one_of(st.none(), notes),
              channels),
    st.builds(lambda lo, hi, c: _fields(type="PitchBend", min=min(lo, hi), max=max(lo, hi),
                                        channel=c),
              bends, bends, channels),
    # Never fired by MIDI: both paths must ignore it alike, and fire it alike from a plugin event.
    st.builds(lambda e, lo, c: _fields(type="Plugin", plugin="osc_in", event=e, value_min=lo,
                                       channel=c),
              st.sampled_from(PLUGIN_EVENTS), st.one_of(st.none(), st.sampled_from((0.5, 1))),
              channels),
)  # fmt: skip
triggers = st.one_of(*TRIGGERS)
# For the native dispatch: mostly the stateless triggers it walks in C (Note, VelocityRange, CC,
# Aftertouch, PitchBend), the others among them so that the hand-over to Python is exercised.
stateless_triggers = st.one_of(*(TRIGGERS[i] for i in (0, 1, 5, 7, 8)))
walked_triggers = st.one_of(*(TRIGGERS[i] for i in (0, 1, 5, 7, 8) * 4), *TRIGGERS)


def _echo(key: str, number: int) -> str:
    return f'action = {{ type = "Plugin", plugin = "echo", params = {{ {key} = {number} }} }}'


@st.composite
def configs(
    draw: st.DrawFn, listeners: st.SearchStrategy[str] = triggers, most: int = 6
) -> tuple[str, int]:
    """(config text, number of modes): every mapping's action echoes its own id; at most
    ``most`` mappings per mode, their triggers drawn from ``listeners``."""
    lines = ['[plugins]', 'dirs = ["PLUGINS"]', "rate_limit = 1000000.0", "rate_burst = 1000000",
             "[plugins.overrides.echo]", 'isolation = "in-process"', "inline = true"]  # fmt: skip
    ids = iter(range(1000))
    modes = draw(st.integers(1, 3))
    for mode in range(modes):
        lines += ["[[modes]]", f'name = "M{mode}"']
        for trigger in draw(st.lists(listeners, min_size=0, max_size=most)):
            lines += ["[[modes.mappings]]", f"trigger = {{ {trigger} }}", _echo("m", next(ids))]
    for trigger in draw(st.lists(triggers, min_size=0, max_size=3)):
        lines += ["[[global_mappings]]", f"trigger = {{ {trigger} }}", _echo("g", next(ids))]
    return "\n".join(lines) + "\n", modes


# -- streams -----------------------------------------------------------------------------------

data = seven_bits
channel_of_event = st.sampled_from((0, 0, 1, 2))
event_notes = st.sampled_from((*NOTES, *NOTES, 39))


def _three(status: int) -> st.SearchStrategy[bytes]:
    number = st.sampled_from((*CONTROLLERS, 3)) if status == 0xB0 else event_notes
    value = data
    return st.builds(lambda c, n, v: bytes([status | c, n, v]), channel_of_event, number, value)


messages = st.one_of(
    *(_three(status) for status in (0x90, 0x90, 0x90, 0x80, 0x80, 0xB0, 0xB0, 0xA0)),
    st.builds(lambda c, v: bytes([0xD0 | c, v]), channel_of_event, data),
    st.builds(lambda c, v: bytes([0xE0 | c, (v + 8192) & 0x7F, (v + 8192) >> 7]),
              channel_of_event, bends),
    st.builds(lambda c, p: bytes([0xC0 | c, p]), channel_of_event, data),
    st.sampled_from((b"", b"\x90", b"\x24\x64", b"\x90\x24", b"\x90\x24\x64\x00", b"\x90\xa4\x64",
                     b"\xd0\x40\x00", b"\xf8", b"\xf0\x01\xf7", b"\xe0\x00")),
)  # fmt: skip
steps = st.one_of(
    st.tuples(st.just("midi"), st.integers(0, 400), messages),
    st.tuples(st.just("tick"), st.integers(0, 1000), st.none()),
    st.tuples(st.just("mode"), st.just(0), st.integers(0, 2)),
    st.tuples(st.just("plugin"), st.integers(0, 400),
              st.tuples(st.sampled_from(PLUGIN_EVENTS), st.sampled_from((0.0, 0.5, 0.75, 1.0)),
                        st.one_of(st.none(), st.sampled_from((0, 1))))),
)  # fmt: skip

# For the native dispatch: mostly messages its tables listen to, with the rest mixed in.
walked_steps = st.one_of(
    *(st.tuples(st.just("midi"), st.integers(0, 400), _three(status))
      for status in (0x90, 0x90, 0x90, 0x90, 0xB0, 0xB0)),
    st.tuples(st.just("midi"), st.integers(0, 400),
              st.builds(lambda c, v: bytes([0xD0 | c, v]), channel_of_event, data)),
    st.tuples(st.just("midi"), st.integers(0, 400),
              st.builds(lambda c, v: bytes([0xE0 | c, (v + 8192) & 0x7F, (v + 8192) >> 7]),
                        channel_of_event, bends)),
    steps,
)  # fmt: skip


# -- the daemons -------------------------------------------------------------------------------


def _signed_echo(make_plugin: MakePlugin, name: str = "echo", source: str = ECHO_SOURCE) -> Path:
    return signed_plugin(make_plugin, name, source)


class Side:
    """One daemon on one dispatch path, its clock, and what it published."""

    def __init__(self, path: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = START_NS
        monkeypatch.setenv(DISPATCH_VARIABLE, path)
        self.daemon = Daemon(config, clock=lambda: self.now)
        monkeypatch.delenv(DISPATCH_VARIABLE)
        assert self.daemon.dispatch == path
        self.daemon.manager.load("echo")
        assert self.daemon.manager.runs_inline("echo")
        self.stream = self.daemon.registry.events.subscribe(["trigger", "action"])
        self.seen: list[Any] = []

    def drain(self) -> None:
        while (item := self.stream.next_item(0)) is not EMPTY:
            self.seen.append({k: v for k, v in item.items() if k != "ms"})

    def run(self, stream: list[tuple[str, int, Any]], modes: int) -> None:
        daemon = self.daemon
        for kind, gap, value in stream:
            self.now += gap * MS + 1
            if kind == "midi":
                daemon.feed(value, self.now)
            elif kind == "tick":
                daemon.tick()
            elif kind == "plugin":
                name, amount, channel = value
                event = PluginEvent("osc_in", name, amount, None, None, channel, self.now)
                daemon.plugin_events.dispatch(event)
            else:
                name = daemon.mapper.mode_names[value % modes]
                daemon.mapper.set_mode(name)
                self.seen.append(("mode", name))
            self.drain()

    def tally(self) -> dict[str, Any]:
        counters = self.daemon.counters
        stats = self.daemon.manager.stats("echo")
        return {
            "midi_in": counters.midi_in,
            "triggers": counters.triggers,
            "actions_ok": counters.actions_ok,
            "actions_failed": counters.actions_failed,
            "dropped": counters.dropped,
            "counts": dict(self.daemon.executor.counts),
            "executions": stats["executions"],
            "successes": stats["successes"],
        }


def test_compiled_dispatch_fires_exactly_what_the_reference_fires(
    isolated_dirs: dict[str, str],
    make_plugin: MakePlugin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugins = _signed_echo(make_plugin)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{plugins}"]\n[plugins.overrides.echo]\nisolation = "in-process"\n'
        'inline = true\n[[modes]]\nname = "M0"\n'
    )
    reference = Side("reference", config, monkeypatch)
    compiled = Side("compiled", config, monkeypatch)
    examples = {"fired": 0}

    @settings(max_examples=250, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(configs(), st.lists(steps, min_size=10, max_size=60))
    def check(case: tuple[str, int], stream: list[tuple[str, int, Any]]) -> None:
        text, modes = case
        config.write_text(text.replace("PLUGINS", str(plugins)))
        tallies = []
        for side in (reference, compiled):
            answer = side.daemon.reload(config)
            assert answer["ok"], answer["errors"]
            side.daemon.mapper.set_mode("M0")
            side.drain()
            side.seen.clear()
            before = side.tally()
            side.run(stream, modes)
            tallies.append(_delta(before, side.tally()))
        assert compiled.seen == reference.seen
        assert tallies[1] == tallies[0]
        examples["fired"] += bool(reference.seen)

    try:
        check()
    finally:
        for side in (reference, compiled):
            side.daemon.stop()
    assert examples["fired"] > 50  # the generated cases do fire actions, and many of them


def test_the_variable_selects_the_path(
    isolated_dirs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\ntrigger = { type = "Note", note = 36 }\n'
        'action = { type = "ModeChange", mode = "Default" }\n'
    )
    monkeypatch.delenv(DISPATCH_VARIABLE, raising=False)
    assert dispatch_path() == "native"
    for value, expected in (("", "native"), ("native", "native"), ("compiled", "compiled"),
                            ("reference", "reference"), (" Reference ", "reference")):  # fmt: skip
        monkeypatch.setenv(DISPATCH_VARIABLE, value)
        daemon = Daemon(config)
        try:
            assert daemon.dispatch == expected
            feed = daemon.feed
            if expected == "native":
                assert isinstance(feed, NativeFeed)
            else:
                assert getattr(feed, "__func__", None) is (
                    feed_compiled if expected == "compiled" else Daemon.feed_reference
                )
            daemon.feed(bytes([0x90, 36, 100]))
            assert daemon.counters.triggers == 1
        finally:
            daemon.stop()
    monkeypatch.setenv(DISPATCH_VARIABLE, "fast")
    with pytest.raises(ConfigError, match=f"{DISPATCH_VARIABLE}.*'fast'.*native, compiled, ref"):
        Daemon(config)


def test_a_reload_swaps_the_compiled_table_with_the_config(
    isolated_dirs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DISPATCH_VARIABLE, raising=False)
    config = tmp_path / "config.toml"
    mapping = '[[modes.mappings]]\ntrigger = {{ type = "CC", controller = {n} }}\n' \
              'action = {{ type = "ModeChange", mode = "Default" }}\n'  # fmt: skip
    config.write_text('[[modes]]\nname = "Default"\n' + mapping.format(n=7))
    daemon = Daemon(config)
    try:
        table = daemon._table
        daemon.feed(bytes([0xB0, 7, 1]))
        daemon.feed(bytes([0xB0, 8, 1]))
        assert daemon.counters.triggers == 1
        config.write_text('[[modes]]\nname = "Default"\n' + mapping.format(n=8))
        assert daemon.reload()["ok"]
        assert daemon._table is not table
        daemon.feed(bytes([0xB0, 7, 1]))
        daemon.feed(bytes([0xB0, 8, 1]))
        assert daemon.counters.triggers == 2
        config.write_text("[[modes]]\nname = broken")
        assert not daemon.reload()["ok"]  # a broken config keeps the running table
        daemon.feed(bytes([0xB0, 8, 1]))
        assert daemon.counters.triggers == 3
    finally:
        daemon.stop()


# -- the native dispatch (C) against the reference --------------------------------------------

# The same echo, but into a file (ECHO_LOG when it is initialized): the native dispatch runs
# only while nobody watches events, so what it called is read from the plugin's own record.
ECHO_LOG_SOURCE = r"""
#include "midimon_plugin.h"
#include <stdio.h>
#include <stdlib.h>

static FILE *out;

static int32_t p_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self; (void)host;
    out = fopen(getenv("ECHO_LOG"), "a");
    return out ? MIDIMON_OK : MIDIMON_ERR_FAILED;
}

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self; (void)msg; (void)cap;
    fprintf(out, "%.*s vel=%u ch=%u num=%u val=%d kind=%u mode=%s ts=%lld src=%s ev=%s "
            "ev_val=%g size=%u\n", (int)len, params, ctx->velocity, ctx->channel, ctx->number,
            (int)ctx->value, (unsigned)ctx->trigger_kind, ctx->mode,
            (long long)ctx->timestamp_ns, ctx->source, ctx->event_name, ctx->event_value,
            ctx->struct_size);
    fflush(out);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), 0,
    "echo_log", "1.0.0", "writes its trigger context to ECHO_LOG", NULL,
    p_init, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


class LoggingSide(Side):
    """A daemon whose echo_log writes to its own file, with nobody watching its events."""

    def __init__(
        self, path: str, config: Path, log: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.now = START_NS
        self.log = log
        monkeypatch.setenv(DISPATCH_VARIABLE, path)
        monkeypatch.setenv("ECHO_LOG", str(log))
        self.daemon = Daemon(config, clock=lambda: self.now)
        self.daemon.manager.load("echo_log")  # opens ECHO_LOG now
        monkeypatch.delenv(DISPATCH_VARIABLE)
        assert self.daemon.dispatch == path
        assert self.daemon.manager.runs_inline("echo_log")
        self.seen = []

    def drain(self) -> None:
        """Nothing is subscribed: what ran is in the log."""

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    def tally(self) -> dict[str, Any]:
        counters = self.daemon.counters
        stats = self.daemon.manager.stats("echo_log")
        return {
            "midi_in": counters.midi_in,
            "triggers": counters.triggers,
            "actions_ok": counters.actions_ok,
            "actions_failed": counters.actions_failed,
            "dropped": counters.dropped,
            "counts": dict(self.daemon.executor.counts),
            "executions": stats["executions"],
            "successes": stats["successes"],
            "failures": stats["failures"],
        }


def test_native_dispatch_calls_exactly_what_the_reference_calls(
    isolated_dirs: dict[str, str],
    make_plugin: MakePlugin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every call the C walk makes, with its context (all of it, timestamps too), in order, and
    every counter, as the reference makes them; and the walk does take most of the calls."""
    plugins = _signed_echo(make_plugin, "echo_log", ECHO_LOG_SOURCE)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{plugins}"]\n[plugins.overrides.echo_log]\n'
        'isolation = "in-process"\ninline = true\n[[modes]]\nname = "M0"\n'
    )
    reference = LoggingSide("reference", config, tmp_path / "reference.log", monkeypatch)
    native = LoggingSide("native", config, tmp_path / "native.log", monkeypatch)
    walked = {"events": 0, "calls": 0, "fired": 0, "reference_calls": 0}
    dispatch = native.daemon.feed.native
    original_walk, original_feed_one = dispatch.walk, dispatch.feed_one

    def counting_walk(table: Any, *args: Any) -> int:
        done = original_walk(table, *args)
        walked["events"] += done
        walked["calls"] += dispatch.last_counts()[2]
        return done

    def counting_feed_one(data: bytes, stamp: int) -> bool:  # Daemon.feed's walk
        done = original_feed_one(data, stamp)
        if done:
            walked["events"] += 1
            walked["calls"] += dispatch.last_counts()[2]
        return done

    dispatch.walk, dispatch.feed_one = counting_walk, counting_feed_one

    @settings(max_examples=250, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(
        st.one_of(configs(stateless_triggers, 10), configs(walked_triggers, 10)),
        st.lists(walked_steps, min_size=30, max_size=120),
    )
    def check(case: tuple[str, int], stream: list[tuple[str, int, Any]]) -> None:
        text, modes = case
        text = text.replace("PLUGINS", str(plugins)).replace('"echo"', '"echo_log"')
        config.write_text(text.replace("overrides.echo]", "overrides.echo_log]"))
        tallies = []
        for side in (reference, native):
            answer = side.daemon.reload(config)
            assert answer["ok"], answer["errors"]
            side.daemon.mapper.set_mode("M0")
            side.log.write_text("")
            before = side.tally()
            side.run(stream, modes)
            tallies.append(_delta(before, side.tally()))
        assert native.calls() == reference.calls()
        assert tallies[1] == tallies[0]
        walked["fired"] += bool(reference.calls())
        walked["reference_calls"] += len(reference.calls())

    try:
        check()
    finally:
        for side in (reference, native):
            side.daemon.stop()
    assert walked["fired"] > 50
    assert walked["events"] > 1000  # most messages were walked in C, not handed to Python
    assert walked["calls"] > 500  # and C called the plugin itself


def test_native_dispatch_calls_plain_plugin_mappings_from_c(
    isolated_dirs: dict[str, str],
    make_plugin: MakePlugin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Note, VelocityRange, CC, Aftertouch and PitchBend mappings calling an inline plugin are
    walked in C: every message handled there, the calls' contexts those of the reference."""
    plugins = _signed_echo(make_plugin, "echo_log", ECHO_LOG_SOURCE)
    config = tmp_path / "config.toml"
    mappings = [
        '{ type = "Note", note = 36, velocity_min = 40 }',
        '{ type = "VelocityRange", note = 37, min = 1, max = 64 }',
        '{ type = "CC", controller = 7, value_min = 10, value_max = 20, channel = 1 }',
        '{ type = "Aftertouch", source = "channel", pressure_min = 5 }',
        '{ type = "PitchBend", min = -100, max = 100 }',
    ]
    lines = [f'[plugins]\ndirs = ["{plugins}"]\n[plugins.overrides.echo_log]\n'
             'isolation = "in-process"\ninline = true\n[[modes]]\nname = "M0"\n']  # fmt: skip
    for number, trigger in enumerate(mappings):
        lines.append(f"[[modes.mappings]]\ntrigger = {trigger}\n{_echo('m', number)}\n")
    config.write_text("".join(lines).replace('"echo"', '"echo_log"'))
    sides = [
        LoggingSide(path, config, tmp_path / f"{path}.log", monkeypatch)
        for path in ("reference", "native")
    ]
    messages = [
        bytes([0x90, 36, 39]), bytes([0x90, 36, 40]), bytes([0x90, 36, 127]),
        bytes([0x90, 37, 64]), bytes([0x90, 37, 65]), bytes([0x91, 36, 100]),
        bytes([0xB1, 7, 9]), bytes([0xB1, 7, 10]), bytes([0xB1, 7, 20]), bytes([0xB0, 7, 15]),
        bytes([0xD3, 4]), bytes([0xD3, 5]), bytes([0xE0, 0x00, 0x40]), bytes([0xE5, 0x65, 0x40]),
        bytes([0xE5, 0x1B, 0x3F]), bytes([0xE5, 0x1C, 0x3F]), bytes([0x90, 36, 0]),
        bytes([0x80, 36, 0]), bytes([0xC0, 5]), bytes([0xF8, 0]),
    ]  # fmt: skip
    walked = []
    dispatch = sides[1].daemon.feed.native
    original_feed_one = dispatch.feed_one

    def counting_feed_one(data: bytes, stamp: int) -> bool:  # Daemon.feed's walk
        done = original_feed_one(data, stamp)
        walked.append((int(done), dispatch.last_counts() if done else None))
        return done

    dispatch.feed_one = counting_feed_one
    try:
        for side in sides:
            for offset, message in enumerate(messages):
                side.daemon.feed(message, START_NS + offset * MS)
        assert sides[1].calls() == sides[0].calls()
        assert len(sides[0].calls()) == 9
        assert sides[1].tally() == sides[0].tally()
        assert walked == [(1, (1, *counts)) for counts in [
            (0, 0), (1, 1), (1, 1), (1, 1), (0, 0), (1, 1), (0, 0), (1, 1), (1, 1), (0, 0),
            (0, 0), (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), (0, 0), (0, 0), (0, 0), (0, 0)]]
    finally:
        for side in sides:
            side.daemon.stop()


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: (before[key], after[key]) for key in before}


class IsolatedSide(Side):
    """A daemon calling `echo` in its sandboxed worker (the default isolation), watching only
    action events (a watcher of triggers would stop the C walk)."""

    def __init__(self, path: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = START_NS
        monkeypatch.setenv(DISPATCH_VARIABLE, path)
        self.daemon = Daemon(config, clock=lambda: self.now)
        monkeypatch.delenv(DISPATCH_VARIABLE)
        self.daemon.manager.load("echo")
        assert not self.daemon.manager.runs_inline("echo")
        self.stream = self.daemon.registry.events.subscribe(["action"])
        self.seen = []

    def settle(self) -> None:
        """Wait until every call made was answered, then take the action events."""
        stats = self.daemon.manager.counters("echo")
        done = self.daemon.counters
        assert wait_for(
            lambda: done.actions_ok + done.actions_failed == stats.executions + stats.rate_limited
            and stats.successes + stats.failures == stats.executions, 10, 0.002,
        )  # fmt: skip
        self.drain()


def test_native_dispatch_sends_isolated_calls_exactly_as_the_reference(
    isolated_dirs: dict[str, str],
    make_plugin: MakePlugin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same generated configs and streams through a reference daemon and a native one whose
    `echo` runs isolated: the worker sees the same calls with the same contexts (timestamps
    too), in the same order, and every counter agrees; the C walk sends most calls itself."""
    plugins = _signed_echo(make_plugin)
    config = tmp_path / "config.toml"
    config.write_text(f'[plugins]\ndirs = ["{plugins}"]\n[[modes]]\nname = "M0"\n')
    reference = IsolatedSide("reference", config, monkeypatch)
    native = IsolatedSide("native", config, monkeypatch)
    dispatch = native.daemon.feed.native
    totals = {"fired": 0, "calls": 0}

    @settings(max_examples=120, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(
        st.one_of(configs(stateless_triggers, 10), configs(walked_triggers, 10)),
        st.lists(walked_steps, min_size=30, max_size=120),
    )
    def check(case: tuple[str, int], stream: list[tuple[str, int, Any]]) -> None:
        text, modes = case
        text = text.replace("PLUGINS", str(plugins))
        config.write_text(text.replace('isolation = "in-process"', "").replace("inline = true", ""))
        tallies: list[dict[str, Any]] = []
        for side in (reference, native):
            answer = side.daemon.reload(config)
            assert answer["ok"], answer["errors"]
            side.daemon.mapper.set_mode("M0")
            side.settle()
            side.seen.clear()
            before = side.tally()
            side.run(stream, modes)
            side.settle()
            # a call the walk sent is counted once its pipeline takes it over: wait for that
            wait_for(lambda b=before, s=side: tallies == [] or _delta(b, s.tally()) == tallies[0])
            side.drain()
            tallies.append(_delta(before, side.tally()))
        # the actions in the order the worker answered them (the mode switches, marked by the
        # test as they happen, may fall anywhere among answers still on their way)
        actions = [[e for e in side.seen if isinstance(e, dict)] for side in (reference, native)]
        assert actions[1] == actions[0]
        assert tallies[1] == tallies[0]
        totals["fired"] += bool(actions[0])
        totals["calls"] += len(actions[0])

    sent = dispatch.calls_sent
    try:
        check()
    finally:
        for side in (reference, native):
            side.daemon.stop()
    assert totals["fired"] > 30
    # C sent many of them itself (fed back to back, most calls queue behind a call of the
    # Python path's waiting to be written, which the walk never overtakes)
    assert dispatch.calls_sent - sent > totals["calls"] // 10
