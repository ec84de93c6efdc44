"""The `guarded` in-process inline plugin and daemons calling it, for the native dispatch's tests
(tests/daemon/test_native_dispatch.py, test_native_feed.py), and what test_native_isolated.py
shares with them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, signed_plugin

from midimon.daemon.dispatch import DISPATCH_VARIABLE
from midimon.daemon.midi_device import MidiDevice
from midimon.daemon.native_feed import NativeFeed
from midimon.daemon.service import Daemon
from midimon.plugins.description.capabilities import Capability

# Fails its call when it finds itself already running (two calls at once on one instance);
# sleeps 0.3 s when its params say "slow".
GUARDED_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include "midimon_plugin.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int inside;
static atomic_long calls;

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self; (void)len; (void)ctx;
    if (atomic_exchange(&inside, 1)) {
        snprintf(msg, cap, "called while already running");
        return MIDIMON_ERR_FAILED;
    }
    struct timespec pause = {0, strstr(params, "slow") ? 300000000L : 20000L};
    nanosleep(&pause, NULL);
    long n = atomic_fetch_add(&calls, 1) + 1;
    atomic_store(&inside, 0);
    snprintf(msg, cap, "n=%ld note=%u", n, ctx->number);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), MIDIMON_CAP_NETWORK,
    "guarded", "1.0.0", "fails when called twice at once", NULL,
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
[plugins.overrides.guarded]
isolation = "in-process"
inline = true
timeout = 0.05
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "guarded" }}
"""

NOTE_ON = bytes([0x90, 36, 100])


def guarded_plugins(make_plugin: MakePlugin) -> Path:
    """The plugins folder with the signed `guarded` plugin (for a `plugins` fixture)."""
    return signed_plugin(
        lambda name, source: make_plugin(
            name, source=source, manifest={"capabilities": {"network": True}}
        ),
        "guarded",
        GUARDED_SOURCE,
    )


def native_daemon(
    path: str, config: Path, monkeypatch: pytest.MonkeyPatch, grant: bool = True,
    plugin: str = "guarded",
) -> Daemon:  # fmt: skip
    """A daemon on dispatch ``path`` with `guarded` granted (unless not) and ``plugin`` loaded."""
    monkeypatch.setenv(DISPATCH_VARIABLE, path)
    daemon = Daemon(config)
    monkeypatch.delenv(DISPATCH_VARIABLE)
    assert daemon.dispatch == path
    if grant:
        daemon.manager.grant("guarded", Capability.NETWORK, [])
    daemon.manager.load(plugin)
    return daemon


def write_config(
    config: Path, plugins: Path, rate: float = 1e6, virtual: bool = False,
    template: str = CONFIG, port: str = "native-in",
) -> Path:  # fmt: skip
    """``template`` (CONFIG: note 36 calls `guarded` in-process and inline) at ``config``, with
    a virtual JACK port named ``port`` when ``virtual``."""
    name = f'"{port}"' if virtual else "false"
    config.write_text(template.format(plugins=plugins, rate=rate, burst=max(1, int(rate)),
                                      virtual=name))  # fmt: skip
    return config


@contextlib.contextmanager
def on_jack(daemon: Daemon) -> Iterator[Daemon]:
    """``daemon`` started with its MIDI input open (its config names a virtual JACK port);
    stopped after."""
    daemon.start()
    device = MidiDevice(daemon.feed, daemon.config.device, publish=daemon.publish).open()
    try:
        yield daemon
    finally:
        device.close()
        daemon.stop()


def tally(daemon: Daemon, plugin: str = "guarded") -> dict[str, Any]:
    """The daemon's counters and ``plugin``'s stats that both paths must agree on."""
    stats = daemon.manager.stats(plugin)
    counters = daemon.counters
    return {
        "midi_in": counters.midi_in,
        "triggers": counters.triggers,
        "ok": counters.actions_ok,
        "failed": counters.actions_failed,
        **{key: stats[key] for key in ("executions", "successes", "failures", "rate_limited",
                                       "timeouts", "crashes")},
    }  # fmt: skip


class WalkCounter:
    """Counts the plugin calls the C walk made on one daemon (by feed, or by the JACK input's
    C dispatcher loop)."""

    def __init__(self, daemon: Daemon) -> None:
        feed = daemon.feed
        assert isinstance(feed, NativeFeed)
        self.native = feed.native
        self._start = self.native.calls_walked

    @property
    def calls(self) -> int:
        return self.native.calls_walked - self._start
