"""A plugin's params schema: the ``[plugin.params.NAME]`` tables of ``plugin.toml``, read into
ParamSpec/ParamsSchema, and ``check_params`` judging a mapping's params against them.

    [plugin.params.timeout_ms]
    type = "integer"            # string, integer, number, boolean, array, object or any
    required = false            # default false
    default = 5000              # shown to users; the host does not fill it in
    min = 1                     # min/max: integer and number only
    max = 600000
    description = "whole milliseconds for connect + send + receive"
    example = 2000              # optional; must be a valid value
    # enum = [...]              string, integer and number: the only values accepted
    # items = "string"          array only: the type of every element

``[plugin] additional_params = true`` says the plugin takes params beyond those declared (they
are passed on without a warning). A manifest without ``[plugin.params]`` has no schema: its
params are free-form, as before schemas existed. Nothing here runs plugin code.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.plugins.errors import ManifestError

#: Every param type: the five of JSON's scalars and arrays, plus tables (``object``, e.g.
#: HTTP headers) and ``any`` (a value passed on as it is, e.g. a JSON request body).
PARAM_TYPES = ("string", "integer", "number", "boolean", "array", "object", "any")
ITEM_TYPES = tuple(t for t in PARAM_TYPES if t != "array")
ENUM_TYPES = ("string", "integer", "number")
RANGE_TYPES = ("integer", "number")
SPEC_KEYS = ("type", "required", "default", "enum", "min", "max", "items", "description",
             "example")  # fmt: skip

_TYPE_WORDS = {
    "string": ("a string", "strings"),
    "integer": ("an integer", "integers"),
    "number": ("a number", "numbers"),
    "boolean": ("true or false", "booleans"),
    "array": ("an array", "arrays"),
    "object": ("a table", "tables"),
    "any": ("any value", "values"),
}


def shown(value: object) -> str:
    """A value as a user would write it (JSON text; TOML's true/false/strings read the same)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(value: object) -> str:
    """The param type a value has, in the schema's words (``a string``, ``a table``)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _has_type(kind: str, value: object) -> bool:
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
    if kind == "array":
        return isinstance(value, list | tuple)
    return isinstance(value, dict)  # object


@dataclass(frozen=True)
class ParamSpec:
    """One declared param. ``default`` and ``example`` are None when not given (TOML has no
    null, so None never is a declared value)."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    enum: tuple[Any, ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    items: str | None = None
    description: str = ""
    example: Any = None

    def expected(self) -> str:
        """What a value must be, in words: ``an integer in 1..600000``, ``one of "GET", "POST"``,
        ``an array of strings``."""
        if self.enum:
            return "one of " + ", ".join(shown(v) for v in self.enum)
        words = _TYPE_WORDS[self.type][0]
        if self.type == "array" and self.items:
            return f"an array of {_TYPE_WORDS[self.items][1]}"
        if self.min is not None and self.max is not None:
            return f"{words} in {shown(self.min)}..{shown(self.max)}"
        if self.min is not None:
            return f"{words} >= {shown(self.min)}"
        if self.max is not None:
            return f"{words} <= {shown(self.max)}"
        return words

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not acceptable for this param (``got ...``), or None when it is."""
        if not _has_type(self.type, value):
            return f"got {shown(value)} ({type_name(value)})"
        if self.type == "array" and self.items:
            assert isinstance(value, list | tuple)
            for index, item in enumerate(value):
                if not _has_type(self.items, item):
                    return f"item {index} is {shown(item)} ({type_name(item)})"
        if self.enum and value not in self.enum:
            return f"got {shown(value)}"
        if self.min is not None and value < self.min:  # type: ignore[operator]
            return f"got {shown(value)}"
        if self.max is not None and value > self.max:  # type: ignore[operator]
            return f"got {shown(value)}"
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: name and type always, the other keys when declared."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        for key in ("default", "min", "max", "items", "example"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.enum:
            out["enum"] = list(self.enum)
        out["description"] = self.description
        out["expected"] = self.expected()
        return out


@dataclass(frozen=True)
class ParamsSchema:
    """The declared params of one plugin, in the order plugin.toml gives them."""

    params: tuple[ParamSpec, ...] = ()
    additional: bool = False  # params beyond those declared are expected (no warning)

    @property
    def names(self) -> tuple[str, ...]:
        """The declared names, in file order."""
        return tuple(p.name for p in self.params)

    def get(self, name: str) -> ParamSpec | None:
        """The spec of ``name``, or None."""
        return next((p for p in self.params if p.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"params": [...], "additional": bool}``."""
        return {"params": [p.as_dict() for p in self.params], "additional": self.additional}


@dataclass(frozen=True)
class ParamIssue:
    """One param that does not fit the schema: an error, or (``unknown``) a warning."""

    param: str
    kind: str  # "missing", "invalid" or "unknown"
    expected: str = ""  # the expected form (missing, invalid)
    got: str = ""  # what was given (invalid)
    suggestion: str | None = None  # a declared name close to an unknown one

    def message(self, plugin: str | None = None) -> str:
        """The problem in words; ``plugin`` names whose schema it is."""
        of = f" by {plugin}" if plugin else ""
        if self.kind == "missing":
            return f"is required{of}: {self.expected}"
        if self.kind == "invalid":
            return f"must be {self.expected}{' for ' + plugin if plugin else ''}, {self.got}"
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        return f"is not {'a param of ' + plugin if plugin else 'a declared param'}{hint}"

    def __str__(self) -> str:
        return f"{self.param}: {self.message()}"


def check_params(
    schema: ParamsSchema, params: Mapping[str, Any]
) -> tuple[list[ParamIssue], list[ParamIssue]]:
    """(errors, warnings) of ``params`` against ``schema``.

    Errors: a required param missing, a value of the wrong type, out of range or not in the
    enum (each naming the param and the expected form). Warnings: a param the schema does not
    declare (with the closest declared name), unless the schema takes additional params. A
    value of None (JSON null) counts as not given: plugins read it as "use the default".
    """
    errors: list[ParamIssue] = []
    warnings: list[ParamIssue] = []
    for spec in schema.params:
        value = params.get(spec.name)
        if value is None:
            if spec.required:
                example = f", e.g. {shown(spec.example)}" if spec.example is not None else ""
                errors.append(ParamIssue(spec.name, "missing", spec.expected() + example))
            continue
        got = spec.problem(value)
        if got is not None:
            errors.append(ParamIssue(spec.name, "invalid", spec.expected(), got))
    if not schema.additional:
        for name in params:
            if schema.get(name) is None:
                close = difflib.get_close_matches(name, schema.names, n=1)
                warnings.append(ParamIssue(name, "unknown", suggestion=close[0] if close else None))
    return errors, warnings


# -- reading the tables -------------------------------------------------------------------------


def parse_params_schema(
    value: object, additional: bool, path: Path, warnings: list[str]
) -> ParamsSchema:
    """The schema of ``[plugin.params]`` (``value``) in the manifest at ``path``.

    Raises ManifestError naming the field (``plugin.params.url.min``) and what would be
    accepted; unknown keys in a param's table are appended to ``warnings``.
    """
    if not isinstance(value, dict):
        raise ManifestError(
            path, "plugin.params", 'must be a table of [plugin.params.NAME] tables, e.g. '
            '[plugin.params.url] with type = "string"'
        )  # fmt: skip
    specs = tuple(_spec(name, table, path, warnings) for name, table in value.items())
    return ParamsSchema(specs, additional)


def _spec(name: str, table: object, path: Path, warnings: list[str]) -> ParamSpec:
    prefix = f"plugin.params.{name}"

    def fail(key: str | None, message: str) -> ManifestError:
        return ManifestError(path, f"{prefix}.{key}" if key else prefix, message)

    if not name.strip():
        raise fail(None, "a param needs a non-empty name")
    if not isinstance(table, dict):
        raise fail(None, f'must be a table, e.g. [{prefix}] with type = "string"')
    for key in table:
        if key not in SPEC_KEYS:
            close = difflib.get_close_matches(key, SPEC_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"unknown key {prefix}.{key} ignored{hint}")
    kind = table.get("type")
    if kind is None:
        raise fail("type", f"missing (required): one of {', '.join(PARAM_TYPES)}")
    if kind not in PARAM_TYPES:
        raise fail("type", f"{shown(kind)}; expected one of {', '.join(PARAM_TYPES)}")
    required = table.get("required", False)
    if not isinstance(required, bool):
        raise fail("required", f"must be true or false, got {shown(required)}")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise fail("description", f"must be a string, got {type_name(description)}")

    items = table.get("items")
    if items is not None:
        if kind != "array":
            raise fail("items", f"is only for array params ({name} is {kind})")
        if items not in ITEM_TYPES:
            raise fail("items", f"{shown(items)}; expected one of {', '.join(ITEM_TYPES)}")
    bounds: dict[str, int | float | None] = {}
    for key in ("min", "max"):
        bound = table.get(key)
        if bound is not None:
            if kind not in RANGE_TYPES:
                raise fail(key, f"is only for integer and number params ({name} is {kind})")
            if not _has_type(kind, bound):
                raise fail(key, f"must be {_TYPE_WORDS[kind][0]} like {name}, got {shown(bound)}")
        bounds[key] = bound
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        raise fail("max", f"{shown(high)} is below min {shown(low)}")
    enum = table.get("enum")
    if enum is not None:
        if kind not in ENUM_TYPES:
            raise fail("enum", f"is only for string, integer and number params ({name} is {kind})")
        if not isinstance(enum, list) or not enum:
            raise fail("enum", "must be a non-empty array of the accepted values")
        for index, choice in enumerate(enum):
            if not _has_type(kind, choice):
                raise fail(f"enum[{index}]", f"must be {_TYPE_WORDS[kind][0]}, got {shown(choice)}")
    spec = ParamSpec(
        name=name,
        type=kind,
        required=required,
        enum=tuple(enum or ()),
        min=low,
        max=high,
        items=items,
        description=description,
    )
    # The range and the enum are checked against each other through the values they accept.
    for index, choice in enumerate(spec.enum):
        if (low is not None and choice < low) or (high is not None and choice > high):
            raise fail(f"enum[{index}]", f"{shown(choice)} is outside min..max")
    default, example = table.get("default"), table.get("example")
    if default is not None and required:
        raise fail("default", "a required param has no default: drop one of the two")
    for key, given in (("default", default), ("example", example)):
        if given is not None:
            got = spec.problem(given)
            if got is not None:
                raise fail(key, f"must be {spec.expected()} like the param, {got}")
    return dataclasses.replace(spec, default=default, example=example)
