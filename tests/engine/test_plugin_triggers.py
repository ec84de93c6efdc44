"""Plugin triggers: which plugin events fire which Plugin triggers, and the context they make."""

from __future__ import annotations

from midimon.engine.plugin_triggers import PluginTriggerMatcher, context_value
from midimon.engine.trigger_specs import NoteTrigger, PluginTrigger
from midimon.engine.triggers import EventProcessor
from midimon.plugins.loading.context import TriggerKind
from midimon.plugins.sandbox.trigger_worker import PluginEvent

PAD = PluginTrigger("osc_in", "/pad/1")
LOUD = PluginTrigger("osc_in", "/fader", value_min=0.5, value_max=1.0)
CH1 = PluginTrigger("osc_in", "/fader", channel=1)


def _event(name: str, value: float, channel: int | None = None) -> PluginEvent:
    return PluginEvent("osc_in", name, value, None, None, channel, timestamp_ns=42)


def test_match_by_plugin_event_range_and_channel() -> None:
    """Exact plugin and event name; inclusive value range; a channel filter needs that channel."""
    matcher = PluginTriggerMatcher([NoteTrigger(36), PAD, LOUD, CH1])
    assert matcher.plugins == frozenset({"osc_in"})
    assert [f.trigger for f in matcher.match(_event("/pad/1", 0))] == [PAD]
    assert [f.trigger for f in matcher.match(_event("/fader", 0.5))] == [LOUD]
    assert [f.trigger for f in matcher.match(_event("/fader", 1.01, 1))] == [CH1]
    assert matcher.match(_event("/fader", 0.2)) == []
    assert matcher.match(_event("/pad/2", 1)) == []
    other = PluginEvent("gamepad", "/pad/1", 1.0, None, None, None)
    assert matcher.match(other) == []


def test_the_context_names_the_plugin_and_event() -> None:
    """The TriggerContext of a Plugin trigger carries its plugin, event and unrounded value."""
    fired = PluginTriggerMatcher([LOUD]).match(_event("/fader", 0.75))[0]
    context = fired.to_context("Default", wall_time_ms=7)
    assert context.trigger_kind is TriggerKind.PLUGIN
    assert (context.source, context.event_name, context.event_value) == ("osc_in", "/fader", 0.75)
    assert context.value == 1 and context.timestamp_ns == 42
    assert context.as_dict()["event"] == "/fader"


def test_midi_never_fires_a_plugin_trigger() -> None:
    """The EventProcessor gives Plugin triggers no MIDI route."""
    assert EventProcessor([PAD, LOUD]).routes == {}


def test_context_value_rounds_and_clamps() -> None:
    """An event value becomes the int32 context value: rounded, clamped to the int32 range."""
    assert [context_value(v) for v in (0.4, 0.6, -2.5, 1e12, -1e12)] == [
        0, 1, -2, 2**31 - 1, -(2**31)
    ]
