"""The bundled Rust plugin file_log, run through `midimon plugins exec` (and, for the params the
CLI itself refuses, straight through the C ABI in a child process)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import RunMidimon

PLUGIN = "file_log"

# Loads the installed file_log.so with the cffi declarations midimon reads from the ABI header,
# and calls execute() with raw params bytes the CLI would never pass (invalid JSON, bad UTF-8),
# once per message capacity. argv: binary, params as hex, comma-separated message capacities.
# Prints a JSON list of {"status": int, "message": str, "raw": [bytes before the NUL]}.
RAW_EXEC = r"""
import json, sys
from midimon.plugins.loading import abi

ffi = abi.ffi()
lib = ffi.dlopen(sys.argv[1])
plugin = lib._create_plugin()
host = ffi.new("midimon_host_t *")
host.abi_major, host.abi_minor = abi.abi().major, abi.abi().minor
host.struct_size = ffi.sizeof("midimon_host_t")
name = ffi.new("char[]", b"test")
host.host_name = host.host_version = name
assert plugin.initialize(plugin, host) == 0
data = bytes.fromhex(sys.argv[2])
params = ffi.new("char[]", data)
mode = ffi.new("char[]", b"Default")
ctx = ffi.new("midimon_trigger_context_t *")
ctx.struct_size = ffi.sizeof("midimon_trigger_context_t")
ctx.mode = mode
results = []
for cap in map(int, sys.argv[3].split(",")):
    message = ffi.new("char[]", cap + 1)
    message[cap] = b"Z"
    status = plugin.execute(plugin, params, len(data), ctx, message, cap)
    assert message[cap] == b"Z", "wrote past message_cap"
    raw = ffi.string(message)
    results.append({"status": status, "message": raw.decode("utf-8"), "raw": list(raw)})
plugin.shutdown(plugin)
plugin.destroy(plugin)
print(json.dumps(results))
"""


def run_plugin(
    run_midimon: RunMidimon, grant_dir: Path, params: dict[str, Any], *options: str
) -> dict:
    """`plugins exec file_log --json` with a default trigger, the filesystem capability granted
    for ``grant_dir`` for this run; ``options`` override the trigger.

    Returns the printed result object, after checking the exit code agrees with ``ok``.
    """
    done = run_midimon(
        "plugins", "exec", PLUGIN, "--params", json.dumps(params),
        "--velocity", "100", "--note", "36", "--channel", "0", "--value", "0",
        "--mode", "Default", "--grant", "filesystem", "--grant-path", str(grant_dir),
        "--json", *options,
    )  # fmt: skip
    assert done.returncode in (0, 1), f"exit {done.returncode}: {done.stderr}"
    result = json.loads(done.stdout)
    assert result["plugin"] == PLUGIN
    assert done.returncode == (0 if result["ok"] else 1), result
    return result


def read_lines(path: Path) -> list[dict]:
    """Every line of ``path`` parsed as JSON, after checking each ends with exactly one newline."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")[:-1]
    return [json.loads(line) for line in lines]


@pytest.fixture
def binary(run_midimon: RunMidimon) -> str:
    """Path of the installed file_log binary, as `plugins info` reports it."""
    done = run_midimon("plugins", "info", PLUGIN, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["binary"]


def raw_exec(
    binary: str, env: dict[str, str], cwd: Path, params: bytes, caps: list[int] | None = None
) -> list[dict]:
    """Call execute() on the .so with raw ``params`` bytes, once per message capacity in
    ``caps`` (default [1024]), in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", RAW_EXEC, binary, params.hex(), ",".join(map(str, caps or [1024]))],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The folder the tests grant file_log: not tmp_path itself, which holds midimon's own
    state (the XDG dirs of midimon_env), so a grant of it is refused."""
    folder = tmp_path / "files"
    folder.mkdir()
    return folder


def test_one_line_with_params_and_context(run_midimon: RunMidimon, files: Path) -> None:
    """One exec appends exactly one JSON line holding the params and the context as passed."""
    log = files / "out" / "events.jsonl"
    log.parent.mkdir()
    params = {"path": str(log), "label": "kick", "n": 3, "x": {"a": [1, 2.5, True, None]}}
    result = run_plugin(
        run_midimon, files, params,
        "--velocity", "87", "--note", "41", "--channel", "9", "--value", "-12",
        "--mode", "Live", "--trigger", "note",
    )  # fmt: skip
    assert result["ok"] is True
    assert result["status_name"] == "OK"
    size = log.stat().st_size
    assert result["message"] == f"appended {size} bytes to {log}"
    (line,) = read_lines(log)
    assert line == {
        "params": params,
        "context": {
            "velocity": 87,
            "channel": 9,
            "note": 41,
            "value": -12,
            "trigger_kind": 1,
            "mode": "Live",
            "timestamp_ns": result["context"]["timestamp_ns"],
            "wall_time_ms": result["context"]["wall_time_ms"],
        },
    }
    assert result["logs"] and result["logs"][0]["level"] == "debug"


def test_two_execs_append_two_lines(run_midimon: RunMidimon, files: Path) -> None:
    """A second exec appends a second line and leaves the first untouched."""
    log = files / "events.jsonl"
    log.write_text("existing\n", encoding="utf-8")
    run_plugin(run_midimon, files, {"path": str(log), "i": 1}, "--note", "40")
    run_plugin(run_midimon, files, {"path": str(log), "i": 2}, "--note", "41")
    first, *rest = log.read_text(encoding="utf-8").split("\n", 1)
    assert first == "existing"
    lines = [json.loads(line) for line in rest[0].splitlines()]
    assert [(e["params"]["i"], e["context"]["note"]) for e in lines] == [(1, 40), (2, 41)]


def test_unicode_and_escapes_round_trip(run_midimon: RunMidimon, files: Path) -> None:
    """Non-ASCII text, escapes, control characters and big numbers come back unchanged."""
    log = files / "ünïcödé dir" / "log 🎹.jsonl"
    log.parent.mkdir()
    params = {
        "path": str(log),
        "text": "é ß 中文 🎹 \U0001f600",
        "quotes": 'say "hi" \\ back\\slash / slash',
        "controls": "\n\t\r\b\f \x00 \x01 \x1f \x7f",
        "separators": "\u2028\u2029",
        "clé 🔑": ["nested", {"deeper": "\ud7ff\ue000\uffff"}],
        "big": 12345678901234567890123,
        "float": 1.5e300,
        "negative": -0.25,
        "empty": {},
        "list": [],
    }
    result = run_plugin(run_midimon, files, params, "--mode", "Modé ✓")
    assert result["ok"] is True, result
    raw = log.read_bytes()
    assert raw.count(b"\n") == 1  # the newline in "controls" is escaped, not written
    (line,) = read_lines(log)
    assert line["params"] == params
    assert line["context"]["mode"] == "Modé ✓"
    assert str(log) in result["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"path": "relative/events.jsonl"},
        {"path": ""},
        {"other": "field"},
        {"path": 42},
        {"path": ["/tmp/x"]},
    ],
)
def test_relative_or_missing_path_names_path(
    run_midimon: RunMidimon, tmp_path: Path, files: Path, params: dict[str, Any]
) -> None:
    """A relative, empty, missing or non-string path: exit 1, INVALID_PARAMS naming `path`."""
    result = run_plugin(run_midimon, files, params)
    assert result["ok"] is False
    assert result["status_name"] == "ERR_INVALID_PARAMS"
    assert "`path`" in result["message"]
    assert not (tmp_path / "relative").exists()


def test_missing_directory_reports_os_error(run_midimon: RunMidimon, files: Path) -> None:
    """A path in a directory that does not exist: exit 1, ERR_FAILED with path and OS error."""
    log = files / "no such dir" / "events.jsonl"
    result = run_plugin(run_midimon, files, {"path": str(log)})
    assert result["ok"] is False
    assert result["status_name"] == "ERR_FAILED"
    assert str(log) in result["message"]
    assert os.strerror(errno.ENOENT) in result["message"]
    assert f"os error {errno.ENOENT}" in result["message"]
    assert not log.parent.exists()


def test_directory_as_path_reports_os_error(run_midimon: RunMidimon, files: Path) -> None:
    """A path that is a directory: exit 1, ERR_FAILED with the OS error, nothing written."""
    result = run_plugin(run_midimon, files, {"path": str(files)})
    assert result["status_name"] == "ERR_FAILED"
    assert os.strerror(errno.EISDIR) in result["message"]


def test_invalid_json_is_refused_by_the_cli(run_midimon: RunMidimon) -> None:
    """Invalid JSON in --params never reaches the plugin: the CLI exits 2 (usage error)."""
    done = run_midimon("plugins", "exec", PLUGIN, "--params", '{"path": ', "--json")
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr


@pytest.mark.parametrize(
    ("params", "offset"),
    [
        (b'{"path": "/tmp/x" "y": 1}', 18),
        (b'{"path": "/tmp/x"', 17),
        (b'{"path": "\xff"}', 10),
        (b'{"path": "\\ud83c"}', 10),
        (b'{"path": "/tmp/x"} trailing', 19),
        (b"[" * 100 + b"]" * 100, 64),
    ],
)
def test_invalid_json_is_invalid_params(
    binary: str, midimon_env: dict[str, str], tmp_path: Path, params: bytes, offset: int
) -> None:
    """Malformed params handed to execute() directly: INVALID_PARAMS with the byte offset."""
    (result,) = raw_exec(binary, midimon_env, tmp_path, params)
    assert result["status"] == 2
    assert f"at byte {offset}" in result["message"], result["message"]


def test_non_object_params_are_invalid(
    binary: str, midimon_env: dict[str, str], tmp_path: Path
) -> None:
    """Valid JSON that is not an object: INVALID_PARAMS saying an object is required."""
    (result,) = raw_exec(binary, midimon_env, tmp_path, b'["/tmp/x"]')
    assert result["status"] == 2
    assert "object" in result["message"]


def test_message_truncated_on_utf8_boundary(
    binary: str, midimon_env: dict[str, str], tmp_path: Path
) -> None:
    """A message longer than message_cap is cut to fit, NUL-terminated, never mid-character."""
    log = tmp_path / "éééééééééé🎹🎹🎹.log"
    params = json.dumps({"path": str(log)}, ensure_ascii=False).encode("utf-8")
    (full,) = raw_exec(binary, midimon_env, tmp_path, params)
    assert full["message"].endswith(str(log))
    text = bytes(full["raw"])
    caps = list(range(1, len(text) + 3))
    results = raw_exec(binary, midimon_env, tmp_path, params, caps)
    for cap, result in zip(caps, results, strict=True):
        assert result["status"] == 0
        raw = bytes(result["raw"])
        assert text.startswith(raw)
        assert len(raw) <= cap - 1
        assert len(raw) >= min(len(text), cap - 1) - 3  # drops at most a partial character
        raw.decode("utf-8")  # never ends mid-character


def test_concurrent_writers_do_not_interleave(run_midimon: RunMidimon, files: Path) -> None:
    """Eight processes appending large lines at once: every line stays whole."""
    log = files / "shared.jsonl"
    pad = "x" * 60_000

    def one(i: int) -> dict:
        return run_plugin(run_midimon, files, {"path": str(log), "writer": i, "pad": pad})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))
    assert all(r["ok"] for r in results)
    lines = read_lines(log)
    assert sorted(e["params"]["writer"] for e in lines) == list(range(8))
    assert all(e["params"]["pad"] == pad for e in lines)
