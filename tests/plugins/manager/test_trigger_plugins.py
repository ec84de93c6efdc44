"""TriggerPlugins: real trigger plugins (compiled here) that emit, crash, hang or are not
triggers, supervised in real workers: restart with backoff, auto-disable, refusals audited."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import MakePlugin, wait_for

from midimon.plugins.manager.plugin_manager import PluginManager
from midimon.plugins.manager.trigger_plugins import TriggerPlugins
from midimon.plugins.sandbox.trigger_worker import PluginEvent

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="isolated workers are Linux only"
)

# A trigger plugin whose start() does what T_MODE says: "emit" starts a thread that emits
# T_COUNT events named /tick with value i and number/channel set; "segv" crashes; "hang" never
# returns; "fail" returns MIDIMON_ERR_FAILED. It echoes its settings JSON in a log line.
TRIGGER_SOURCE = r"""
#include "midimon_plugin.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef T_COUNT
#define T_COUNT 5
#endif

static const midimon_host_t *g_host;
static pthread_t g_thread;
static volatile int g_run;

static void *emitter(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < T_COUNT && g_run; i++) {
        midimon_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.struct_size = sizeof ev;
        ev.flags = MIDIMON_EVENT_HAS_NUMBER | MIDIMON_EVENT_HAS_CHANNEL;
        ev.name = "/tick";
        ev.value = i;
        ev.number = 60;
        ev.channel = 2;
        g_host->emit_event(g_host, &ev);
    }
    return NULL;
}

static int32_t t_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    g_host = host;
    return MIDIMON_OK;
}

static int32_t t_start(const midimon_plugin_t *self, const char *settings, size_t len) {
    char line[256];
    (void)self;
    snprintf(line, sizeof line, "settings %.*s", (int)len, settings);
    g_host->log(g_host, MIDIMON_LOG_INFO, line);
    if (strcmp(T_MODE, "segv") == 0) raise(SIGSEGV);
    if (strcmp(T_MODE, "hang") == 0) for (;;) pause();
    if (strcmp(T_MODE, "fail") == 0) return MIDIMON_ERR_FAILED;
    g_run = 1;
    return pthread_create(&g_thread, NULL, emitter, NULL) == 0 ? MIDIMON_OK : MIDIMON_ERR_FAILED;
}

static void t_stop(const midimon_plugin_t *self) {
    (void)self;
    g_run = 0;
    pthread_join(g_thread, NULL);
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), 0,
    P_NAME, "1.0.0", "a test trigger plugin", NULL,
    t_init, NULL, NULL, NULL, NULL, t_start, t_stop,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


class Collected:
    """Events a TriggerPlugins handed over."""

    def __init__(self) -> None:
        self.events: list[PluginEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: PluginEvent) -> None:
        with self.lock:
            self.events.append(event)


def _trigger(make_plugin: MakePlugin, name: str, mode: str, **defines: str) -> Path:
    return make_plugin(
        name,
        defines={"T_MODE": f'"{mode}"', **defines},
        manifest={"type": "trigger", "abi": "1.1"},
        source=TRIGGER_SOURCE,
    )


def _audit(manager: PluginManager, name: str, event: str) -> list[dict]:
    return list(manager.audit.read(plugin=name, event=event))


MakeManager = Callable[..., PluginManager]


def test_events_arrive_with_settings_and_fields(
    make_plugin: MakePlugin, make_manager: MakeManager, recording_host
) -> None:
    """A trigger plugin gets its [plugins.settings] as JSON; its events carry their fields."""
    _trigger(make_plugin, "tick", "emit")
    manager = make_manager(settings={"tick": {"port": 9000, "name": "x"}})
    collected = Collected()
    triggers = TriggerPlugins(manager, collected)
    try:
        triggers.sync(["tick"])
        assert wait_for(lambda: len(collected.events) == 5)
        first = collected.events[0]
        assert (first.plugin, first.name, first.value, first.number, first.channel) == (
            "tick",
            "/tick",
            0.0,
            60,
            2,
        )
        assert first.velocity is None
        assert ("tick", 1, 'settings {"port":9000,"name":"x"}') in recording_host.logs
        assert triggers.stats()["tick"]["delivered"] == 5
    finally:
        triggers.stop_all()
    assert _audit(manager, "tick", "unload")


def test_an_action_plugin_is_not_started_as_a_trigger(
    make_plugin: MakePlugin, make_manager: MakeManager
) -> None:
    """A Plugin trigger naming an action plugin is refused and audited."""
    make_plugin("act")
    manager = make_manager()
    triggers = TriggerPlugins(manager, Collected())
    triggers.sync(["act"])
    assert triggers.running() == []
    assert "not a trigger" in _audit(manager, "act", "trigger_refused")[-1]["reason"]


@pytest.mark.parametrize("mode", ["segv", "fail", "hang"])
def test_a_failing_trigger_restarts_then_is_disabled(
    make_plugin: MakePlugin, make_manager: MakeManager, mode: str
) -> None:
    """start() that crashes, fails or hangs (killed past the timeout) is retried with backoff;
    past max_crashes the plugin is disabled, and every failure is audited."""
    _trigger(make_plugin, "bad", mode)
    manager = make_manager(max_crashes=2, timeout=0.5)
    triggers = TriggerPlugins(manager, Collected())
    try:
        triggers.sync(["bad"])
        assert wait_for(lambda: not manager.is_enabled("bad"), 30)
        assert len(_audit(manager, "bad", "crash")) == 3
        assert triggers.stats()["bad"]["starts"] == 3
        assert triggers.running() == []
        assert _audit(manager, "bad", "disable")
    finally:
        triggers.stop_all()


def test_sync_stops_what_the_config_no_longer_uses(
    make_plugin: MakePlugin, make_manager: MakeManager
) -> None:
    """sync() with another set stops the plugins left out."""
    _trigger(make_plugin, "tick", "emit", T_COUNT="0")
    manager = make_manager()
    triggers = TriggerPlugins(manager, Collected())
    try:
        triggers.sync(["tick"])
        assert triggers.running() == ["tick"]
        triggers.sync([])
        assert triggers.running() == [] and triggers.stats() == {}
    finally:
        triggers.stop_all()


def test_changed_settings_restart_the_plugin(
    make_plugin: MakePlugin, make_manager: MakeManager, recording_host
) -> None:
    """A reload that changes [plugins.settings.NAME] restarts the plugin with the new ones;
    an unchanged one is left running."""
    from midimon.plugins.settings import parse_plugin_settings

    _trigger(make_plugin, "tick", "emit", T_COUNT="0")
    manager = make_manager(settings={"tick": {"port": 1}})
    triggers = TriggerPlugins(manager, Collected())
    try:
        triggers.sync(["tick"])
        pid = triggers.stats()["tick"]["worker_pid"]
        triggers.sync(["tick"])
        assert triggers.stats()["tick"]["worker_pid"] == pid
        manager.settings = parse_plugin_settings(
            {"dev_mode": True, "settings": {"tick": {"port": 2}}}
        )
        triggers.sync(["tick"])
        assert triggers.stats()["tick"]["worker_pid"] not in (None, pid)
        assert ("tick", 1, 'settings {"port":2}') in recording_host.logs
    finally:
        triggers.stop_all()
