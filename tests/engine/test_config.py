"""The mapping config: loading, validation errors naming file/mapping/field, warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from midimon.engine.config import (
    ConfigError,
    InvalidConfig,
    KeystrokeAction,
    ModeChangeAction,
    default_config_path,
    load_config,
    parse_config,
)
from midimon.engine.trigger_specs import (
    DoubleTapTrigger,
    EncoderTurnTrigger,
    LongPressTrigger,
    NoteChordTrigger,
    NoteTrigger,
    PluginTrigger,
    VelocityRangeTrigger,
)

HEAD = """
[[modes]]
name = "Default"

[[modes]]
name = "Edit"
"""


def mapping(trigger: str, action: str, description: str = "Play/pause") -> str:
    return f"""
[[modes.mappings]]
description = "{description}"
trigger = {trigger}
action = {action}
"""


def one_action(action: str) -> object:
    """Parse a config whose Edit mode has one Note 36 mapping with this action."""
    config = parse_config(HEAD + mapping('{ type = "Note", note = 36 }', action), "c.toml")
    return config.modes[1].mappings[0].action


def errors_of(text: str, path: str = "/home/u/.config/midimon/config.toml") -> list[ConfigError]:
    with pytest.raises(InvalidConfig) as info:
        parse_config(text, path)
    assert isinstance(info.value, ConfigError)
    return list(info.value.errors)


def single_error(action: str) -> ConfigError:
    errors = errors_of(HEAD + mapping('{ type = "Note", note = 36 }', action))
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


# -- the bundled default


def test_default_config_loads() -> None:
    """The bundled config validates without warnings: two modes, a ModeChange pad, 3 plugins."""
    config = load_config(default_config_path())
    assert config.warnings == ()
    assert config.mode_names == ("Default", "Performance")
    plugins = {m.action.plugin for m in config.modes[0].mappings}
    assert plugins == {"http_request", "file_log", "midi_transpose"}
    notes = sorted(m.trigger.note for m in config.modes[0].mappings)
    assert notes == [36, 38, 40]
    assert ModeChangeAction(relative="next") in [m.action for m in config.global_mappings]
    assert config.plugins.policy.require_signatures


def test_default_config_expands_home() -> None:
    """file_log's "~/..." path is expanded at load."""
    config = load_config(default_config_path())
    log = next(m.action for m in config.modes[0].mappings if m.action.plugin == "file_log")
    assert log.params["path"] == str(Path.home() / "midimon-logs" / "pads.log")


# -- good configs


def test_minimal_config_has_implicit_default_mode() -> None:
    """A config without [[modes]] gets one empty "Default" mode and default settings."""
    config = parse_config("", None)
    assert config.mode_names == ("Default",)
    assert config.device.auto_reconnect and config.device.virtual_port == "midimon"
    assert config.advanced.chord_timeout_ms == 50


def test_advanced_settings_feed_trigger_defaults() -> None:
    """Trigger timing defaults come from [advanced_settings]."""
    text = (
        "[advanced_settings]\nhold_threshold_ms = 700\nchord_timeout_ms = 80\n"
        + HEAD
        + mapping('{ type = "LongPress", note = 1 }', '{ type = "Text", text = "x" }')
        + mapping('{ type = "NoteChord", notes = [3, 2] }', '{ type = "Text", text = "y" }')
    )
    triggers = parse_config(text).triggers()
    assert triggers == [LongPressTrigger(1, 700), NoteChordTrigger((2, 3), 80)]


def test_unknown_keys_are_warnings() -> None:
    """Unknown keys anywhere are warnings naming file, mapping and key, not errors."""
    text = (
        '[device]\ncolour = "red"\n'
        + HEAD
        + mapping(
            '{ type = "Note", note = 36, velocty = 3 }', '{ type = "Text", text = "a", x = 1 }'
        )
        + "[wat]\n"
    )
    config = parse_config(text, "c.toml")
    joined = "\n".join(config.warnings)
    assert "c.toml: device: colour: unknown key" in joined
    assert 'modes[1] "Edit" mappings[0] ("Play/pause"): trigger.velocty' in joined
    assert "action.x" in joined and "wat" in joined
    assert len(config.warnings) == 4


def test_invalid_regex_device_name_is_a_warning() -> None:
    """A device name that is not a regex is still a valid exact port name."""
    config = parse_config('[device]\nname = "Arturia (USB"\n')
    assert config.device.name == "Arturia (USB" and "exact name" in config.warnings[0]


# -- errors


def test_error_names_file_mapping_and_field() -> None:
    """An error names the file, the mode and mapping by index and description, the field, and
    what would be accepted."""
    good = '{ type = "Text", text = "a" }'
    text = '[[modes]]\nname = "Default"\n'
    text += "".join(mapping(f'{{ type = "Note", note = {n} }}', good, f"m{n}") for n in (1, 2, 3))
    text += mapping('{ type = "Note", note = 128 }', good)
    [error] = errors_of(text, "/cfg/config.toml")
    assert error.path == Path("/cfg/config.toml")
    assert error.location == 'modes[0] "Default" mappings[3] ("Play/pause")'
    assert error.field == "trigger.note"
    assert "note must be an integer in 0..127" in error.message
    assert str(error).startswith(
        '/cfg/config.toml: modes[0] "Default" mappings[3] ("Play/pause"): trigger.note: '
    )


def test_all_errors_are_collected() -> None:
    """Every mistake is reported at once, in file order, in one InvalidConfig."""
    text = (
        "[advanced_settings]\nhold_threshold_ms = 0\n"
        + HEAD
        + mapping('{ type = "Note", note = -1 }', '{ type = "Text", text = "" }', "a")
        + "[[global_mappings]]\n"
        + 'trigger = { type = "CC" }\naction = { type = "Delay", ms = "1" }\n'
    )
    with pytest.raises(InvalidConfig) as info:
        parse_config(text, "c.toml")
    fields = [(e.location, e.field) for e in info.value.errors]
    assert fields == [
        ("advanced_settings", "hold_threshold_ms"),
        ('modes[1] "Edit" mappings[0] ("a")', "trigger.note"),
        ('modes[1] "Edit" mappings[0] ("a")', "action.text"),
        ("global_mappings[0]", "trigger.controller"),
        ("global_mappings[0]", "action.ms"),
    ]
    assert "5 errors" in str(info.value) and "c.toml" in str(info.value)


@pytest.mark.parametrize(
    ("trigger", "field", "words"),
    [
        ('{ type = "Note", note = 200 }', "trigger.note", "0..127"),
        ("{ note = 36 }", "trigger.type", "Note, VelocityRange, LongPress"),
        ('{ type = "Note", note = 36, channel = 16 }', "trigger.channel", "0..15"),
        ('{ type = "EncoderTurn", controller = 1, direction = "left" }', "trigger.direction", "cw"),
        ('{ type = "NoteChord", notes = [36] }', "trigger.notes", "at least 2"),
        ('{ type = "VelocityRange", note = 36, level = "loud" }', "trigger.level", "soft"),
        ('"Note 36"', "trigger", "table with a type"),
    ],
)
def test_trigger_errors(trigger: str, field: str, words: str) -> None:
    """Each kind of trigger mistake names the mapping and trigger field."""
    errors = errors_of(HEAD + mapping(trigger, '{ type = "Text", text = "a" }'))
    assert [(e.location, e.field) for e in errors] == [
        ('modes[1] "Edit" mappings[0] ("Play/pause")', field)
    ]
    assert words in errors[0].message


def test_missing_trigger_and_action() -> None:
    """A mapping without trigger or action names both."""
    errors = errors_of(HEAD + '[[modes.mappings]]\ndescription = "empty"\n')
    assert [e.field for e in errors] == ["trigger", "action"]
    assert all(e.location == 'modes[1] "Edit" mappings[0] ("empty")' for e in errors)


def test_mode_errors() -> None:
    """Modes need distinct non-empty names."""
    errors = errors_of('[[modes]]\nname = "A"\n[[modes]]\nname = "A"\n[[modes]]\ncolor = "x"\n')
    assert [(e.location, e.field) for e in errors] == [
        ('modes[1] "A"', "name"),
        ("modes[2]", "name"),
    ]


def test_settings_errors() -> None:
    """[device], [advanced_settings] and [plugins] mistakes name their table and key."""
    text = (
        '[device]\nauto_reconnect = "yes"\nvirtual_port = 3\n'
        "[advanced_settings]\ndouble_tap_timeout_ms = 1.5\n"
        "[advanced_settings.velocity_levels]\nsoft = [40, 1]\n"
        '[plugins]\nisolation = "none"\n'
    )
    errors = errors_of(text)
    assert [(e.location, e.field) for e in errors] == [
        ("device", "virtual_port"),
        ("device", "auto_reconnect"),
        ("advanced_settings", "double_tap_timeout_ms"),
        ("advanced_settings", "velocity_levels.soft"),
        ("plugins", "plugins.isolation"),
    ]
    assert "isolated or in-process" in errors[-1].message


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    """Broken TOML is one error naming the file."""
    path = tmp_path / "config.toml"
    path.write_text("[[modes]\n", encoding="utf-8")
    with pytest.raises(InvalidConfig, match="invalid TOML") as info:
        load_config(path)
    assert info.value.errors[0].path == path and str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    """An unreadable file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_plugins_table_parsed(tmp_path: Path) -> None:
    """[plugins] goes through parse_plugin_settings, with the file as its source."""
    path = tmp_path / "config.toml"
    path.write_text("[plugins]\ndev_mode = true\ntimeout = 5.0\n", encoding="utf-8")
    config = load_config(path)
    assert config.plugins.policy.dev_mode and config.plugins.execution.timeout == 5.0
    assert config.plugins.source == path


def test_note_trigger_shared_across_mappings() -> None:
    """Equal triggers in different mappings are one spec."""
    text = HEAD + mapping('{ type = "Note", note = 36 }', '{ type = "Text", text = "a" }') * 2
    assert parse_config(text).triggers() == [NoteTrigger(36)]


UPSTREAM = """
[device]
name = "Mikro"
auto_connect = false

[advanced_settings]
hold_threshold_ms = 2000

[[modes]]
name = "Default"

[[modes.mappings]]
description = "soft"
[modes.mappings.trigger]
type = "VelocityRange"
note = 13
min_velocity = 1
max_velocity = 40
[modes.mappings.action]
type = "Keystroke"
keys = "space"
modifiers = ["cmd", "option"]

[[modes.mappings]]
description = "hold"
[modes.mappings.trigger]
type = "LongPress"
note = 14
min_duration_ms = 1000
[modes.mappings.action]
type = "Text"
text = "held"

[[modes.mappings]]
description = "twice"
[modes.mappings.trigger]
type = "DoubleTap"
note = 16
max_interval_ms = 250
[modes.mappings.action]
type = "Text"
text = "twice"

[[modes.mappings]]
description = "chord"
[modes.mappings.trigger]
type = "NoteChord"
notes = [12, 8]
timeout_ms = 100
[modes.mappings.action]
type = "Sequence"
actions = [{ type = "Text", text = "a" }, { type = "Delay", ms = 500 }]

[[modes]]
name = "Media"

[[global_mappings]]
description = "Next Mode"
[global_mappings.trigger]
type = "EncoderTurn"
cc = 1
direction = "Clockwise"
[global_mappings.action]
type = "ModeChange"
mode = 1
"""


def test_upstream_midimon_config_loads() -> None:
    """Configs written for upstream MIDIMon load: its key names, directions and mode indexes."""
    config = parse_config(UPSTREAM, "upstream.toml")
    assert config.warnings == ()
    assert not config.device.auto_reconnect and config.device.name == "Mikro"
    triggers = [m.trigger for m in config.modes[0].mappings]
    assert triggers == [
        VelocityRangeTrigger(13, 1, 40),
        LongPressTrigger(14, 1000),
        DoubleTapTrigger(16, 250),
        NoteChordTrigger((8, 12), 100),
    ]
    assert config.modes[0].mappings[0].action == KeystrokeAction(("space",), ("cmd", "option"))
    [mode_pad] = config.global_mappings
    assert mode_pad.trigger == EncoderTurnTrigger(1, "cw")
    assert mode_pad.action == ModeChangeAction("Media")


def test_alias_and_name_together_is_an_error() -> None:
    """Giving a field under both its name and an upstream alias is refused."""
    [error] = errors_of(
        HEAD
        + mapping(
            '{ type = "LongPress", note = 1, hold_ms = 5, duration_ms = 6 }',
            '{ type = "Text", text = "a" }',
        )
    )
    assert error.field == "trigger.duration_ms" and "same field" in error.message


def test_velocity_levels_extend_defaults() -> None:
    """[advanced_settings.velocity_levels] redefines or adds levels; the others stay."""
    text = "[advanced_settings.velocity_levels]\nsoft = [1, 30]\nghost = [1, 10]\n"
    levels = parse_config(text).advanced.velocity_levels
    assert levels == {"soft": (1, 30), "medium": (41, 90), "hard": (91, 127), "ghost": (1, 10)}


def test_plugin_triggers_and_their_settings(tmp_path: Path) -> None:
    """Plugin triggers parse in modes and global mappings; [plugins.settings] holds a plugin's
    own settings; settings nothing uses are a warning; values JSON cannot carry are errors."""
    text = (
        "[plugins.settings.osc_in]\nport = 9001\n[plugins.settings.unused]\nx = 1\n"
        '[[modes]]\nname = "A"\n[[modes.mappings]]\n'
        'trigger = { type = "Plugin", plugin = "osc_in", event = "/pad/1", value_min = 0.5 }\n'
        'action = { type = "ModeChange", mode = "A" }\n[[global_mappings]]\n'
        'trigger = { type = "Plugin", plugin = "osc_in", event = "/g" }\n'
        'action = { type = "ModeChange", mode = "A" }\n'
    )
    config = parse_config(text, tmp_path / "c.toml")
    assert config.plugins.plugin_settings == {"osc_in": {"port": 9001}, "unused": {"x": 1}}
    assert config.modes[0].mappings[0].trigger == PluginTrigger("osc_in", "/pad/1", 0.5)
    assert [w for w in config.warnings if "plugins.settings.unused" in w]
    assert not [w for w in config.warnings if "plugins.settings.osc_in" in w]
    with pytest.raises(InvalidConfig, match=r"plugins\.settings\.osc_in"):
        parse_config("[plugins.settings.osc_in]\nwhen = 1979-05-27\n", tmp_path / "c.toml")


# -- Plugin params against the plugins' [plugin.params] ----------------------------------------


def bundled_schemas() -> dict:
    """The schemas of the three bundled plugins, read from their real plugin.toml files."""
    from helpers import BUNDLED, REPO

    from midimon.plugins.description.manifest import load_manifest

    found = {n: load_manifest(REPO / "native_plugins" / n / "plugin.toml") for n in BUNDLED}
    return {name: m.params for name, m in found.items() if m.params is not None}


NESTED = """
[[modes]]
name = "Default"
[[modes.mappings]]
trigger = { type = "Note", note = 36 }
[modes.mappings.action]
type = "Conditional"
condition = { type = "Mode", mode = "Default" }
else = { type = "Plugin", plugin = "http_request", params = { url = 5 } }
[modes.mappings.action.then]
type = "Repeat"
count = 2
action = { type = "Plugin", plugin = "midi_transpose", params = { velocity = 0 } }
"""


def test_params_are_checked_only_when_schemas_are_given() -> None:
    """Without schemas (as before), params are free-form; with the bundled ones, a bad
    value inside a Conditional's then/Repeat and else is an error at its exact field."""
    assert parse_config(NESTED).modes[0].mappings  # no schemas: accepted as it is
    with pytest.raises(InvalidConfig) as caught:
        parse_config(NESTED, "pads.toml", bundled_schemas())
    assert [str(e) for e in caught.value.errors] == [
        'pads.toml: modes[0] "Default" mappings[0]: action.then.action.params.velocity: must be '
        "an integer in 1..127 for midi_transpose, got 0",
        'pads.toml: modes[0] "Default" mappings[0]: action.else.params.url: must be a string '
        "for http_request, got 5 (an integer)",
    ]


def test_params_errors_are_listed_with_the_other_errors() -> None:
    """A params error does not hide a trigger error: both are in one InvalidConfig, and an
    unknown param's warning comes along."""
    text = HEAD + mapping(
        '{ type = "Note", note = 300 }',
        '{ type = "Plugin", plugin = "file_log", params = { pat = "/x" } }',
    )
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text, None, bundled_schemas())
    fields = [e.field for e in caught.value.errors]
    assert fields == ["trigger.note", "action.params.path"]
    assert caught.value.warnings == ()  # file_log takes additional params: pat is passed on


def test_an_unknown_param_is_a_warning_with_did_you_mean() -> None:
    """An undeclared param warns, naming the closest declared one; the mapping is kept with
    the param passed on."""
    text = HEAD + mapping('{ type = "Note", note = 36 }',
                          '{ type = "Plugin", plugin = "http_request", '
                          'params = { url = "http://x/", metod = "GET" } }')  # fmt: skip
    config = parse_config(text, None, bundled_schemas())
    assert config.warnings == (
        'modes[1] "Edit" mappings[0] ("Play/pause"): action.params.metod: is not a param of '
        "http_request (did you mean method?); it is passed on, but the plugin may ignore or "
        "refuse it",
    )
    action = config.modes[1].mappings[0].action
    assert action.params == {"url": "http://x/", "metod": "GET"}  # type: ignore[union-attr]


def test_the_bundled_config_fits_the_bundled_schemas() -> None:
    """The config midimon ships passes its own plugins' schemas with no warning."""
    config = load_config(default_config_path(), bundled_schemas())
    assert config.warnings == ()


def test_feedback_led_and_apps_are_read_and_checked() -> None:
    """[feedback], a mapping's led = "toggle" and a mode's apps load; bad values are errors
    naming the field."""
    from midimon.engine.config import FeedbackSettings, InvalidConfig, parse_config

    good = parse_config(
        '[feedback]\nenabled = true\ntemplate = "apc-mini-mk2"\n'
        '[[modes]]\nname = "Web"\napps = ["firefox", "Code"]\n'
        '[[modes.mappings]]\nled = "toggle"\ntrigger = { type = "Note", note = 1 }\n'
        'action = { type = "Delay", ms = 0 }\n'
    )
    assert good.feedback == FeedbackSettings(True, "apc-mini-mk2", None)
    assert good.modes[0].apps == ("firefox", "Code")
    assert good.modes[0].mappings[0].led == "toggle"
    assert parse_config("").feedback.enabled is False  # off by default
    with pytest.raises(InvalidConfig) as info:
        parse_config(
            '[feedback]\nenabled = "yes"\n[[modes]]\nname = "A"\napps = "firefox"\n'
            '[[modes.mappings]]\nled = "blink"\ntrigger = { type = "Note", note = 1 }\n'
            'action = { type = "Delay", ms = 0 }\n'
        )
    text = str(info.value)
    assert "feedback: enabled: must be true or false" in text
    assert 'modes[0] "A": apps: must be a list' in text
    assert "led: must be one of 'toggle'" in text


def test_trigger_plugin_settings_are_checked_against_its_declared_params(tmp_path: Path) -> None:
    """With the discovered schemas, [plugins.settings.NAME] of a trigger plugin the config
    uses is checked like a Plugin action's params: a bad port is an error, a typo a warning."""
    schemas = bundled_schemas()
    head = '[[modes]]\nname = "A"\n[[modes.mappings]]\n'
    mapping = (
        'trigger = { type = "Plugin", plugin = "osc_in", event = "/x" }\n'
        'action = { type = "ModeChange", mode = "A" }\n'
    )
    good = parse_config(
        f"[plugins.settings.osc_in]\nport = 9001\n{head}{mapping}", tmp_path / "c.toml", schemas
    )
    assert not good.warnings
    with pytest.raises(InvalidConfig, match=r"settings\.osc_in\.port"):
        parse_config(
            f"[plugins.settings.osc_in]\nport = 70000\n{head}{mapping}",
            tmp_path / "c.toml",
            schemas,
        )
    typo = parse_config(
        f"[plugins.settings.osc_in]\nprot = 1\n{head}{mapping}", tmp_path / "c.toml", schemas
    )
    assert any("plugins.settings.osc_in.prot" in w and "port" in w for w in typo.warnings)
