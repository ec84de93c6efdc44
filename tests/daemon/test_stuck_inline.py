"""A hostile inline plugin: it never returns from execute(), busy on the JACK input's real-time
dispatcher thread (where the C walk calls it). The daemon keeps answering its control socket,
says the dispatcher is stuck, takes a reload, and `midimon stop` still ends the process within
seconds (the plugin is left running, never destroyed under its call; the thread ends with the
process)."""

from __future__ import annotations

import json
import time
from typing import Any

from helpers import MakePlugin, open_jack_output, signed_plugin, wait_for

# Busy forever on note 37's params (bounded at 30 s, so a failed test leaves no CPU spinning
# for long); answers at once otherwise.
SPINNER_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include "midimon_plugin.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self; (void)len;
    if (strstr(params, "spin")) {
        long long until = now_ns() + 30000000000LL;
        while (now_ns() < until) {
        }
    }
    snprintf(msg, cap, "note=%u", ctx->number);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), 0,
    "spinner", "1.0.0", "never returns from a call whose params say spin", NULL,
    NULL, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""

CONFIG = """
[device]
virtual_port = "stuck-in"
[plugins]
dirs = ["{plugins}"]
[plugins.overrides.spinner]
isolation = "in-process"
inline = true
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "spinner" }}
[[modes.mappings]]
trigger = {{ type = "Note", note = 37 }}
action = {{ type = "Plugin", plugin = "spinner", params = {{ mode = "spin" }} }}
"""


def test_an_inline_plugin_that_never_returns_does_not_hold_the_daemon(
    jack_server: Any,  # first: the daemon's environment (midimon_env) then names its server
    isolated_dirs: dict[str, str],
    make_plugin: MakePlugin,
    start_daemon: Any,
    run_midimon: Any,
) -> None:
    plugins = signed_plugin(make_plugin, "spinner", SPINNER_SOURCE)

    def status() -> dict[str, Any]:
        done = run_midimon("status", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    proc, _ = start_daemon(CONFIG.format(plugins=plugins))
    controller = open_jack_output("stuck-in")
    try:
        # The first note loads the plugin (a change: the next message goes the Python side's
        # way, which publishes a table for the C loop); from the third on the loop walks them.
        for count in (1, 2, 3):
            controller.send_message([0x90, 36, 100])
            assert wait_for(lambda count=count: status()["actions_ok"] >= count, 20)
        controller.send_message([0x90, 37, 100])  # never returns, on the C loop's thread
        time.sleep(0.5)
        # A reload publishes a new table for the walk: it waits for the walk a second, then
        # goes on without it (the control plane goes on), and STATUS says so.
        assert run_midimon("reload").returncode == 0
        assert status()["dispatcher"]["stuck_in_call"] is True
        started = time.monotonic()
        done = run_midimon("stop")
        assert done.returncode == 0, done.stderr
        assert proc.wait(20) == 0
        assert time.monotonic() - started < 15
    finally:
        controller.close_port()
    _, log = proc.communicate()
    assert "spinner: still inside a call" in log
    assert "dispatcher thread is still inside a plugin call" in log
