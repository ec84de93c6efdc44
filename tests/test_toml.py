"""midimon._toml: rtoml's fast answer is always tomllib's answer (values, types, order, errors)."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midimon import _toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
REAL_FILES = sorted(
    [
        REPO / "midimon" / "engine" / "default_config.toml",
        *REPO.glob("native_plugins/*/plugin.toml"),
        *REPO.glob("examples/**/*.toml"),
    ]
)


def reference(text: str) -> tuple[str, str]:
    """tomllib's answer: ("ok", repr of the document) or ("error", its message)."""
    try:
        return "ok", repr(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        return "error", str(exc)


def ours(text: str) -> tuple[str, str]:
    """midimon._toml's answer, in the same form (repr shows types, key order and tzinfo)."""
    try:
        return "ok", repr(_toml.loads(text))
    except _toml.TOMLDecodeError as exc:
        return "error", str(exc)


def bench_config(mappings: int) -> str:
    """A config shaped like the reload benchmark's: every trigger and action kind."""
    triggers = (
        '{ type = "Note", note = %d, channel = 1 }',
        '{ type = "CC", controller = %d, value_min = 1, value_max = 127 }',
        '{ type = "VelocityRange", note = %d, min = 10, max = 100 }',
        '{ type = "LongPress", note = %d, hold_ms = 800 }',
        '{ type = "EncoderTurn", controller = %d, direction = "cw" }',
    )
    actions = (
        '{ type = "Shell", argv = ["notify-send", "pad # {x}"] }',
        '{ type = "Plugin", plugin = "file_log", params = { path = "~/pad.log", n = 1.5 } }',
        '{ type = "SendMidi", messages = [{ type = "note_on", note = 1, velocity = 100 }] }',
        '{ type = "ModeChange", mode = "next" }',
    )
    lines = ['[device]\nname = "pad.*"', '[[modes]]\nname = "Default"']
    for i in range(mappings):
        lines.append(
            f'[[modes.mappings]]\ndescription = "mapping {i}"  # a comment\n'
            f"trigger = {triggers[i % 5] % (i % 128)}\naction = {actions[i % 4]}"
        )
    return "\n\n".join(lines) + "\n"


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_real_files_parse_as_tomllib_parses_them(path: Path) -> None:
    """Every config and manifest in the repository reads the same through either parser."""
    text = path.read_text(encoding="utf-8")
    assert ours(text) == reference(text)
    assert ours(text.replace("\n", "\r\n")) == reference(text.replace("\n", "\r\n"))


def test_the_fast_path_takes_our_usual_files() -> None:
    """Configs and manifests like ours go to rtoml (the point of the module), and agree."""
    for text in (bench_config(50), *(p.read_text() for p in REAL_FILES)):
        assert _toml._fast_path_agrees(text.replace("\r\n", "\n")), text[:200]
        assert ours(text) == reference(text)


VALID = {
    "integers": "a = [0, +99, -17, 1_000, 0xDEAD_beef, 0o755, 0b1101, 9223372036854775807]",
    "big integers": "a = 9223372036854775808\nb = -99999999999999999999999",
    "floats": "a = [1.0, -0.0, +0.5, 6.626e-34, 1e400, 5e-324, 224_617.445_991, inf, -inf, nan]",
    "booleans": "a = [true, false]",
    "offset date-time": "a = 1979-05-27T07:32:00-08:00\nb = 1979-05-27 00:32:00.999999Z",
    "local date-time": "a = 1979-05-27T07:32:00\nb = 1979-05-27t07:32:00.1234567",
    "local date": "a = 1979-05-27",
    "local time": "a = [07:32:00, 00:32:00.999999999]",
    "time-like strings": 'range = "09:00-17:30"\nwhen = "at 10:30"  # 11:00',
    "strings": r'a = "tab\there \u00e9 \U0001F600 \"q\" \\"' + "\nb = 'C:\\x\\e'",
    "multi-line strings": "a = \"\"\"\nline1\\\n   line2\n\"\"\"\nb = '''\n{raw}\n,}'''",
    "quotes at the end": 'a = """x""""\nb = \'\'\'y\'\'\'\'\'\nc = """ "" """',
    "CRLF": "a = 1\r\nb = \"\"\"x\r\ny\"\"\"\r\nc = '''\r\nz'''\r\n",
    "keys": '"" = 1\n"é" = 2\n\'lit\' = 3\na . b = 4\n"x.y" = 5\n3 = 6\n-_ = 7',
    "key order": "b = 1\na = 2\n[z]\ny = 1\n[c]\nx = 1\n[z.q]\n",
    "dotted keys": "a.b.c = 1\na.d = 2\n[e]\nf.g = 3",
    "inline tables": "a = { b = 1, c = { d = [1, 2] }, e = {} }\nf = {}",
    "inline table with a multi-line array": "a = { b = [\n1,\n2,\n] }",
    "braces in strings": 'a = { b = "}", c = "{" }\nd = "{"\ne = \'}\'',
    "arrays of tables": "[[x]]\na = 1\n[[x]]\na = 2\n[x.y]\nb = 3\n[[x.z]]\n[[x.z]]\nc = 4",
    "nested arrays": 'a = [[1, 2], ["x"], [], [{ b = 1 }], [[[]]]]',
    "comments": "# top\na = 1 # after\nb = [ # in\n 1, # one\n] # end",
    "whitespace": "a\t=\t1\n\n  [  t  ]  \n  b=2",
    "empty document": "",
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid_edge_cases_give_tomllib_values(text: str) -> None:
    """Each TOML type and layout reads to exactly what tomllib gives (repr: types and order)."""
    answer = ours(text)
    assert answer[0] == "ok"
    assert answer == reference(text)


INVALID = {
    # TOML 1.1 (rtoml accepts these; tomllib, and so midimon, does not)
    "newline in an inline table": "a = { b = 1,\n c = 2 }",
    "newline hidden by braces in strings": 'a = { b = "}",\n c = "{" }',
    "inline tables spanning lines in an array": "x = [ {a=1,\n b=2}, {c=3,\n d=4} ]",
    "trailing comma in an inline table": "a = { b = 1, }",
    "comment in an inline table": "a = { b = 1, # c\n}",
    "escape \\e": r'a = "\e"',
    "escape \\x": r'a = "\x41"',
    "time without seconds": "a = 07:32",
    "date-time without seconds": "a = 1979-05-27T07:32Z",
    "byte order mark": "\ufeffa = 1",
    "lone carriage return": 'a = """x\r\r\ny"""',
    # TOML 1.0 errors
    "duplicate key": "a = 1\na = 2",
    "duplicate table": "[a]\n[a]",
    "table after dotted key": "a.b = 1\n[a]\nc = 2",
    "extending an inline table": "a = {b=1}\n[a.c]",
    "array of tables over a static array": "a = [1]\n[[a]]",
    "impossible date": "a = 1979-02-30",
    "leap second": "a = 1979-05-27T07:32:60Z",
    "leading zero": "a = 01",
    "signed hex": "a = +0x1",
    "Inf": "a = Inf",
    "bare dot float": "a = .5",
    "missing value": "a =",
    "control character": 'a = "\x01"',
    "DEL in a comment": "# \x7f\na = 1",
    "lone surrogate escape": r'a = "\uD800"',
    "unicode bare key": "é = 1",
    "null": "a = null",
    "unterminated string": 'a = "x',
    "unterminated multi-line string": 'a = """x',
}


@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_invalid_documents_fail_with_tomllib_message(text: str) -> None:
    """What tomllib refuses is refused, with tomllib's message (line and column)."""
    answer = ours(text)
    assert answer[0] == "error"
    assert answer == reference(text)


def test_offset_datetimes_carry_datetime_timezone() -> None:
    """An offset date-time's tzinfo is datetime.timezone, as from tomllib (not rtoml's class)."""
    value = _toml.loads("a = 1979-05-27T07:32:00+05:30")["a"]
    assert type(value.tzinfo) is datetime.timezone
    assert value.utcoffset() == datetime.timedelta(hours=5, minutes=30)


# -- generated documents


KEYS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
)
OFFSETS = st.integers(-1439, 1439).map(lambda m: datetime.timezone(datetime.timedelta(minutes=m)))
SCALARS = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.datetimes(timezones=st.none() | OFFSETS),
    st.dates(),
    st.times(),
)


def _values(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4)


VALUES = st.recursive(SCALARS, _values, max_leaves=12)


def _key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return '"' + "".join(_escape(c) for c in key) + '"'


def _escape(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{ord(char):04x}"
    return char


def _inline(value: object) -> str:
    """``value`` as a TOML inline value (a tiny writer, enough for the generated documents)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_escape(c) for c in value) + '"'
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + "}"


def _document(doc: dict[str, object], tables: dict[str, dict[str, object]]) -> str:
    lines = [f"{_key(k)} = {_inline(v)}" for k, v in doc.items()]
    for name, table in tables.items():
        if name in doc:
            continue
        lines.append(f"[[{_key(name)}]]")
        lines += [f"{_key(k)} = {_inline(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(KEYS, VALUES, max_size=5),
    st.dictionaries(KEYS, st.dictionaries(KEYS, VALUES, max_size=3), max_size=2),
)
def test_generated_documents_read_as_tomllib_reads_them(
    doc: dict[str, object], tables: dict[str, dict[str, object]]
) -> None:
    """Random documents of every type, inline tables and arrays of tables: the same answer."""
    text = _document(doc, tables)
    assert ours(text) == reference(text)


MUTATIONS = [*"{}[]\",'\n\r=#:.-+ \\exTZ01_", '"""', "'''", "\\e", "\\x41", "{\n", ",}", "\t"]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([bench_config(2), *VALID.values(), *INVALID.values()]),
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.sampled_from(["insert", "delete", "replace"]),
            st.sampled_from(MUTATIONS),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_documents_get_the_same_answer(
    seed: str, edits: list[tuple[float, str, str]]
) -> None:
    """Documents near valid ones (one to four edits away): same value, or the same error."""
    text = seed
    for where, how, piece in edits:
        at = int(where * len(text))
        if how == "insert":
            text = text[:at] + piece + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + len(piece) :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    assert ours(text) == reference(text)
