"""Collecting a config file's problems: the checker that gathers errors (ConfigError and
InvalidConfig, defined in engine.errors) and unknown-key warnings (with "did you mean"), and the
type predicates the table parsers share."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeGuard

from midimon.engine.errors import ConfigError
from midimon.engine.errors import InvalidConfig as InvalidConfig  # importable here as before


class Checker:
    """Collects errors and warnings while walking one file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []

    def error(self, location: str | None, field: str | None, message: str) -> None:
        self.errors.append(ConfigError(self.path, location, field, message))

    def unknown(
        self, location: str, prefix: str, table: dict[str, Any], known: set[str] | frozenset[str]
    ) -> None:
        if known.issuperset(table):
            return
        for key in table:
            if key not in known:
                import difflib  # only to suggest a name for a typo

                close = difflib.get_close_matches(key, sorted(k for k in known if k), n=1)
                self.unknown_key(location, f"{prefix}{key}", f"{prefix}{close[0]}" if close else "")

    def unknown_key(self, location: str, field: str, suggestion: str = "") -> None:
        where = f"{self.path}: " if self.path else ""
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        self.warnings.append(f"{where}{location}: {field}: unknown key, ignored{hint}")


def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (TOML has both)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_table(value: object) -> TypeGuard[dict[str, Any]]:
    """A TOML table."""
    return isinstance(value, dict)


def is_str_list(value: object, allow_empty: bool = False) -> TypeGuard[list[str]]:
    """A list of non-empty strings (non-empty unless ``allow_empty``)."""
    return (
        isinstance(value, list)
        and (allow_empty or bool(value))
        and all(isinstance(v, str) and v for v in value)
    )
