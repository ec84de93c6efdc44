"""Per-application profiles: the matching mode for a focused application, and going back."""

from __future__ import annotations

from midimon.engine.app_profiles import AppProfiles, profile_mode
from midimon.engine.config import parse_config

CONFIG = parse_config(
    '[[modes]]\nname = "Default"\n'
    '[[modes]]\nname = "Web"\napps = ["firefox", "chromium"]\n'
    '[[modes]]\nname = "Code"\napps = ["code"]\n'
)


def test_profile_mode_matches_class_or_process_case_insensitively() -> None:
    """Any of the names (WM_CLASS instance, class, process) may match; first mode wins."""
    assert profile_mode(CONFIG, ("Navigator", "Firefox")) == "Web"
    assert profile_mode(CONFIG, ("code", "Code", "electron")) == "Code"
    assert profile_mode(CONFIG, ("xterm", "XTerm")) is None
    assert profile_mode(CONFIG, ()) is None


def test_switch_to_the_profile_and_back() -> None:
    """Focus on a profiled app switches; between two profiles it follows; an app without a
    profile goes back to the mode the first profile left."""
    profiles = AppProfiles()
    assert profiles.decide(CONFIG, "Default", ("xterm",)) is None
    assert profiles.decide(CONFIG, "Default", ("firefox",)) == "Web"
    assert profiles.decide(CONFIG, "Web", ("code",)) == "Code"
    assert profiles.decide(CONFIG, "Code", ("xterm",)) == "Default"
    assert profiles.decide(CONFIG, "Default", ("xterm",)) is None
    assert profiles.switches == 3 and profiles.focused == ("xterm",)


def test_a_mode_the_user_chose_is_kept() -> None:
    """The user changed mode while a profile was active: leaving the app keeps that mode, and
    the next profile comes back to it."""
    profiles = AppProfiles()
    assert profiles.decide(CONFIG, "Default", ("firefox",)) == "Web"
    assert profiles.decide(CONFIG, "Code", ("xterm",)) is None  # the user went to Code
    assert profiles.decide(CONFIG, "Code", ("firefox",)) == "Web"
    assert profiles.decide(CONFIG, "Web", ("xterm",)) == "Code"
