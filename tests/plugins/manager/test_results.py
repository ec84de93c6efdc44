"""What the manager hands back: outcomes as the strings the CLI and the JSON show, results
that say whether the action succeeded, and the disabled refusal naming its fix."""

from __future__ import annotations

from midimon.plugins.errors import PluginError
from midimon.plugins.manager.results import ExecutionResult, Outcome, PluginDisabled


def test_outcomes_are_their_json_strings() -> None:
    """Each outcome compares equal to the string the control protocol and --json carry."""
    assert [o.value for o in Outcome] == [
        "ok", "failed", "denied", "rate_limited", "timeout", "crashed", "disabled", "unavailable",
        "dropped", "not_run",
    ]
    assert Outcome("crashed") is Outcome.CRASHED and Outcome.OK == "ok"


def test_only_ok_is_ok() -> None:
    """ok is True for Outcome.OK alone, whatever the status."""
    for outcome in Outcome:
        result = ExecutionResult("p", outcome, "m", 0)
        assert result.ok is (outcome is Outcome.OK)
    assert ExecutionResult("p", Outcome.OK, "done")._asdict() == {
        "plugin": "p", "outcome": Outcome.OK, "message": "done", "status": None,
        "elapsed_ms": 0.0,
    }  # fmt: skip


def test_disabled_names_the_enable_command() -> None:
    """PluginDisabled keeps the reason and tells how to enable the plugin again."""
    refused = PluginDisabled("pad", "4 crashes or timeouts within 60 s")
    assert isinstance(refused, PluginError) and refused.reason.startswith("4 crashes")
    assert str(refused) == (
        "plugin 'pad' is disabled: 4 crashes or timeouts within 60 s; enable it with "
        "midimon plugins enable pad"
    )
