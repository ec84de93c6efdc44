"""ActionExecutor: every action type carried out for real, failures counted, never raised."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.engine.actions import ActionError, ActionExecutor
from midimon.engine.config import parse_config
from midimon.engine.events import decode
from midimon.engine.failure_log import FailureLog
from midimon.engine.mapping import Mapper
from midimon.engine.triggers import MS, EventProcessor

HEADER = """
[[modes]]
name = "Default"
[[modes]]
name = "Live"
"""


def setup(mapping_toml: str, **kwargs):
    """A mapper and executor for one global mapping on note 36, and a way to press it."""
    config = parse_config(HEADER + "[[global_mappings]]\n" + mapping_toml)
    mapper = Mapper(config)
    processor = EventProcessor(mapper.triggers, now_ns=lambda: 0)
    sent: list[tuple[str | None, bytes]] = []
    plugins = kwargs.pop("plugins", None)
    executor = ActionExecutor(mapper, plugins, lambda port, data: sent.append((port, data)),
                              **kwargs)  # fmt: skip

    def press(note: int = 36, velocity: int = 100):
        [fired] = processor.process(decode([0x90, note, velocity], 1 * MS))
        return [o for action in mapper.match(fired) for o in executor.run(action, fired)]

    return mapper, executor, sent, press


def test_plugin_action_gets_a_full_context(make_plugin: MakePlugin, make_manager) -> None:
    """A Plugin action runs the real plugin with the params and the trigger's context."""
    make_plugin("ctx_echo")
    mapping = """trigger = { type = "Note", note = 36 }
action = { type = "Plugin", plugin = "ctx_echo", params = { pad = "kick" } }
"""
    _, executor, _, press = setup(mapping, plugins=make_manager())
    [outcome] = press(velocity=99)
    assert outcome.ok and outcome.action == "Plugin", outcome
    assert 'params={"pad":"kick"} vel=99 ch=0 num=36 val=0 kind=1 mode=Default' in outcome.detail
    assert executor.counts["Plugin.ok"] == 1


def test_plugin_failure_is_reported_not_raised(make_plugin: MakePlugin, make_manager) -> None:
    """A plugin that fails gives a failed outcome and a count; nothing is raised."""
    mapping = """trigger = { type = "Note", note = 36 }
action = { type = "Plugin", plugin = "not_installed" }
"""
    _, executor, _, press = setup(mapping, plugins=make_manager())
    [outcome] = press()
    assert not outcome.ok and "unavailable" in outcome.detail
    assert executor.counts["Plugin.failed"] == 1


def test_shell_argv_without_a_shell(tmp_path: Path) -> None:
    """Shell runs its argv directly: shell metacharacters stay literal."""
    target = tmp_path / "out.txt"
    mapping = f"""trigger = {{ type = "Note", note = 36 }}
action = {{ type = "Shell", argv = ["sh", "-c", "printf '%s' \\"$0\\" > {target}", "a;b|c"] }}
"""
    _, _, _, press = setup(mapping)
    [outcome] = press()
    assert outcome.ok, outcome
    assert target.read_text() == "a;b|c"


def test_shell_failures(tmp_path: Path) -> None:
    """A non-zero exit and a missing program are failed outcomes with the reason."""
    _, executor, _, press = setup("""trigger = { type = "Note", note = 36 }
action = { type = "Sequence", actions = [
  { type = "Shell", argv = ["sh", "-c", "echo boom >&2; exit 4"] },
  { type = "Shell", argv = ["/nonexistent/program"] },
] }
""")
    first, second = press()
    assert not first.ok and "exit 4: boom" in first.detail
    assert not second.ok and "program not found" in second.detail
    assert executor.counts["Shell.failed"] == 2


def test_send_midi_and_mode_change() -> None:
    """SendMidi hands the exact bytes to the output; ModeChange really switches the mode."""
    mapper, _, sent, press = setup("""trigger = { type = "Note", note = 36 }
action = { type = "Sequence", actions = [
  { type = "SendMidi", messages = [
      { type = "note_on", channel = 1, note = 60, velocity = 90 },
      { type = "cc", channel = 0, controller = 7, value = 100 } ] },
  { type = "ModeChange", mode = "Live" },
] }
""")
    midi, mode = press()
    assert midi.ok and mode.ok
    assert sent == [(None, bytes([0x91, 60, 90, 0xB0, 7, 100]))]
    assert mapper.mode == "Live" and mode.detail == "mode Default -> Live"


def test_repeat_delay_and_conditional() -> None:
    """Repeat runs N times with its delay; Conditional picks then/else by mode and time."""
    sleeps: list[float] = []
    noon_monday = datetime(2026, 11, 23, 12, 0)

    def cc(controller: int) -> str:
        return (
            '{ type = "SendMidi", messages = [{ type = "cc", channel = 0, '
            f"controller = {controller}, value = {controller} }}] }}"
        )

    conditional = (
        '{ type = "Conditional", conditions = [{ type = "Mode", mode = "Default" }, '
        '{ type = "TimeRange", range = "09:00-17:00" }], '
        f"then = {cc(2)}, else = {cc(3)} }}"
    )
    mapping = (
        'trigger = { type = "Note", note = 36 }\n'
        'action = { type = "Sequence", actions = [\n'
        f'  {{ type = "Repeat", count = 3, delay_ms = 50, action = {cc(1)} }},\n'
        '  { type = "Delay", ms = 20 },\n'
        f"  {conditional},\n"
        "] }\n"
    )
    _, _, sent, press = setup(mapping, sleep=sleeps.append, now=lambda: noon_monday)
    outcomes = press()
    assert all(o.ok for o in outcomes), outcomes
    assert [data[1] for _, data in sent] == [1, 1, 1, 2]
    assert sleeps == [0.05, 0.05, 0.02]


def test_keystroke_without_a_desktop_is_a_clear_error() -> None:
    """Keystroke/Text fail with a message naming what is missing, and the daemon goes on."""

    def no_desktop():
        raise ActionError("Keystroke and Text actions need a desktop session (test)")

    _, executor, _, press = setup(
        """trigger = { type = "Note", note = 36 }
action = { type = "Sequence", actions = [
  { type = "Keystroke", keys = ["space"], modifiers = ["ctrl"] },
  { type = "Text", text = "hello" },
] }
""",
        keyboard=no_desktop,
    )
    key, text = press()
    assert not key.ok and "desktop session" in key.detail
    assert not text.ok
    assert executor.counts["Keystroke.failed"] == 1 and executor.counts["Text.failed"] == 1
    json.dumps([key.detail, text.detail])  # plain strings, fit for the event stream


def test_a_repeated_failure_is_logged_once_then_summed(
    make_manager, caplog: pytest.LogCaptureFixture
) -> None:
    """Pressing a pad whose plugin cannot run fails every time (each counted) but logs the
    same failure once; the daemon's start-up check already said how to fix it."""
    mapping = """trigger = { type = "Note", note = 36 }
action = { type = "Plugin", plugin = "not_installed" }
"""
    _, executor, _, press = setup(mapping, plugins=make_manager())
    with caplog.at_level(logging.WARNING, logger="midimon.engine.actions"):
        for _ in range(3):
            [outcome] = press()
            assert not outcome.ok
    assert executor.counts["Plugin.failed"] == 3
    failed = [r.getMessage() for r in caplog.records if "action failed" in r.getMessage()]
    assert len(failed) == 1 and "not_installed" in failed[0], failed


def test_failure_log_says_how_many_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    """A repeat within the interval is held back; the next one logged says how many were."""
    clock = [0.0]
    failures = FailureLog(logging.getLogger("test.failures"), interval=60, clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="test.failures"):
        assert failures.failed("Plugin", "x: denied")
        assert not failures.failed("Plugin", "x: denied")
        assert not failures.failed("Plugin", "x: denied")
        assert failures.failed("Plugin", "y: denied")  # another text is news at once
        clock[0] = 61.0
        assert failures.failed("Plugin", "x: denied")
    assert [r.getMessage() for r in caplog.records] == [
        "Plugin action failed: x: denied",
        "Plugin action failed: y: denied",
        "Plugin action failed: x: denied (2 more times since it was last logged)",
    ]


def test_a_started_call_is_timed_from_its_send(isolated_dirs, make_plugin, tmp_path) -> None:
    """An isolated Plugin action is timed from its call's send, not from when an action
    thread reads its answer (the panel's recent calls showed ~0.01 ms for a plugin whose p50
    was 0.3 ms: the answer was in before the thread woke): a 40 ms plugin shows >= 35 ms."""
    from helpers import wait_for

    from midimon.daemon.service import Daemon

    plugins = make_plugin("slow_probe", defines={"P_SLEEP_MS": "40"}).parent
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{plugins}"]\ndev_mode = true\n'
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
        'trigger = { type = "Note", note = 20 }\n'
        'action = { type = "Plugin", plugin = "slow_probe" }\n'
    )
    daemon = Daemon(config)
    stream = daemon.registry.events.subscribe(["action"])
    daemon.start()
    try:
        daemon.feed(bytes([0x90, 20, 100]))
        assert wait_for(lambda: daemon.counters.actions_ok == 1, 30), daemon.counters
        event = stream.next_item(5)
        assert event["action"] == "Plugin" and event["ok"] is True, event
        assert event["ms"] >= 35, event  # the plugin's 40 ms are in it
    finally:
        stream.close()
        daemon.stop()
