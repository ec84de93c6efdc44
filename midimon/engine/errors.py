"""The engine's exceptions: a config file's problems and an action that could not run.

Each is a :class:`~midimon.errors.MidimonError`. ``midimon.engine.config_check`` and
``midimon.engine.actions`` re-export them, so the old import paths keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from midimon.errors import MidimonError


class ConfigError(MidimonError, ValueError):
    """One problem in a config file: the file, the mapping (or table), the field, and what
    would be accepted."""

    def __init__(
        self, path: Path | None, location: str | None, field: str | None, message: str
    ) -> None:
        self.path = path
        self.location = location
        self.field = field
        self.message = message
        self.errors: tuple[ConfigError, ...] = (self,)
        parts = [str(path) if path else "<config>", location, field, message]
        super().__init__(": ".join(p for p in parts if p))


class InvalidConfig(ConfigError):
    """Every problem found in one config file; ``errors`` holds each ConfigError."""

    def __init__(
        self, path: Path | None, errors: list[ConfigError], warnings: Sequence[str] = ()
    ) -> None:
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(path, None, None, f"{count}:\n{lines}")
        self.errors = tuple(errors)
        self.warnings = tuple(warnings)  # found alongside: `validate` shows them too


class TemplateError(MidimonError, ValueError):
    """A device template that cannot be used: the file, the field, and what would be accepted
    (or, with no field, a template name that does not exist)."""

    def __init__(self, path: Path | str | None, field: str | None, message: str) -> None:
        self.path = path
        self.field = field
        self.message = message
        parts = [str(path) if path else None, field, message]
        super().__init__(": ".join(p for p in parts if p))


class ActionError(MidimonError):
    """An action could not be carried out; the message says why."""


__all__ = ["ActionError", "ConfigError", "InvalidConfig", "TemplateError"]
