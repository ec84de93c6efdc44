"""Device templates: every shipped one loads and cites its source, LED bytes follow the
template, and a broken template names its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from midimon.engine.config import parse_config
from midimon.engine.device_templates import (
    TEMPLATE_DIR,
    find_template,
    load_template,
    shipped_templates,
    starter_config,
)
from midimon.engine.errors import TemplateError

EXPECTED = {"launchpad-mini-mk3", "apc-mini-mk2", "nanopad2", "beatstep", "gm-drum-4x4"}


def test_every_shipped_template_loads_and_cites_a_source() -> None:
    """The five controllers are shipped, each with pads, a source and its name as file name."""
    templates = {t.name: t for t in shipped_templates()}
    assert set(templates) >= EXPECTED
    for t in templates.values():
        assert t.pads and t.source and t.path is not None and t.path.stem == t.name
        assert "Source:" in t.path.read_text(), f"{t.path}: the header must cite its source"


def test_every_shipped_starter_config_validates() -> None:
    """`templates use`'s text for each template passes the config validator."""
    for t in shipped_templates():
        config = parse_config(starter_config(t))
        assert [m.name for m in config.modes] == ["Default", "Second"]
        assert len(config.modes[0].mappings) == len(t.pads)


def test_launchpad_led_bytes() -> None:
    """Launchpad Mini MK3: Note On channel 1, palette index as velocity, no brightness axis."""
    lp = find_template("launchpad-mini-mk3")
    assert lp.init == (bytes.fromhex("F0 00 20 29 02 0D 0E 01 F7"),)
    assert lp.leds.message_bytes(11, lp.leds.color_value("blue")) == bytes([0x90, 11, 45])
    assert lp.leds.press_bytes(11, 1) == lp.leds.press_bytes(11, 127) == bytes([0x90, 11, 3])
    assert lp.leds.color_value("no-such-colour") == 21  # the default colour: green
    assert lp.pads[0] == 81 and lp.pads[-1] == 18


def test_apc_velocity_sets_brightness_channel() -> None:
    """APC mini mk2: a soft hit lights on channel 1 (10%), a hard one on channel 7 (100%)."""
    apc = find_template("apc-mini-mk2")
    white = apc.leds.colors["white"]
    assert apc.leds.press_bytes(0, 1) == bytes([0x90, 0, white])
    assert apc.leds.press_bytes(0, 127) == bytes([0x96, 0, white])
    assert apc.leds.message_bytes(5, apc.leds.color_value("red")) == bytes([0x96, 5, 5])


def test_templates_match_their_ports() -> None:
    """Port patterns: the Launchpad's MIDI port (not its DAW port), BeatStep but not Pro."""
    lp = find_template("launchpad-mini-mk3")
    assert lp.matches("Launchpad Mini MK3:Launchpad Mini MK3 LPMiniMK3 MI 20:1")
    assert not lp.matches("Launchpad Mini MK3:Launchpad Mini MK3 LPMiniMK3 DA 20:0")
    bs = find_template("beatstep")
    assert bs.matches("Arturia BeatStep:Arturia BeatStep MIDI 1 24:0")
    assert not bs.matches("Arturia BeatStep Pro:Arturia BeatStep Pro MIDI 1 24:0")
    assert not find_template("gm-drum-4x4").matches("anything")


def test_unknown_name_lists_the_templates() -> None:
    """A name that is not shipped: the error lists the ones that are."""
    with pytest.raises(TemplateError, match=r"no device template 'nope'.*apc-mini-mk2"):
        find_template("nope")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("[pads]\nchannel = 0", "[pads]\nchannel = 16"), "pads.channel"),
        (('message = "note"', 'message = "sysex"'), "leds.message"),
        (('press = "white"', 'press = "ultraviolet"'), "leds.press"),
        (("white = 3", "white = 300"), "leds.colors.white"),
        (('init = ["F0', 'init = ["XY'), "template.init[0]"),
        (("81, 82,", "81, 81,"), "pads.notes"),
    ],
)
def test_a_broken_template_names_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    """Each invalid field is reported with the file and the field's name."""
    text = (TEMPLATE_DIR / "launchpad-mini-mk3.toml").read_text()
    assert change[0] in text
    broken = tmp_path / "launchpad-mini-mk3.toml"
    broken.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(TemplateError) as info:
        load_template(broken)
    assert str(broken) in str(info.value) and f": {field}: " in str(info.value)


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    """A template copied under another file name is refused (names must be unambiguous)."""
    copy = tmp_path / "other.toml"
    copy.write_text((TEMPLATE_DIR / "beatstep.toml").read_text())
    with pytest.raises(TemplateError, match=r"template\.name: must match the file name"):
        load_template(copy)
