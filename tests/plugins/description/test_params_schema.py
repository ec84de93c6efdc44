"""[plugin.params] in plugin.toml: the schema's shape refused with the field named, and
check_params judging params (missing, wrong type, out of range, not in the enum, unknown)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BUNDLED, REPO

from midimon.paths import bundled_plugins_dir
from midimon.plugins.description.manifest import load_manifest, parse_manifest
from midimon.plugins.description.params_schema import ParamsSchema, check_params
from midimon.plugins.errors import ManifestError

HEAD = """
[plugin]
name = "demo"
version = "1.0.0"
type = "action"
abi = "1.0"
binary = "demo.so"
"""

PARAMS = """
[plugin.params.url]
type = "string"
required = true
description = "where to send it"
example = "http://127.0.0.1/x"

[plugin.params.method]
type = "string"
enum = ["GET", "POST"]
default = "GET"

[plugin.params.timeout_ms]
type = "integer"
min = 1
max = 600000
default = 5000

[plugin.params.gain]
type = "number"
min = 0
max = 1.5

[plugin.params.loud]
type = "boolean"
default = false

[plugin.params.tags]
type = "array"
items = "string"

[plugin.params.headers]
type = "object"

[plugin.params.body]
type = "any"
"""


def schema_of(text: str, tmp_path: Path) -> ParamsSchema:
    path = tmp_path / "plugin.toml"
    path.write_text(HEAD + text)
    manifest = load_manifest(path)
    assert manifest.params is not None
    return manifest.params


def refusal(text: str, tmp_path: Path) -> ManifestError:
    path = tmp_path / "plugin.toml"
    path.write_text(HEAD + text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.path == path
    return caught.value


def test_every_key_is_read_in_file_order(tmp_path: Path) -> None:
    """Each [plugin.params.NAME] table becomes a ParamSpec with what it declares, in order."""
    schema = schema_of(PARAMS, tmp_path)
    assert schema.names == ("url", "method", "timeout_ms", "gain", "loud", "tags", "headers",
                            "body")  # fmt: skip
    url = schema.get("url")
    assert url is not None and url.required and url.example == "http://127.0.0.1/x"
    assert url.description == "where to send it"
    timeout = schema.get("timeout_ms")
    assert timeout is not None and (timeout.min, timeout.max, timeout.default) == (1, 600000, 5000)
    assert timeout.expected() == "an integer in 1..600000"
    method = schema.get("method")
    assert method is not None and method.expected() == 'one of "GET", "POST"'
    tags = schema.get("tags")
    assert tags is not None and tags.expected() == "an array of strings"
    assert schema.additional is False


def test_a_manifest_without_params_has_no_schema(tmp_path: Path) -> None:
    """No [plugin.params]: params is None (free-form, as before schemas)."""
    path = tmp_path / "plugin.toml"
    path.write_text(HEAD)
    assert load_manifest(path).params is None


def test_additional_params_is_read(tmp_path: Path) -> None:
    """[plugin] additional_params = true: undeclared params are expected, not warned about."""
    text = HEAD.replace('binary = "demo.so"', 'binary = "demo.so"\nadditional_params = true')
    path = tmp_path / "plugin.toml"
    path.write_text(text + '[plugin.params.path]\ntype = "string"\nrequired = true\n')
    schema = load_manifest(path).params
    assert schema is not None and schema.additional
    assert check_params(schema, {"path": "/x", "anything": 1}) == ([], [])


@pytest.mark.parametrize(
    ("table", "field", "fragment"),
    [
        ('[plugin.params.url]\nrequired = true\n', "plugin.params.url.type",
         "missing (required): one of string, integer"),
        ('[plugin.params.url]\ntype = "text"\n', "plugin.params.url.type", '"text"; expected one'),
        ('[plugin.params.url]\ntype = "string"\nmin = 1\n', "plugin.params.url.min",
         "is only for integer and number params (url is string)"),
        ('[plugin.params.n]\ntype = "integer"\nmax = 1.5\n', "plugin.params.n.max",
         "must be an integer like n, got 1.5"),
        ('[plugin.params.n]\ntype = "integer"\nmin = 5\nmax = 1\n', "plugin.params.n.max",
         "1 is below min 5"),
        ('[plugin.params.n]\ntype = "string"\nrequired = "yes"\n', "plugin.params.n.required",
         'must be true or false, got "yes"'),
        ('[plugin.params.n]\ntype = "boolean"\nenum = [true]\n', "plugin.params.n.enum",
         "is only for string, integer and number params (n is boolean)"),
        ('[plugin.params.n]\ntype = "string"\nenum = []\n', "plugin.params.n.enum",
         "must be a non-empty array"),
        ('[plugin.params.n]\ntype = "string"\nenum = ["a", 2]\n', "plugin.params.n.enum[1]",
         "must be a string, got 2"),
        ('[plugin.params.n]\ntype = "integer"\nenum = [1, 20]\nmax = 10\n',
         "plugin.params.n.enum[1]", "20 is outside min..max"),
        ('[plugin.params.n]\ntype = "string"\nitems = "string"\n', "plugin.params.n.items",
         "is only for array params (n is string)"),
        ('[plugin.params.n]\ntype = "array"\nitems = "array"\n', "plugin.params.n.items",
         '"array"; expected one of string, integer'),
        ('[plugin.params.n]\ntype = "integer"\nmax = 10\ndefault = 11\n',
         "plugin.params.n.default", "must be an integer <= 10 like the param, got 11"),
        ('[plugin.params.n]\ntype = "string"\nexample = 3\n', "plugin.params.n.example",
         "must be a string like the param, got 3 (an integer)"),
        ('[plugin.params.n]\ntype = "string"\nrequired = true\ndefault = "x"\n',
         "plugin.params.n.default", "a required param has no default"),
        ('[plugin.params.n]\ntype = "string"\ndescription = 3\n',
         "plugin.params.n.description", "must be a string, got an integer"),
        ("[plugin.params]\nn = 3\n", "plugin.params.n", "must be a table"),
        ('[plugin]\nparams = "url"\n', "plugin.params", "must be a table of [plugin.params.NAME]"),
    ],
)
def test_a_bad_schema_is_refused_naming_the_field(
    table: str, field: str, fragment: str, tmp_path: Path
) -> None:
    """Each malformed declaration is a ManifestError naming the file, the dotted field and what
    would be accepted."""
    if table.startswith("[plugin]\n"):  # a key of [plugin] itself
        text = HEAD.replace('binary = "demo.so"', 'binary = "demo.so"\n' + table.split("\n")[1])
        path = tmp_path / "plugin.toml"
        path.write_text(text)
        with pytest.raises(ManifestError) as caught:
            load_manifest(path)
        error = caught.value
    else:
        error = refusal(table, tmp_path)
    assert error.field == field, error
    assert fragment in error.message, error.message
    assert str(error).startswith(f"{tmp_path / 'plugin.toml'}: {field}: ")


def test_additional_params_must_be_a_boolean(tmp_path: Path) -> None:
    """additional_params = "yes" is refused, naming the key."""
    path = tmp_path / "plugin.toml"
    path.write_text(HEAD.replace('binary = "demo.so"', 'binary = "demo.so"\nadditional_params = 1'))
    with pytest.raises(ManifestError, match=r"plugin\.additional_params: must be true or false"):
        load_manifest(path)


def test_an_unknown_key_in_a_param_is_a_warning_with_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key (maximum) is ignored with a warning suggesting the real one (max)."""
    path = tmp_path / "plugin.toml"
    path.write_text(HEAD + '[plugin.params.n]\ntype = "integer"\nmaximum = 3\n')
    manifest = load_manifest(path)
    assert manifest.warnings == ("unknown key plugin.params.n.maximum ignored (did you mean max?)",)


# -- check_params ------------------------------------------------------------------------------


def test_good_params_have_no_errors_and_no_warnings(tmp_path: Path) -> None:
    """Every declared type accepts its values; optional params may be left out."""
    schema = schema_of(PARAMS, tmp_path)
    good = {"url": "http://x/", "method": "POST", "timeout_ms": 600000, "gain": 1, "loud": True,
            "tags": ["a", "b"], "headers": {"A": "b"}, "body": [1, {"x": None}]}  # fmt: skip
    assert check_params(schema, good) == ([], [])
    assert check_params(schema, {"url": "http://x/", "gain": 0.25}) == ([], [])


def test_a_missing_required_param_names_it_and_the_expected_form(tmp_path: Path) -> None:
    """url is required: the error names it, says what it takes and shows the example."""
    errors, warnings = check_params(schema_of(PARAMS, tmp_path), {})
    assert [str(e) for e in errors] == ['url: is required: a string, e.g. "http://127.0.0.1/x"']
    assert errors[0].message("http_request").startswith("is required by http_request: a string")
    assert warnings == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"timeout_ms": "5000"},
         'timeout_ms: must be an integer in 1..600000, got "5000" (a string)'),
        ({"timeout_ms": 0}, "timeout_ms: must be an integer in 1..600000, got 0"),
        ({"timeout_ms": 2.0}, "timeout_ms: must be an integer in 1..600000, got 2.0 (a number)"),
        ({"timeout_ms": True}, "timeout_ms: must be an integer in 1..600000, got true (a boolean)"),
        ({"gain": 2}, "gain: must be a number in 0..1.5, got 2"),
        ({"gain": float("inf")}, "gain: must be a number in 0..1.5, got Infinity (a number)"),
        ({"method": "get"}, 'method: must be one of "GET", "POST", got "get"'),
        ({"loud": "yes"}, 'loud: must be true or false, got "yes" (a string)'),
        ({"tags": ["a", 3]}, "tags: must be an array of strings, item 1 is 3 (an integer)"),
        ({"tags": "a"}, 'tags: must be an array of strings, got "a" (a string)'),
        ({"headers": ["A"]}, 'headers: must be a table, got ["A"] (an array)'),
    ],
)
def test_a_wrong_value_is_an_error_naming_the_param_and_the_form(
    params: dict, expected: str, tmp_path: Path
) -> None:
    """Wrong type, out of range, not in the enum, a bad array item: one error each."""
    errors, warnings = check_params(schema_of(PARAMS, tmp_path), {"url": "http://x/", **params})
    assert [str(e) for e in errors] == [expected]
    assert warnings == []


def test_null_counts_as_not_given(tmp_path: Path) -> None:
    """None (JSON null) for an optional param is "use the default"; for a required one, missing."""
    errors, _ = check_params(schema_of(PARAMS, tmp_path), {"url": None, "timeout_ms": None})
    assert [e.param for e in errors] == ["url"] and errors[0].kind == "missing"


def test_an_unknown_param_is_a_warning_with_did_you_mean(tmp_path: Path) -> None:
    """timout_ms is not declared: a warning (not an error) naming timeout_ms; a name close to
    nothing gets no suggestion."""
    errors, warnings = check_params(
        schema_of(PARAMS, tmp_path), {"url": "http://x/", "timout_ms": 5, "zzz": 1}
    )
    assert errors == []
    assert [str(w) for w in warnings] == [
        "timout_ms: is not a declared param (did you mean timeout_ms?)",
        "zzz: is not a declared param",
    ]
    assert warnings[0].message("http_request") == (
        "is not a param of http_request (did you mean timeout_ms?)"
    )


def test_as_dict_is_json_friendly(tmp_path: Path) -> None:
    """as_dict gives every declared key and the expected form, for plugins info --json."""
    schema = schema_of(PARAMS, tmp_path)
    out = schema.as_dict()
    assert out["additional"] is False
    first = out["params"][0]
    assert first == {"name": "url", "type": "string", "required": True,
                     "example": "http://127.0.0.1/x", "description": "where to send it",
                     "expected": "a string"}  # fmt: skip
    assert out["params"][1]["enum"] == ["GET", "POST"]


# -- the real manifests ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_the_bundled_plugins_declare_their_params(name: str) -> None:
    """Each bundled plugin.toml (the source's and the installed copy) has a valid schema with
    every param documented, and no warnings."""
    for path in (REPO / "native_plugins" / name / "plugin.toml",
                 bundled_plugins_dir() / name / "plugin.toml"):  # fmt: skip
        manifest = load_manifest(path)
        assert manifest.warnings == ()
        assert manifest.params is not None and manifest.params.params
        assert all(spec.description for spec in manifest.params.params)


def test_the_bundled_schemas_say_what_the_plugins_read() -> None:
    """The declared params are those each plugin's source reads (README/C comment): the
    required ones are exactly file_log's path and http_request's url."""
    schemas = {
        name: load_manifest(REPO / "native_plugins" / name / "plugin.toml").params
        for name in BUNDLED
    }
    assert schemas["http_request"] is not None and schemas["http_request"].names == (
        "url", "method", "headers", "body", "timeout_ms"
    )
    assert schemas["midi_transpose"] is not None and schemas["midi_transpose"].names == (
        "semitones", "channel", "velocity", "note_off", "cc", "cc_value"
    )
    assert schemas["file_log"] is not None and schemas["file_log"].additional
    required = {n: [p.name for p in s.params if p.required] for n, s in schemas.items() if s}
    assert required == {
        "http_request": ["url"],
        "file_log": ["path"],
        "midi_transpose": [],
        "osc_in": [],  # a trigger plugin's params are its settings
        "gamepad": ["device"],
    }


def test_parse_manifest_reads_params_from_bytes(tmp_path: Path) -> None:
    """parse_manifest (discovery's path) reads the same schema as load_manifest."""
    raw = (HEAD + PARAMS).encode()
    manifest = parse_manifest(raw, tmp_path / "plugin.toml")
    assert manifest.params is not None and manifest.params.names[0] == "url"
    assert manifest.as_dict()["params"]["params"][0]["name"] == "url"
