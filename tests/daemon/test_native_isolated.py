"""Calls to isolated plugins sent by the native dispatch itself (fastpath.h, "Calls to isolated
plugins"; midimon/plugins/sandbox/native_channel.py): while the worker has nothing unanswered
and its lane is idle, the C walk writes the EXECUTE to the worker's socket, and the worker's
pipeline takes the call over. Each rule is checked on a real daemon with a real sandboxed
worker: the answers, stats and counters are those of the reference path's; MIDI order holds
when C-sent calls and Python-sent ones mix; a crash or hang during a C-sent call is that
call's (and the plugin restarts); the rate limit counts both paths; over JACK, the C loop sends
without Python."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, drain, open_jack_output, signed_plugin, wait_for
from native_guarded import native_daemon, on_jack, tally, write_config

from midimon.daemon.native_feed import NativeFeed
from midimon.daemon.service import Daemon
from midimon.plugins.loading.context import TriggerContext, TriggerKind

# Counts its calls (the worker keeps its state between calls); aborts at velocity 127, hangs
# for 10 s at 126; answers with its count, the velocity, the mode and its params.
ORDERED_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include "midimon_plugin.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long calls;

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self;
    calls++;
    if (ctx->velocity == 127) abort();
    if (ctx->velocity == 126) {
        struct timespec pause = {10, 0};
        nanosleep(&pause, NULL);
    }
    snprintf(msg, cap, "n=%ld vel=%u note=%u mode=%s params=%.*s", calls, ctx->velocity,
             ctx->number, ctx->mode, (int)len, params);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), 0,
    "ordered", "1.0.0", "counts its calls in its worker", NULL,
    NULL, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""

CONFIG = """
[device]
virtual_port = {virtual}
[plugins]
dirs = ["{plugins}"]
rate_limit = {rate}
rate_burst = {burst}
[plugins.overrides.ordered]
timeout = 0.5
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "ordered", params = {{ tag = "pad" }} }}
"""

DETAIL = re.compile(r"ordered: ok: n=(\d+) vel=(\d+) note=36 mode=Default params=(.*)$")


@pytest.fixture
def plugins(isolated_dirs: dict[str, str], make_plugin: MakePlugin) -> Path:
    return signed_plugin(make_plugin, "ordered", ORDERED_SOURCE)


def _config(tmp_path: Path, plugins: Path, rate: float = 1e6, virtual: bool = False) -> Path:
    return write_config(tmp_path / "config.toml", plugins, rate, virtual, CONFIG, "isolated-in")


def _daemon(path: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    return native_daemon(path, config, monkeypatch, grant=False, plugin="ordered")


def _sent(daemon: Daemon) -> int:
    """Calls the daemon's C walk sent to workers itself."""
    feed = daemon.feed
    assert isinstance(feed, NativeFeed)
    return feed.native.calls_sent


def _tally(daemon: Daemon) -> dict[str, Any]:
    return tally(daemon, "ordered")


def _answered_once(
    tmp_path: Path, plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Daemon, Any]:
    """A native daemon whose `ordered` worker answered one call the walk sent, and a stream of
    its action events."""
    native = _daemon("native", _config(tmp_path, plugins), monkeypatch)
    stream = native.registry.events.subscribe(["action"])
    try:
        native.feed(_note(1))
        assert wait_for(lambda: native.manager.stats("ordered")["successes"] == 1, 10)
    except BaseException:
        native.stop()
        raise
    return native, stream


def _note(velocity: int) -> bytes:
    return bytes([0x90, 36, velocity])


def test_sent_calls_are_answered_as_the_reference_path(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notes one at a time: every call is sent from C, the worker gets the context and the
    params whole, and stats, counters and action events are those of the reference path."""
    config = _config(tmp_path, plugins)
    reference = _daemon("reference", config, monkeypatch)
    native = _daemon("native", config, monkeypatch)
    stream = native.registry.events.subscribe(["action"])
    try:
        for velocity in range(1, 6):
            for daemon in (reference, native):
                daemon.feed(_note(velocity))
                assert wait_for(
                    lambda d=daemon, v=velocity: d.manager.stats("ordered")["successes"] == v, 10
                )
        assert wait_for(lambda: _tally(native) == _tally(reference), 5)
        assert _tally(native)["ok"] == 5 and _tally(native)["executions"] == 5
        assert _sent(native) == 5  # all of them: the worker was idle each time
        details = [DETAIL.match(e["detail"]) for e in drain(stream)]
        assert [(m.group(1), m.group(2), m.group(3)) for m in details if m] == [
            (str(n), str(n), '{"tag":"pad"}') for n in range(1, 6)
        ]
    finally:
        reference.stop()
        native.stop()


def test_a_burst_keeps_order_across_c_and_python_calls(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 notes back to back, the walk sending each behind those in flight, and a Python call
    (`plugins exec`'s PluginManager.execute) after every 50th: the worker runs them all once, in
    the order they were made (its count says which it ran when)."""
    config = _config(tmp_path, plugins)
    native = _daemon("native", config, monkeypatch)
    stream = native.registry.events.subscribe(["action"])
    velocities = [1 + i % 100 for i in range(200)]
    context = TriggerContext(velocity=1, number=36, trigger_kind=TriggerKind.MANUAL)
    executed: list[str] = []
    try:
        for index, velocity in enumerate(velocities):
            native.feed(_note(velocity))
            if index % 50 == 49:
                executed.append(native.manager.execute("ordered", {"tag": "exec"}, context).message)
        assert wait_for(lambda: native.manager.stats("ordered")["successes"] == 204, 20)
        matches = [DETAIL.match(e["detail"]) for e in drain(stream)]
        assert all(matches)
        counts = [n for n in range(1, 205) if n % 51]  # 51, 102, 153, 204: the exec calls
        assert [int(m.group(1)) for m in matches if m] == counts
        assert [int(m.group(2)) for m in matches if m] == velocities
        assert [message.split()[0] for message in executed] == ["n=51", "n=102", "n=153", "n=204"]
        assert _sent(native) >= 100  # most notes went from C
        tally = _tally(native)
        assert tally["executions"] == 204 and tally["ok"] == 200 and tally["failed"] == 0
    finally:
        native.stop()


def test_a_crash_during_a_sent_call_is_that_calls_and_the_plugin_restarts(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker aborts in a call the C walk sent: the crash is counted and reported for that
    call, the next note restarts the plugin, and C sends to the new worker."""
    native, stream = _answered_once(tmp_path, plugins, monkeypatch)
    try:
        native.feed(_note(127))
        assert wait_for(lambda: native.manager.stats("ordered")["crashes"] == 1, 10)
        assert _sent(native) == 2
        failed = [e for e in drain(stream) if not e["ok"]]
        assert len(failed) == 1 and "crash" in failed[0]["detail"]
        # the next notes restart the worker (after the restart back-off) and reach it
        assert wait_for(
            lambda: native.feed(_note(2)) is None and native.manager.stats("ordered")["successes"]
            >= 2, 15, 0.2,
        )  # fmt: skip
        sent = _sent(native)  # (the restarting call ran on the plugin's lane: let it finish)
        assert wait_for(lambda: native.feed(_note(3)) is None and _sent(native) > sent, 5, 0.1)
        assert wait_for(lambda: native.counters.actions_ok == native.manager.stats(
            "ordered")["successes"], 5)  # fmt: skip
    finally:
        native.stop()


def test_a_hang_during_a_sent_call_times_out_from_its_send(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call the C walk sent hangs: its pipeline times it from the send (timeout 0.5 s) and
    kills the worker; the failure is that call's timeout."""
    native, stream = _answered_once(tmp_path, plugins, monkeypatch)
    try:
        time.sleep(1.5)  # the reader goes into its deep sleep: the send must wake it
        started = time.monotonic()
        native.feed(_note(126))
        assert wait_for(lambda: native.manager.stats("ordered")["timeouts"] == 1, 10, 0.01)
        waited = time.monotonic() - started
        assert 0.45 < waited < 3.0
        assert _sent(native) == 2
        failed = [e for e in drain(stream) if not e["ok"]]
        assert len(failed) == 1 and "timeout" in failed[0]["detail"]
    finally:
        native.stop()


def test_the_rate_limit_counts_c_and_python_sends_as_the_reference(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rate 1/s, burst 1, 12 quick notes: the same refusals on both daemons, counted and
    audited, whichever path took each note."""
    config = _config(tmp_path, plugins, rate=1)
    reference = _daemon("reference", config, monkeypatch)
    native = _daemon("native", config, monkeypatch)
    try:
        for _ in range(12):
            for daemon in (reference, native):
                daemon.feed(_note(1))
        assert wait_for(lambda: _tally(native) == _tally(reference), 10)
        tally = _tally(native)
        # (how many depends on how long the 24 notes took: a loaded machine refills tokens)
        assert tally["rate_limited"] >= 1 and tally["ok"] + tally["failed"] == 12
        assert _sent(native) >= 1
        assert '"rate_limit"' in native.manager.audit.path.read_text()
    finally:
        reference.stop()
        native.stop()


@pytest.fixture
def jack_daemon(
    plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jack_server: Any
) -> Iterator[Daemon]:
    config = _config(tmp_path, plugins, virtual=True)
    with on_jack(_daemon("native", config, monkeypatch)) as daemon:
        yield daemon


def test_notes_over_jack_are_sent_by_the_c_loop_in_order(jack_daemon: Daemon) -> None:
    """Notes 3 ms apart over a private JACK server: the JACK input's C loop sends the calls to
    the worker itself (its ledger counts them); every note reaches the worker once, in order."""
    stream = jack_daemon.registry.events.subscribe(["action"])
    controller = open_jack_output("isolated-in")
    velocities = [1 + i % 100 for i in range(150)]
    try:
        for velocity in velocities:
            controller.send_message([0x90, 36, velocity])
            time.sleep(0.003)
        assert wait_for(lambda: jack_daemon.manager.stats("ordered")["successes"] == 150, 15)
        matches = [DETAIL.match(e["detail"]) for e in drain(stream)]
        assert [int(m.group(2)) for m in matches if m] == velocities
        assert _sent(jack_daemon) >= 75  # most: a worker answers well within 3 ms
        assert jack_daemon.counters.midi_in == 150
    finally:
        controller.close_port()
