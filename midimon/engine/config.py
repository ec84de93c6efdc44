"""The mapping config file (TOML): device, timing, modes, mappings, actions and [plugins].

    [device]             name = "port name or regex", virtual_port = "midimon" (or false),
                         auto_reconnect = true
    [advanced_settings]  chord_timeout_ms = 50, double_tap_timeout_ms = 300,
                         hold_threshold_ms = 1000 (trigger defaults);
    [advanced_settings.velocity_levels]  soft = [1, 40], medium = [41, 90], hard = [91, 127]
                         (redefine these or add more)
    [[modes]]            name = "Default", color = "blue"
    [[modes.mappings]]   description = "...", trigger = { type = ... }, action = { type = ... }
    [[global_mappings]]  same shape, active in every mode (after the mode's own mappings)
    [plugins]            see midimon.plugins.settings
    [feedback]           enabled = false, template = "apc-mini-mk2" (default: the shipped template
                         matching the input port), output = "port name or regex" (default: the
                         template's output port) — pad LEDs follow modes, presses and toggles
    [[modes]] apps       = ["firefox", "Code"]: the mode follows the focused application (window
                         class or process name); see midimon.daemon.app_focus
    [[modes.mappings]] led = "toggle": each press flips the mapping's state; its LED shows it

Triggers: see ``midimon.engine.triggers.TRIGGER_TYPES`` (Note, VelocityRange, LongPress,
DoubleTap, NoteChord, CC, EncoderTurn, Aftertouch, PitchBend; each takes ``channel`` 0..15).

Actions (validated here as data; running them is the executor's job):
``Plugin`` plugin, params (top-level string params starting with ``~/`` are expanded; checked
against the plugin's ``[plugin.params]`` when the caller passes the discovered schemas) ·
``Shell`` argv = [...] (no shell), or shell = true with command = "..." ·
``SendMidi`` port (optional), messages = [{ type = note_on/note_off/cc/program_change, channel,
note/controller/program, velocity/value }] · ``ModeChange`` mode = a mode's name (wins), "next",
"previous", or an index into [[modes]] · ``Sequence`` actions · ``Delay`` ms ·
``Repeat`` action, count, delay_ms · ``Conditional`` condition (or conditions = [...], all must
hold), then, else; conditions are { type = "Mode", mode }, { type = "TimeRange",
range = "HH:MM-HH:MM" } (may wrap midnight), { type = "Days", days = ["mon", ...] },
And/Or { conditions = [...] }, Not { condition } · ``Keystroke`` keys, modifiers · ``Text`` text.

Upstream MIDIMon key names are accepted too (``min_duration_ms``, ``max_interval_ms``,
``timeout_ms``, ``cc``, ``min_velocity``/``max_velocity``, ``"Clockwise"``, ``auto_connect``).

Everything is checked when loaded; all problems are collected and raised together as
``InvalidConfig`` (a ``ConfigError`` whose ``errors`` lists each one, each naming the file, the
mapping, the field and what would be accepted). Unknown keys are not errors: they land in
``Config.warnings``.

Where each job lives: the action and condition specs in ``action_specs``, their validation in
``action_parser``, error collection and did-you-mean warnings in ``config_check``; this module
holds the config objects, the [device]/[advanced_settings]/mapping tables and loading, and
re-exports the names above so ``from midimon.engine.config import ...`` keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon import _toml
from midimon.engine.action_parser import ActionParser
from midimon.engine.action_schema import COLOR_PATTERN, MODIFIERS
from midimon.engine.action_specs import (
    DAY_NAMES,
    MIDI_MESSAGE_TYPES,
    Action,
    AllOf,
    AnyOf,
    Condition,
    ConditionalAction,
    DaysOfWeek,
    DelayAction,
    KeystrokeAction,
    MidiMessage,
    ModeChangeAction,
    ModeIs,
    Not,
    PluginAction,
    RepeatAction,
    SendMidiAction,
    SequenceAction,
    ShellAction,
    TextAction,
    TimeRange,
)
from midimon.engine.config_check import Checker, is_table
from midimon.engine.errors import ConfigError, InvalidConfig
from midimon.engine.mapping_parse import (  # MappingSpec: importable from here as before
    MappingReuse,
    MappingSpec,
    parse_mappings,
)
from midimon.engine.trigger_schema import TimingDefaults, int_in
from midimon.engine.trigger_specs import DEFAULT_VELOCITY_LEVELS, PluginTrigger, TriggerSpec
from midimon.plugins.description.params_schema import ParamsSchema, check_params
from midimon.plugins.errors import SettingsError
from midimon.plugins.settings import PluginSettings, parse_plugin_settings

__all__ = [
    "DAY_NAMES",
    "DEFAULT_CONFIG_NAME",
    "MIDI_MESSAGE_TYPES",
    "MODIFIERS",
    "Action",
    "AdvancedSettings",
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionalAction",
    "Config",
    "ConfigError",
    "DaysOfWeek",
    "DelayAction",
    "DeviceSettings",
    "FeedbackSettings",
    "InvalidConfig",
    "KeystrokeAction",
    "MappingSpec",
    "MidiMessage",
    "Mode",
    "ModeChangeAction",
    "ModeIs",
    "Not",
    "PluginAction",
    "RepeatAction",
    "SendMidiAction",
    "SequenceAction",
    "ShellAction",
    "TextAction",
    "TimeRange",
    "default_config_path",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_NAME = "default_config.toml"


# --------------------------------------------------------------------------- config objects


@dataclass(frozen=True)
class DeviceSettings:
    """[device]: which input port to open (exact name or regex), the virtual port's name."""

    name: str | None = None
    virtual_port: str | None = "midimon"
    auto_reconnect: bool = True


@dataclass(frozen=True)
class FeedbackSettings:
    """[feedback]: LED feedback to the controller (off by default)."""

    enabled: bool = False
    template: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class AdvancedSettings(TimingDefaults):
    """[advanced_settings]: timing defaults for triggers and the named velocity levels."""


@dataclass(frozen=True)
class Mode:
    """A named set of mappings; ``apps`` names the applications it is for."""

    name: str
    mappings: tuple[MappingSpec, ...] = ()
    color: str | None = None
    apps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """A loaded, validated config file."""

    modes: tuple[Mode, ...]
    global_mappings: tuple[MappingSpec, ...] = ()
    device: DeviceSettings = DeviceSettings()
    advanced: AdvancedSettings = AdvancedSettings()
    plugins: PluginSettings = field(default_factory=PluginSettings)
    feedback: FeedbackSettings = FeedbackSettings()
    warnings: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def mode_names(self) -> tuple[str, ...]:
        """Mode names in file order."""
        return tuple(m.name for m in self.modes)

    def triggers(self) -> list[TriggerSpec]:
        """Every distinct trigger of every mode and the global mappings."""
        specs = [m.trigger for mode in self.modes for m in mode.mappings]
        specs += [m.trigger for m in self.global_mappings]
        return list(dict.fromkeys(specs))


# --------------------------------------------------------------------------- parsing


_DEVICE_KEYS = {"name", "virtual_port", "auto_reconnect", "auto_connect"}
_ADVANCED_MS = ("chord_timeout_ms", "double_tap_timeout_ms", "hold_threshold_ms")
_TOP_KEYS = {"device", "advanced_settings", "modes", "global_mappings", "plugins", "feedback"}


def _device(doc: dict[str, Any], check: Checker) -> DeviceSettings:
    table = doc.get("device", {})
    if not is_table(table):
        check.error("device", None, "must be a table")
        return DeviceSettings()
    check.unknown("device", "", table, _DEVICE_KEYS)
    values: dict[str, Any] = {}
    for key in ("name", "virtual_port"):
        if key in table:
            if isinstance(table[key], str) and table[key]:
                values[key] = table[key]
            elif key == "virtual_port" and table[key] is False:
                values[key] = None
            else:
                extra = " (or false for none)" if key == "virtual_port" else ""
                check.error("device", key, f"must be a non-empty string{extra}")
    if "name" in values:
        try:
            re.compile(values["name"])
        except re.error as exc:
            where = f"{check.path}: " if check.path else ""
            check.warnings.append(
                f"{where}device: name: not a valid regex ({exc}); matched as an exact name only"
            )
    for key in ("auto_connect", "auto_reconnect"):  # auto_connect: upstream MIDIMon's name
        if key in table:
            if isinstance(table[key], bool):
                values["auto_reconnect"] = table[key]
            else:
                check.error("device", key, "must be true or false")
    return DeviceSettings(**values)


def _feedback(doc: dict[str, Any], check: Checker) -> FeedbackSettings:
    table = doc.get("feedback", {})
    if not is_table(table):
        check.error("feedback", None, "must be a table")
        return FeedbackSettings()
    check.unknown("feedback", "", table, {"enabled", "template", "output"})
    values: dict[str, Any] = {}
    if "enabled" in table:
        if isinstance(table["enabled"], bool):
            values["enabled"] = table["enabled"]
        else:
            check.error("feedback", "enabled", "must be true or false")
    for key in ("template", "output"):
        if key in table:
            if isinstance(table[key], str) and table[key].strip():
                values[key] = table[key]
            else:
                check.error("feedback", key, "must be a non-empty string")
    return FeedbackSettings(**values)


def _advanced(doc: dict[str, Any], check: Checker) -> AdvancedSettings:
    table = doc.get("advanced_settings", {})
    if not is_table(table):
        check.error("advanced_settings", None, "must be a table")
        return AdvancedSettings()
    check.unknown("advanced_settings", "", table, {*_ADVANCED_MS, "velocity_levels"})
    values: dict[str, Any] = {}
    for key in _ADVANCED_MS:
        if key in table:
            if int_in(1, 60_000)(table[key]) is None:
                values[key] = table[key]
            else:
                check.error("advanced_settings", key, "must be an integer in 1..60000 (ms)")
    if "velocity_levels" in table:
        levels = _velocity_levels(table["velocity_levels"], check)
        if levels is not None:
            values["velocity_levels"] = levels
    return AdvancedSettings(**values)


def _velocity_levels(raw: Any, check: Checker) -> dict[str, tuple[int, int]] | None:
    loc, fld = "advanced_settings", "velocity_levels"
    if not is_table(raw) or not raw:
        check.error(loc, fld, "must be a table of name = [min, max]")
        return None
    levels = dict(DEFAULT_VELOCITY_LEVELS)  # the table adds levels or redefines them
    for name, span in raw.items():
        ok = (
            isinstance(span, list)
            and len(span) == 2
            and all(int_in(1, 127)(v) is None for v in span)
            and span[0] <= span[1]
        )
        if not ok:
            check.error(loc, f"{fld}.{name}", "must be [min, max] with 1 <= min <= max <= 127")
            continue
        levels[name] = (span[0], span[1])
    return levels


def _mode_names(raw: list[Any], check: Checker) -> list[str | None]:
    names: list[str | None] = []
    for i, table in enumerate(raw):
        name = table.get("name") if is_table(table) else None
        if not isinstance(name, str) or not name.strip():
            check.error(f"modes[{i}]", "name", "must be a non-empty string")
            names.append(None)
        elif name in names:
            check.error(f'modes[{i}] "{name}"', "name", "duplicates an earlier mode's name")
            names.append(None)
        else:
            names.append(name)
    return names


def parse_config(
    text: str,
    path: Path | str | None = None,
    params_schemas: Mapping[str, ParamsSchema] | None = None,
    reuse: MappingReuse | None = None,
) -> Config:
    """Validate config TOML text; raises InvalidConfig listing every problem found.

    ``params_schemas`` (plugin name -> the params its plugin.toml declares; the caller
    discovers the plugins) checks every Plugin action's params too: a missing required param,
    a wrong type or an out-of-range value is an error, an undeclared one a warning.
    ``reuse`` takes the mappings unchanged since its last parse from there (a daemon's reloads:
    see midimon.engine.mapping_parse).
    """
    path = Path(path) if path is not None else None
    check = Checker(path)
    try:
        doc = reuse.documents.loads(text) if reuse is not None else _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise InvalidConfig(path, [ConfigError(path, None, None, f"invalid TOML: {exc}")]) from None
    check.unknown("(top level)", "", doc, _TOP_KEYS)
    device = _device(doc, check)
    advanced = _advanced(doc, check)
    feedback = _feedback(doc, check)

    raw_modes = doc.get("modes", [])
    if not isinstance(raw_modes, list) or not all(is_table(m) for m in raw_modes):
        check.error("modes", None, "must be an array of tables ([[modes]])")
        raw_modes = []
    names = _mode_names(raw_modes, check)
    if not raw_modes:
        raw_modes, names = [{"name": "Default"}], ["Default"]
    actions = ActionParser(check, [n for n in names if n], params_schemas)
    context = (advanced, tuple(names), dict(params_schemas or {}))
    kept = reuse.begin(context) if reuse is not None else None
    modes = []
    for i, (table, name) in enumerate(zip(raw_modes, names, strict=True)):
        loc = f'modes[{i}] "{name}"' if name else f"modes[{i}]"
        check.unknown(loc, "", table, {"name", "color", "mappings", "apps"})
        color = table.get("color")
        named = isinstance(color, str) and re.fullmatch(COLOR_PATTERN, color)
        if color is not None and not named:
            check.error(loc, "color", 'must be a colour name ("blue") or "#rrggbb"')
            color = None
        apps = table.get("apps", [])
        if not isinstance(apps, list) or not all(isinstance(a, str) and a for a in apps):
            check.error(loc, "apps", 'must be a list of names, e.g. ["firefox", "Code"]')
            apps = []
        mappings = parse_mappings(
            table.get("mappings"), loc, "mappings", check, actions, advanced, kept
        )
        if name:
            modes.append(
                Mode(name, mappings, color if isinstance(color, str) else None, tuple(apps))
            )
    global_mappings = parse_mappings(
        doc.get("global_mappings"), "", "global_mappings", check, actions, advanced, kept
    )

    plugins = PluginSettings(source=path)
    if "plugins" in doc:
        try:
            plugins = parse_plugin_settings(doc["plugins"], path)
            check.warnings += plugins.warnings
        except SettingsError as exc:
            check.error("plugins", exc.key, str(exc).split(f"{exc.key}: ", 1)[-1])
    triggered = {
        m.trigger.plugin
        for m in [*(m for mode in modes for m in mode.mappings), *global_mappings]
        if isinstance(m.trigger, PluginTrigger)
    }
    where = f"{path}: " if path else ""
    for name in sorted(triggered):  # a trigger plugin's [plugin.params] declare its settings
        schema = (params_schemas or {}).get(name)
        if schema is None:
            continue
        errors, unknown = check_params(schema, plugins.plugin_settings.get(name, {}))
        for issue in errors:
            check.error("plugins", f"settings.{name}.{issue.param}", issue.message(name))
        for issue in unknown:
            check.warnings.append(
                f"{where}plugins.settings.{name}.{issue.param}: {issue.message(name)}; it is "
                "passed on, but the plugin may ignore or refuse it"
            )
    for name in plugins.plugin_settings:
        if name not in triggered:
            check.warnings.append(
                f"{where}plugins.settings.{name}: no Plugin trigger uses {name}, so nothing "
                "reads these settings (a trigger plugin gets them when the config uses it)"
            )

    if check.errors:
        raise InvalidConfig(path, check.errors, check.warnings)
    if kept is not None:
        kept.commit()
    return Config(
        modes=tuple(modes),
        global_mappings=global_mappings,
        device=device,
        advanced=advanced,
        plugins=plugins,
        feedback=feedback,
        warnings=tuple(check.warnings),
        path=path,
    )


def load_config(
    path: Path | str,
    params_schemas: Mapping[str, ParamsSchema] | None = None,
    reuse: MappingReuse | None = None,
) -> Config:
    """Read and validate a config file; raises InvalidConfig (a ConfigError). See
    :func:`parse_config` for ``params_schemas``."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig(path, [ConfigError(path, None, None, f"cannot read: {exc}")]) from None
    return parse_config(text, path, params_schemas, reuse)


def default_config_path() -> Path:
    """The config bundled with midimon (three pads on the bundled plugins, two modes)."""
    return Path(__file__).resolve().with_name(DEFAULT_CONFIG_NAME)
