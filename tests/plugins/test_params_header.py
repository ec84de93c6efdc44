"""abi/midimon_params.h agrees with Python's json module, refuses malformed params, never crashes.

A small C harness (params/params_harness.c) runs each lookup; the expected answer comes from
``json.loads`` with the header's documented rules on top (NaN/Infinity refused, nesting limit,
last duplicate wins, lone surrogates read as U+FFFD, U+0000 in a string is WRONG_TYPE).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ABI_DIR, IN_CI, require_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HARNESS = Path(__file__).parent / "params" / "params_harness.c"
HEADER = ABI_DIR / "midimon_params.h"

FOUND, MISSING, WRONG_TYPE, INVALID = 1, 0, -1, -2
MAX_DEPTH = 64
SENTINEL = {"i": "12345", "n": (12345.0).hex(), "b": "12345"}


@dataclass(frozen=True)
class Case:
    """One lookup: op s/i/n/b, the JSON bytes, the key, the out capacity, the len passed."""

    op: str
    data: bytes | None
    key: str
    cap: int = 256
    passlen: int | None = None  # default len(data)


def _compile(out: Path, *extra: str) -> Path:
    cc = require_tool("gcc")
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1", "-g"]
    cmd += [*extra, f"-I{ABI_DIR}", str(HARNESS), "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def _sanitizers_work(tmp: Path) -> bool:
    probe = tmp / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    done = subprocess.run(
        ["gcc", "-fsanitize=address,undefined", str(probe), "-o", str(tmp / "probe")],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The harness built plainly and, when gcc supports it, with ASan + UBSan."""
    tmp = tmp_path_factory.mktemp("params")
    built = [_compile(tmp / "harness")]
    if _sanitizers_work(tmp):
        built.append(
            _compile(
                tmp / "harness_san",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer",
            )
        )
    elif IN_CI:
        pytest.fail("gcc cannot build with -fsanitize=address,undefined")
    return built


def run_cases(harness: Path, cases: list[Case]) -> list[tuple[int, str]]:
    """Run every case through one harness process; (rc, value) per case."""
    chunks = []
    for case in cases:
        data = case.data if case.data is not None else b""
        passlen = -1 if case.data is None else (len(data) if case.passlen is None else case.passlen)
        key = case.key.encode("utf-8")
        header = f"{case.op} {case.cap} {len(key)} {len(data)} {passlen}\n".encode()
        chunks.append(header + key + data)
    done = subprocess.run(
        [str(harness)],
        input=b"".join(chunks),
        capture_output=True,
        timeout=120,
        env={"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"},
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    lines = done.stdout.decode().splitlines()
    assert len(lines) == len(cases)
    results = []
    for line in lines:
        rc, _, value = line.partition(" ")
        results.append((int(rc), value))
    return results


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def reference(case: Case) -> tuple[int, str]:
    """What the header must answer, from Python's json module."""
    sentinel = "" if case.op == "s" else SENTINEL[case.op]
    if case.data is None:
        return INVALID, sentinel
    data = case.data if case.passlen is None else case.data[: case.passlen]
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return INVALID, sentinel
    if not isinstance(obj, dict) or _depth(obj) > MAX_DEPTH:
        return INVALID, sentinel
    if case.key not in obj:
        return MISSING, sentinel
    value = obj[case.key]
    if case.op == "s":
        if not isinstance(value, str) or "\x00" in value:
            return WRONG_TYPE, sentinel
        raw = LONE_SURROGATE.sub("\ufffd", value).encode("utf-8")
        if case.cap <= 0:
            return FOUND, ""
        cut = raw[: case.cap - 1]
        while cut != raw and cut and not _whole(cut):
            cut = cut[:-1]
        return FOUND, cut.hex()
    if case.op == "i":
        if type(value) is not int or not -(2**63) <= value < 2**63:
            return WRONG_TYPE, sentinel
        return FOUND, str(value)
    if case.op == "n":
        if type(value) not in (int, float):
            return WRONG_TYPE, sentinel
        try:
            number = float(value)
        except OverflowError:
            return WRONG_TYPE, sentinel
        if math.isinf(number):
            return WRONG_TYPE, sentinel
        return FOUND, number.hex()
    if type(value) is not bool:
        return WRONG_TYPE, sentinel
    return FOUND, str(int(value))


def _whole(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _same(op: str, got: tuple[int, str], want: tuple[int, str]) -> bool:
    if op == "n" and got[0] == want[0]:
        return float.fromhex(got[1]) == float.fromhex(want[1])  # 0.0 == -0.0 ("-0" is int 0)
    return got == want


def check(harnesses: list[Path], cases: list[Case]) -> None:
    """Every harness answers every case as the reference does."""
    wanted = [reference(c) for c in cases]
    for harness in harnesses:
        got = run_cases(harness, cases)
        bad = [
            (c, g, w) for c, g, w in zip(cases, got, wanted, strict=True) if not _same(c.op, g, w)
        ]
        shown = [(c.op, c.key, c.cap, c.passlen, (c.data or b"")[:300], g, w) for c, g, w in bad]
        assert not bad, f"{harness.name}: {len(bad)} disagreements, first: {shown[:5]}"


def all_ops(data: bytes | None, key: str, **kw: int) -> list[Case]:
    return [Case(op, data, key, **kw) for op in "sinb"]


OBJ = (
    b'{"s": "h\\u00e9llo \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t", "i": -42, "big": 9223372036854775807, '
    b'"small": -9223372036854775808, "over": 9223372036854775808, "under": -9223372036854775809, '
    b'"f": 1.5e3, "fi": 3.0, "e": 1E2, "neg0": -0, "neg0f": -0.0, "t": true, "fa": false, '
    b'"nul": null, "o": {"s": "inner", "i": 1}, "a": [1, "s", {"x": [true]}], '
    b'"emoji": "\\ud83d\\ude00 \xf0\x9f\x8e\xb9", "lone": "a\\ud800b\\udc00c", '
    b'"hi_lo": "\\ud800\\ud800\\udc00", "zero": "a\\u0000b", "\\u0061\\u0062": "escaped key", '
    b'"huge": 1e400, "tiny": 1e-400, "long": 1' + b"0" * 400 + b", "
    b'"longf": 0.'
    + b"0"
    * 300
    + b'1e300, "digits": 1.00000000000000000000000000000000000000000001,'
    b' "dup": 1, "dup": "two", "unicode \xc3\xa9": 7, "": "empty key"}'
)
KEYS = [
    "s", "i", "big", "small", "over", "under", "f", "fi", "e", "neg0", "neg0f", "t", "fa", "nul",
    "o", "a", "emoji", "lone", "hi_lo", "zero", "ab", "huge", "tiny", "long", "longf", "digits",
    "dup", "unicode é", "", "x", "missing", "S", "s ",
]  # fmt: skip

MALFORMED = [
    b"",
    b"   ",
    b"[]",
    b'"s"',
    b"1",
    b"null",
    b"{",
    b'{"s"',
    b'{"s":',
    b'{"s": "abc',
    b'{"s": "abc"',
    b'{"s": "abc",}',
    b'{"s": "abc"]',
    b'{"s": "abc"}}',
    b'{"s": "abc"} x',
    b'{"s": "abc"}{}',
    b'{"a": [1, 2}',
    b'{"a": {"b": 1]}',
    b'{"a": [1,]}',
    b'{"a": [,1]}',
    b'{"a" 1}',
    b"{a: 1}",
    b"{'s': 'x'}",
    b'{"s": "a\\x"}',
    b'{"s": "a\\u12"}',
    b'{"s": "a\\u12G4"}',
    b'{"s": "a\\',
    b'{"s": "tab\there"}',
    b'{"s": "nl\nhere"}',
    b'{"s": "nul\x00here"}',
    b'{"s": "x"}\x00',
    b'{"s"\x00: "x"}',
    b'{"s": "\xff"}',
    b'{"s": "\xc0\xaf"}',
    b'{"s": "\xed\xa0\x80"}',
    b'{"s": "\xf4\x90\x80\x80"}',
    b'{"s": "\xe2\x82"}',
    b"\xef\xbb\xbf{}",
    b'{"i": 01}',
    b'{"i": -}',
    b'{"i": 1.}',
    b'{"i": .5}',
    b'{"i": 1e}',
    b'{"i": 1e+}',
    b'{"i": +1}',
    b'{"i": 0x10}',
    b'{"i": NaN}',
    b'{"i": Infinity}',
    b'{"i": -Infinity}',
    b'{"b": tru}',
    b'{"b": True}',
    b'{"b": nul}',
    b'{"b": truefalse}',
    b'{"s": "x" "t": 1}',
    b'{"s": "x",, "t": 1}',
    b"{,}",
    b"{:}",
    b'{"a": [' * 40,
    b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}",
    b'{"a": ' + b"[" * 10000,
    b'{"a": ' + b'{"b": ' * 10000,
]


def test_header_compiles_in_each_language(tmp_path: Path) -> None:
    """Both headers compile as C99, C11 and C++11 with -Wall -Wextra -pedantic -Werror."""
    gcc, gxx = require_tool("gcc"), require_tool("g++")
    source = (
        '#include "midimon_plugin.h"\n#include "midimon_params.h"\n'
        "int probe(const char *j, size_t n) {\n"
        "  char s[8]; int64_t i; double d; int b;\n"
        '  return midimon_params_string(j, n, "s", s, sizeof s) + midimon_params_int(j, n, "i", &i)'
        ' + midimon_params_number(j, n, "n", &d) + midimon_params_bool(j, n, "b", &b);\n}\n'
    )
    strict = ["-Wall", "-Wextra", "-pedantic", "-Werror", "-Wconversion", "-Wshadow", "-O2"]
    for compiler, std, suffix in [
        (gcc, "c99", ".c"),
        (gcc, "c11", ".c"),
        (gxx, "c++11", ".cpp"),
    ]:
        src = tmp_path / f"probe_{std.replace('+', 'p')}{suffix}"
        src.write_text(source)
        cmd = [compiler, f"-std={std}", *strict, f"-I{ABI_DIR}", "-c", str(src), "-o", "/dev/null"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"{std}: {done.stderr}"


def test_zig_translate_c_translates_every_function(tmp_path: Path) -> None:
    """zig translate-c turns every API function into Zig (none left as @compileError)."""
    done = subprocess.run(
        [sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True
    )
    if done.returncode != 0:
        if IN_CI:
            pytest.fail(f"zig (python -m ziglang) is not usable: {done.stderr[:200]}")
        pytest.skip("zig (python -m ziglang) is not installed")
    cache = ["--cache-dir", str(tmp_path / "zc"), "--global-cache-dir", str(tmp_path / "zgc")]
    done = subprocess.run(
        [sys.executable, "-m", "ziglang", "translate-c", *cache, f"-I{ABI_DIR}", str(HEADER)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for fn in ("string", "int", "number", "bool"):
        assert re.search(rf"pub fn midimon_params_{fn}\(", done.stdout), fn
    assert "midimon_params" not in "".join(
        line for line in done.stdout.splitlines() if "@compileError" in line
    )


def test_table_of_cases(harnesses: list[Path]) -> None:
    """Every key of a rich object, through every function, as json.loads reads it."""
    cases = [c for key in KEYS for c in all_ops(OBJ, key)]
    cases += [
        Case("s", OBJ, key, cap=cap) for key in ("s", "emoji", "lone") for cap in range(-1, 24)
    ]
    check(harnesses, cases)
    got = dict(zip(KEYS, run_cases(harnesses[0], [Case("i", OBJ, k) for k in KEYS]), strict=True))
    assert got["small"] == (FOUND, str(-(2**63))) and got["over"][0] == WRONG_TYPE
    got = run_cases(harnesses[0], [Case("s", OBJ, "dup"), Case("s", OBJ, "emoji", cap=3)])
    assert got == [(FOUND, b"two".hex()), (FOUND, "")]  # last wins; 😀 is 4 bytes, cap 3


def test_malformed_inputs_are_invalid(harnesses: list[Path]) -> None:
    """Truncated, unbalanced, bad escapes, bad UTF-8, NULs, deep nesting: INVALID, no crash."""
    cases = [c for data in MALFORMED for c in all_ops(data, "s")]
    cases += [c for data in MALFORMED for c in all_ops(data, "i")]
    check(harnesses, cases)
    assert {rc for rc, _ in run_cases(harnesses[0], cases)} == {INVALID}


def test_len_is_respected(harnesses: list[Path]) -> None:
    """Only the first len bytes are read: each proper prefix of an object is INVALID."""
    data = b'{"s": "h\xc3\xa9\\u00e9", "a": [1, {"b": null}], "i": 12}'
    cases = [Case(op, data, k, passlen=n) for n in range(len(data) + 1) for op, k in
             (("s", "s"), ("i", "i"))]  # fmt: skip
    cases += all_ops(None, "s")  # json = NULL, len 0
    check(harnesses, cases)
    got = run_cases(harnesses[0], cases)
    assert [rc for rc, _ in got[: 2 * len(data)]] == [INVALID] * (2 * len(data))


def test_nesting_limit(harnesses: list[Path]) -> None:
    """Depth 64 (the params object counting as 1) is read; 65 is INVALID."""

    def nested(depth: int, opener: bytes) -> bytes:
        if opener == b"[":
            value = b"[" * (depth - 1) + b"]" * (depth - 1)
        else:
            value = b'{"k": ' * (depth - 2) + b"{}" + b"}" * (depth - 2)
        return b'{"i": 5, "a": ' + value + b"}"

    cases = []
    for depth in (2, 63, 64, 65, 66, 200):
        for opener in (b"[", b"{"):
            cases.append(Case("i", nested(depth, opener), "i"))
    check(harnesses, cases)
    got = run_cases(harnesses[0], cases)
    assert [rc for rc, _ in got] == [FOUND] * 6 + [INVALID] * 6


# ---- hypothesis: generated objects, serialised many ways, and mutated ------------------------

KEY_POOL = ["a", "b", "msg", "é", "😀", 'q"uote', "back\\slash", "nl\n", "", "a\x00b"]
keys = st.sampled_from(KEY_POOL) | st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A JSON object as text (duplicates allowed, random spacing and escaping) and keys to try."""
    pairs = draw(st.lists(st.tuples(keys, values), max_size=8))
    ascii_only = draw(st.booleans())
    space = draw(st.sampled_from(["", " ", "\n\t", "\r\n  "]))

    def dump(value: object) -> str:
        if isinstance(value, dict):
            return (
                "{"
                + f",{space}".join(f"{dump(k)}{space}:{space}{dump(v)}" for k, v in value.items())
                + "}"
            )
        if isinstance(value, list):
            return "[" + f",{space}".join(dump(v) for v in value) + "]"
        return json.dumps(value, ensure_ascii=ascii_only)

    body = f",{space}".join(f"{dump(k)}{space}:{space}{dump(v)}" for k, v in pairs)
    text = f"{space}{{{space}{body}{space}}}{space}"
    wanted = [k for k, _ in pairs] + [draw(keys)]
    return text.encode("utf-8"), [k for k in wanted if "\x00" not in k]


def _lookups(data: bytes, wanted: list[str], caps: list[int]) -> list[Case]:
    cases = []
    for key in wanted:
        cases += all_ops(data, key)
        cases += [Case("s", data, key, cap=cap) for cap in caps]
    return cases


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents(), caps=st.lists(st.integers(min_value=-1, max_value=12), max_size=3))
def test_generated_objects_agree_with_json(harnesses: list[Path], doc, caps) -> None:
    """Generated objects (flat, nested, unicode, escapes, duplicates) read as json.loads reads."""
    data, wanted = doc
    check(harnesses[:1], _lookups(data, wanted, caps))


MUTATION_BYTES = b'{}[]":,\\ \x00\x1f\x7f\x80\xc3\xe2\xf0\xffu0123456789-+.eEtfn'


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=documents(),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace", "truncate"]),
            st.integers(min_value=0, max_value=10_000),
            st.sampled_from(list(MUTATION_BYTES)),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_objects_agree_with_json(harnesses: list[Path], doc, edits) -> None:
    """Randomly broken objects are INVALID exactly when json.loads refuses them; no crash."""
    data, wanted = doc
    buf = bytearray(data)
    for kind, where, byte in edits:
        at = where % (len(buf) + 1)
        if kind == "insert":
            buf.insert(at, byte)
        elif kind == "delete" and buf:
            del buf[min(at, len(buf) - 1)]
        elif kind == "replace" and buf:
            buf[min(at, len(buf) - 1)] = byte
        elif kind == "truncate":
            del buf[at:]
    check(harnesses[:1], _lookups(bytes(buf), wanted, [5]))


def test_generated_cases_under_sanitizers(harnesses: list[Path]) -> None:
    """A batch of generated and mutated objects through the ASan/UBSan build, in one process."""
    if len(harnesses) < 2:
        pytest.skip("gcc cannot build with -fsanitize=address,undefined here")
    batch: list[Case] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(doc=documents(), cut=st.integers(min_value=0, max_value=10_000))
    def collect(doc, cut) -> None:
        data, wanted = doc
        batch.extend(_lookups(data, wanted, [0, 1, 4]))
        # wanted can be empty: every drawn key held a NUL (not askable from C)
        key = wanted[0] if wanted else "k"
        batch.extend(all_ops(data, key, passlen=cut % (len(data) + 1)))

    collect()
    check(harnesses[1:], batch)
