"""Collecting a config's problems: errors name file, location and field; unknown keys warn."""

from __future__ import annotations

from pathlib import Path

from midimon.engine.config_check import (
    Checker,
    ConfigError,
    InvalidConfig,
    is_int,
    is_str_list,
    is_table,
)


def test_error_message_joins_file_location_field_and_message() -> None:
    """A ConfigError's text names what is set, in order, and `<config>` when there is no file."""
    error = ConfigError(Path("/c.toml"), "modes[0]", "name", "must be a string")
    assert str(error) == "/c.toml: modes[0]: name: must be a string"
    assert error.errors == (error,)
    assert str(ConfigError(None, None, None, "bad")) == "<config>: bad"


def test_invalid_config_counts_and_lists_every_error() -> None:
    """InvalidConfig is itself a ConfigError listing each one (and keeps the warnings)."""
    errors = [ConfigError(None, "a", None, "x"), ConfigError(None, "b", None, "y")]
    invalid = InvalidConfig(Path("/c.toml"), errors, ["w"])
    assert isinstance(invalid, ConfigError)
    assert invalid.errors == tuple(errors)
    assert invalid.warnings == ("w",)
    assert str(invalid) == "/c.toml: 2 errors:\n  <config>: a: x\n  <config>: b: y"
    assert "1 error:" in str(InvalidConfig(None, errors[:1]))


def test_unknown_keys_warn_with_the_closest_known_key() -> None:
    """Each unknown key gives one warning; a close known key is suggested, a far one is not."""
    check = Checker(Path("/c.toml"))
    check.unknown("device", "", {"nmae": 1, "name": 2, "zzz": 3}, {"name", "virtual_port"})
    assert check.warnings == [
        "/c.toml: device: nmae: unknown key, ignored (did you mean name?)",
        "/c.toml: device: zzz: unknown key, ignored",
    ]
    assert check.errors == []


def test_errors_are_collected_not_raised() -> None:
    """error() records a ConfigError carrying the checker's file."""
    check = Checker(None)
    check.error("modes", None, "must be an array")
    assert [str(e) for e in check.errors] == ["<config>: modes: must be an array"]


def test_predicates_tell_toml_types_apart() -> None:
    """Booleans are not ints; string lists hold non-empty strings and may be empty on request."""
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_table({}) and not is_table([])
    assert is_str_list(["a"]) and not is_str_list([]) and is_str_list([], allow_empty=True)
    assert not is_str_list(["a", ""]) and not is_str_list("a")
