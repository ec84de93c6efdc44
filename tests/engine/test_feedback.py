"""LedState: the bytes for frames, presses, releases, toggles and pads set by plugins, checked
without MIDI against the Launchpad Mini MK3 template."""

from __future__ import annotations

import pytest

from midimon.engine.config import parse_config
from midimon.engine.device_templates import find_template
from midimon.engine.feedback import LedState, mapped_pads

CONFIG = """
[[modes]]
name = "A"
color = "blue"
[[modes.mappings]]
trigger = { type = "Note", note = 11 }
action = { type = "Delay", ms = 0 }
[[modes.mappings]]
led = "toggle"
trigger = { type = "Note", note = 12, channel = 0 }
action = { type = "Delay", ms = 0 }
[[modes.mappings]]
trigger = { type = "Note", note = 13, channel = 5 }
action = { type = "Delay", ms = 0 }
[[modes]]
name = "B"
color = "not-a-colour"
[[global_mappings]]
trigger = { type = "Note", note = 88 }
action = { type = "Delay", ms = 0 }
"""

LP = find_template("launchpad-mini-mk3")


def state() -> LedState:
    return LedState(LP, parse_config(CONFIG), "A")


def test_mapped_pads_skip_other_channels() -> None:
    """A trigger on another channel than the pads' is not a pad of the device."""
    config = parse_config(CONFIG)
    assert mapped_pads(config.modes[0].mappings, LP) == {11: None, 12: "toggle"}


def test_frame_has_init_then_every_pad() -> None:
    """The frame: Programmer-mode SysEx, then 64 pads; mapped ones (global too) in the mode's
    colour; a mode colour the device lacks shows its default colour."""
    leds = state()
    messages = leds.frame()
    assert messages[0] == bytes.fromhex("F0 00 20 29 02 0D 0E 01 F7")
    pads = {m[1]: m[2] for m in messages[1:]}
    assert len(pads) == 64 and pads[11] == pads[12] == pads[88] == 45
    assert pads[13] == 0 and pads[81] == 0
    pads_b = {m[1]: m[2] for m in leds.frame("B")[1:]}
    assert pads_b[88] == 21 and pads_b[11] == 0  # green: the template's default colour


def test_press_release_and_toggle() -> None:
    """Press: the press colour; release: the resting colour; toggles remember per mode."""
    leds = state()
    assert leds.midi_in(bytes([0x90, 11, 100])) == [bytes([0x90, 11, 3])]
    assert leds.midi_in(bytes([0x80, 11, 64])) == [bytes([0x90, 11, 45])]
    assert leds.midi_in(bytes([0x90, 12, 100])) == [bytes([0x90, 12, 3])]
    assert leds.midi_in(bytes([0x80, 12, 0])) == [bytes([0x90, 12, 3])]  # toggled on
    assert leds.midi_in(bytes([0x91, 11, 100])) == []  # another channel
    assert leds.midi_in(bytes([0xB0, 11, 100])) == []  # a CC
    assert leds.midi_in(bytes([0x90, 14, 100])) == []  # unmapped
    assert {m[1]: m[2] for m in leds.frame()[1:]}[12] == 3  # the frame shows the toggle


def test_set_pad_until_the_next_frame() -> None:
    """A pad set by name or value stays until the next frame; bad pads and colours refused."""
    leds = state()
    assert leds.set_pad(81, "red") == [bytes([0x90, 81, 5])]
    assert leds.midi_in(bytes([0x80, 81, 0])) == []  # unmapped: nothing to restore
    assert leds.set_pad(11, 7) == [bytes([0x90, 11, 7])]
    assert leds.midi_in(bytes([0x80, 11, 0])) == [bytes([0x90, 11, 7])]
    assert {m[1]: m[2] for m in leds.frame()[1:]}[11] == 45
    with pytest.raises(ValueError, match="no pad 99"):
        leds.set_pad(99, "red")
    with pytest.raises(ValueError, match="no colour 'ultraviolet'"):
        leds.set_pad(11, "ultraviolet")
    with pytest.raises(ValueError, match="its LEDs cannot be driven"):
        LedState.check_pad(find_template("beatstep"), 36, "red")
