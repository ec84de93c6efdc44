"""The pure-logic engine: MIDI events, triggers and their timing, mappings and the config."""

from __future__ import annotations

from midimon.engine.config import (
    Config,
    ConfigError,
    InvalidConfig,
    MappingSpec,
    Mode,
    default_config_path,
    load_config,
    parse_config,
)
from midimon.engine.events import MidiEvent, decode
from midimon.engine.mapping import Mapper
from midimon.engine.trigger_schema import TRIGGER_TYPES, parse_trigger
from midimon.engine.triggers import EventProcessor, FiredTrigger

__all__ = [
    "TRIGGER_TYPES",
    "Config",
    "ConfigError",
    "EventProcessor",
    "FiredTrigger",
    "InvalidConfig",
    "Mapper",
    "MappingSpec",
    "MidiEvent",
    "Mode",
    "decode",
    "default_config_path",
    "load_config",
    "parse_config",
    "parse_trigger",
]
