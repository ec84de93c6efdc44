"""How the daemon reaches a plugin from MIDI: ``inline = true`` runs a trusted in-process
plugin on the MIDI input thread; an idle isolated plugin gets its call sent from the MIDI
thread (``start_call``) and answered on an action thread, with failures reported the same."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import MakePlugin, wait_for

from midimon.daemon.service import Daemon
from midimon.engine.errors import InvalidConfig
from midimon.paths import config_dir
from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.integrity.minisign_keys import generate_keypair
from midimon.plugins.integrity.signing import sign_plugin
from midimon.plugins.integrity.trust import TrustStore

NOTE_ON = bytes([0x90, 36, 100])


def _signed(folder: Path) -> Path:
    """Sign the plugin with a key trusted in this test's config dir (in-process needs it)."""
    public, secret = generate_keypair()
    TrustStore(config_dir() / "trusted_keys").add(public, "tests")
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    sign_plugin(manifest, manifest.binary.read_bytes(), secret)
    return folder


def _config(tmp_path: Path, plugins: Path, isolation: str, inline: bool) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{plugins}"]\n'
        f'[plugins.overrides.probe_ok]\nisolation = "{isolation}"\n'
        f"inline = {str(inline).lower()}\n"
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
        'trigger = { type = "Note", note = 36 }\n'
        'action = { type = "Plugin", plugin = "probe_ok" }\n'
    )
    return config


def _start(config: Path) -> Daemon:
    daemon = Daemon(config)
    daemon.start()
    daemon.feed(NOTE_ON)  # the first call loads the plugin (on an action thread)
    assert wait_for(lambda: daemon.counters.actions_ok == 1, 30), daemon.counters
    return daemon


def test_inline_runs_before_feed_returns(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    plugins = _signed(make_plugin()).parent
    daemon = _start(_config(tmp_path, plugins, "in-process", inline=True))
    try:
        assert daemon.manager.runs_inline("probe_ok")
        assert daemon.manager.describe("probe_ok")["inline"] is True
        threads_before = {t.ident for t in threading.enumerate()}
        for expected in range(2, 12):
            daemon.feed(NOTE_ON)
            # Done on this thread, inside feed(): no action thread was involved.
            assert daemon.counters.actions_ok == expected
        assert {t.ident for t in threading.enumerate()} == threads_before
    finally:
        daemon.stop()


def test_inline_is_ignored_for_an_isolated_plugin(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    plugins = _signed(make_plugin()).parent
    daemon = _start(_config(tmp_path, plugins, "isolated", inline=True))
    try:
        # An isolated call may wait for its timeout: it never runs on the MIDI thread.
        assert not daemon.manager.runs_inline("probe_ok")
        daemon.feed(NOTE_ON)
        assert wait_for(lambda: daemon.counters.actions_ok == 2, 30), daemon.counters
    finally:
        daemon.stop()


def test_in_process_without_inline_uses_the_action_threads(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    plugins = _signed(make_plugin()).parent
    daemon = _start(_config(tmp_path, plugins, "in-process", inline=False))
    try:
        assert not daemon.manager.runs_inline("probe_ok")
        info = daemon.manager.describe("probe_ok")
        assert (info["isolation"], info["inline"], info["loaded"]) == ("in-process", False, True)
    finally:
        daemon.stop()


def test_isolated_call_sent_from_the_midi_thread_reports_a_crash(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    from hostile import HOSTILE_SOURCE

    crashy = make_plugin("crashy", source=HOSTILE_SOURCE, defines={"HOSTILE_SEGV": "1"})
    plugins = _signed(crashy).parent
    _signed(make_plugin("probe_ok"))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{plugins}"]\n[[modes]]\nname = "Default"\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 36 }\n'
        'action = { type = "Plugin", plugin = "crashy" }\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 38 }\n'
        'action = { type = "Plugin", plugin = "probe_ok" }\n'
    )
    daemon = Daemon(config)
    stream = daemon.registry.events.subscribe(["action"])
    daemon.start()
    try:
        daemon.manager.load("crashy")  # a running worker: the call is sent from feed()
        daemon.feed(NOTE_ON)
        event = stream.next_item(30)
        assert event["ok"] is False and "crashed" in event["detail"], event
        assert "SIGSEGV" in event["detail"]
        daemon.feed(bytes([0x90, 38, 100]))  # the daemon goes on
        event = stream.next_item(30)
        assert event["ok"] is True and event["detail"].startswith("probe_ok: ok"), event
        assert daemon.manager.stats("crashy")["crashes"] == 1
    finally:
        daemon.stop()


def test_one_plugins_actions_run_in_midi_order(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """A plugin's calls run one after another on its own lane, in the order MIDI came in."""
    plugins = _signed(make_plugin()).parent
    daemon = _start(_config(tmp_path, plugins, "isolated", inline=False))
    stream = daemon.registry.events.subscribe(["action"])
    try:
        for velocity in range(1, 61):
            daemon.feed(bytes([0x90, 36, velocity]))
        seen = []
        for _ in range(60):
            event = stream.next_item(30)
            assert event["ok"], event
            seen.append(int(event["detail"].split(" vel=")[1].split()[0]))
        assert seen == list(range(1, 61))
    finally:
        daemon.stop()


SLOW_SOURCE = r"""
#define _DEFAULT_SOURCE
#include "midimon_plugin.h"
#include <stdio.h>
#include <unistd.h>
static int32_t ex(const midimon_plugin_t *s, const char *p, size_t n,
                  const midimon_trigger_context_t *c, char *m, size_t cap) {
    (void)s; (void)p; (void)n;
    usleep(2000);
    snprintf(m, cap, "slow vel=%u", c->velocity);
    return MIDIMON_OK;
}
static const midimon_plugin_t plugin = { MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR,
    sizeof(midimon_plugin_t), 0, "probe_ok", "1.0.0", "slow", 0, 0, ex, 0, 0, 0, 0, 0 };
MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


def test_a_busy_lane_never_starts_a_call_ahead_of_its_queue(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """Events keep coming while a slow plugin's lane has a backlog: every call still runs,
    in order; none waits out its timeout behind a call sent ahead of the queue."""
    plugins = _signed(make_plugin(source=SLOW_SOURCE)).parent
    config = _config(tmp_path, plugins, "isolated", inline=False)
    config.write_text(config.read_text().replace("inline = false", "inline = false\ntimeout = 0.5"))
    daemon = _start(config)
    stream = daemon.registry.events.subscribe(["action"])
    interval = sys.getswitchinterval()
    # Frequent GIL switches let feed() run between two calls of the lane, as the JACK thread
    # does under load: the moment a call sent ahead would have taken the plugin.
    sys.setswitchinterval(1e-5)
    try:
        for velocity in range(1, 201):  # 2 ms per call, an event every 0.3 ms
            daemon.feed(bytes([0x90, 36, velocity % 128 or 1]))
            time.sleep(0.0003)
        seen = []
        for _ in range(200):
            event = stream.next_item(30)
            assert event["ok"], event
            seen.append(int(event["detail"].split(" vel=")[1].split()[0]))
        assert seen == [v % 128 or 1 for v in range(1, 201)]
    finally:
        sys.setswitchinterval(interval)
        daemon.stop()


def test_a_crash_mid_flood_is_its_calls_and_no_event_is_lost(
    isolated_dirs, make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """60 notes in a burst to a plugin pipelining them that crashes in its 20th call: every
    note gets exactly one action event, in MIDI order; exactly the 20th call crashed, the ones
    queued behind it were not run, and the next note restarts the worker."""
    from counter_plugin import COUNTER_SOURCE

    from midimon.daemon.control_streams import EMPTY

    defines = {"P_CRASH_AT": "20", "P_SLEEP_US": "2000"}
    plugins = _signed(make_plugin(source=COUNTER_SOURCE, defines=defines)).parent
    config = _config(tmp_path, plugins, "isolated", inline=False)
    config.write_text(
        config.read_text().replace("inline = false", "inline = false\nrate_burst = 1000")
    )
    daemon = _start(config)  # its call 1
    stream = daemon.registry.events.subscribe(["action"])
    try:
        for velocity in range(1, 61):
            daemon.feed(bytes([0x90, 36, velocity]))
        details = [stream.next_item(30)["detail"] for _ in range(60)]
        assert stream.next_item(0.2) is EMPTY  # one event per note, no more
        outcomes = [d.split(": ")[1] for d in details]
        assert outcomes[:18] == ["ok"] * 18
        assert [d.split(" pid")[0].rsplit(": ", 1)[1] for d in details[:18]] == [
            f"call {n}" for n in range(2, 20)
        ]
        assert outcomes[18] == "crashed" and "SIGSEGV" in details[18]
        assert set(outcomes[19:]) <= {"not_run", "ok"} and outcomes[19] == "not_run"
        stats = daemon.manager.stats("probe_ok")
        assert (stats["crashes"], stats["not_run"]) == (1, outcomes.count("not_run"))
        daemon.feed(NOTE_ON)
        event = stream.next_item(30)
        assert event["ok"] and ": call " in event["detail"], event  # a new worker
    finally:
        daemon.stop()


TRANSPOSE = """
[[modes]]
name = "Default"
[[modes.mappings]]
description = "octave"
trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Plugin", plugin = "midi_transpose", params = {{ {params} }} }}
"""


def test_a_reload_with_a_bad_plugin_param_keeps_the_running_config(
    isolated_dirs: dict[str, str], tmp_path: Path
) -> None:
    """The bundled midi_transpose (a real isolated worker) plays note 36 an octave up. A
    reload whose params break its schema is refused naming the mapping, the param and the
    expected form, and the pad keeps playing the old mapping; a valid edit then applies, with
    an unknown param as a warning. Starting on the bad file is refused the same way."""
    sent: list[bytes] = []
    config = tmp_path / "config.toml"
    config.write_text(TRANSPOSE.format(params="semitones = 12"))
    daemon = Daemon(config, send_midi=lambda port, data: sent.append(bytes(data)))
    daemon.start()
    try:
        daemon.feed(NOTE_ON)
        assert wait_for(lambda: bytes([0x90, 48, 100]) in sent, 30), (sent, daemon.counters)

        config.write_text(TRANSPOSE.format(params="semitones = 200"))
        answer = daemon.reload()
        assert answer["ok"] is False and daemon.counters.reload_failures == 1
        assert answer["errors"] == [
            f'{config}: modes[0] "Default" mappings[0] ("octave"): action.params.semitones: '
            "must be an integer in -127..127 for midi_transpose, got 200"
        ]
        sent.clear()
        daemon.feed(NOTE_ON)  # still the running mapping: semitones = 12
        assert wait_for(lambda: bytes([0x90, 48, 100]) in sent, 30), sent

        config.write_text(TRANSPOSE.format(params="semitones = 7, semitone = 5"))
        answer = daemon.reload()
        assert answer["ok"] is True, answer
        assert any("action.params.semitone: is not a param of midi_transpose (did you mean "
                   "semitones?)" in w for w in answer["warnings"]), answer  # fmt: skip
        sent.clear()
        daemon.feed(NOTE_ON)
        assert wait_for(lambda: bytes([0x90, 43, 100]) in sent, 30), sent
    finally:
        daemon.stop()

    config.write_text(TRANSPOSE.format(params="channel = 16"))
    with pytest.raises(InvalidConfig, match=r"action\.params\.channel: must be an integer in "
                       r"0\.\.15 for midi_transpose, got 16"):  # fmt: skip
        Daemon(config)


@pytest.mark.parametrize("path", ["native", "compiled"])
def test_a_reload_waits_for_the_engine_a_bounded_time(
    path: str, isolated_dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While something holds the engine lock past ENGINE_WAIT_S (a plugin call on the MIDI
    input's thread that does not return), a reload is refused with an error saying so and the
    running config stays; once the lock is free the same reload goes through."""
    from midimon.daemon import service
    from midimon.daemon.dispatch import DISPATCH_VARIABLE

    config = tmp_path / "config.toml"
    config.write_text('[[modes]]\nname = "Default"\n')
    monkeypatch.setenv(DISPATCH_VARIABLE, path)
    monkeypatch.setattr(service, "ENGINE_WAIT_S", 0.2)
    daemon = Daemon(config)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with daemon._engine_lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    try:
        config.write_text('[[modes]]\nname = "Edited"\n')
        holder.start()
        assert holding.wait(5)
        answer = daemon.reload()
        assert not answer["ok"] and "not reloaded" in answer["errors"][0]
        assert "over 0.2 s" in answer["errors"][0]
        assert daemon.config.mode_names == ("Default",) and daemon.counters.reload_failures == 1
        release.set()
        holder.join(5)
        assert daemon.reload()["ok"] and daemon.config.mode_names == ("Edited",)
    finally:
        release.set()
        daemon.stop()
