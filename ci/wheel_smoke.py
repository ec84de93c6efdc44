"""A user's first commands, run from midimon installed from its wheel with no compiler around.

ci/wheel_test.sh runs this with the venv's Python, a PATH that holds only Python, sh and
coreutils, and HOME and every XDG folder inside WORK. Each check prints one line; the first that
fails stops the run with what was expected and what came out.

Usage: VENV/bin/python ci/wheel_smoke.py VENV VERSION WORK
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BUNDLED = ("file_log", "http_request", "midi_transpose")
NO_COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "cmake", "make", "cargo", "rustc", "zig")


class CheckFailed(Exception):
    """One check did not hold."""


def check(condition: bool, what: str, output: object = "") -> None:
    """Fail with ``what`` and the output that shows why, unless ``condition``."""
    if not condition:
        raise CheckFailed(f"{what}\n--- output ---\n{output}")


class Midimon:
    """Runs the venv's `midimon` command."""

    def __init__(self, venv: Path, cwd: Path) -> None:
        self.command = str(venv / "bin" / "midimon")
        self.cwd = cwd

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``midimon ARGS`` with its output captured."""
        return subprocess.run(
            [self.command, *args], cwd=self.cwd, capture_output=True, text=True, timeout=timeout
        )

    def json(self, *args: str) -> dict:
        """``midimon ARGS --json``, which must exit 0, parsed."""
        done = self.run(*args, "--json")
        check(done.returncode == 0, f"`midimon {' '.join(args)}` exited {done.returncode}",
              done.stdout + done.stderr)  # fmt: skip
        return json.loads(done.stdout)


def check_no_compiler() -> None:
    """Nothing on PATH can compile, and Zig is not importable from the venv."""
    found = {tool: shutil.which(tool) for tool in NO_COMPILERS if shutil.which(tool)}
    check(not found, "a compiler or build tool is on PATH", found)
    check(importlib.util.find_spec("ziglang") is None, "the ziglang package is in the venv")
    print(f"ok: no {', '.join(NO_COMPILERS)} on PATH; no ziglang in the venv")


def check_installed(midimon: Midimon, venv: Path, version: str) -> Path:
    """--version names the wheel's version; plugins list shows the bundled plugins in the venv.

    Returns the bundled plugins folder."""
    done = midimon.run("--version")
    check(done.stdout.strip() == f"midimon {version}", f"--version is not midimon {version}",
          done.stdout + done.stderr)  # fmt: skip
    print(f"ok: {done.stdout.strip()}")
    plugins = {p["name"]: p for p in midimon.json("plugins", "list")["plugins"]}
    check(set(BUNDLED) <= set(plugins), f"plugins list lacks some of {BUNDLED}", plugins)
    folders = {Path(plugins[name]["path"]).parent for name in BUNDLED}
    check(len(folders) == 1, "the bundled plugins are not in one folder", folders)
    (folder,) = folders
    check(folder.resolve().is_relative_to(venv.resolve()), f"{folder} is not inside {venv}")
    for name in BUNDLED:
        # A fresh install has granted nothing: a missing grant is the only problem allowed.
        status = plugins[name]["status"]
        check(status in ("ok", "not granted: will not run"), f"plugins list: {name}: {status}",
              plugins[name])  # fmt: skip
    print(f"ok: plugins list: {', '.join(BUNDLED)} verified in {folder}")
    return folder


def exec_plugin(midimon: Midimon, name: str, params: dict, *grants: str) -> dict:
    """``plugins exec NAME`` isolated, note 36 velocity 100; its result, which must be ok, from
    the sandboxed worker, trusted as bundled."""
    result = midimon.json(
        "plugins", "exec", name, "--params", json.dumps(params), "--note", "36", *grants
    )
    check(result["ok"] is True, f"plugins exec {name} failed", result)
    check(result["isolation"] == "isolated", f"{name} did not run in a worker", result)
    check(result["trust"] == "bundled", f"{name} is not trusted as bundled", result)
    print(f"ok: plugins exec {name} (isolated, bundled): {result['message']}")
    return result


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 "hello" and records each request line."""

    protocol_version = "HTTP/1.1"
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


def check_exec(midimon: Midimon, work: Path) -> None:
    """Each bundled plugin runs through `plugins exec` with only the grant it needs."""
    sent = exec_plugin(midimon, "midi_transpose", {}, "--grant", "midi")["midi_sent"]
    check(sent == [[0x90, 48, 100], [0x80, 48, 0]], "midi_transpose sent the wrong notes", sent)

    folder = work / "file_log"
    folder.mkdir()
    log = folder / "pads.log"
    exec_plugin(midimon, "file_log", {"path": str(log)},
                "--grant", "filesystem", "--grant-write", str(folder))  # fmt: skip
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    check(len(lines) == 1 and lines[0]["context"]["note"] == 36, f"{log} is wrong", lines)

    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pad?note={{note}}"
        exec_plugin(midimon, "http_request", {"url": url}, "--grant", "network")
    finally:
        server.shutdown()
        server.server_close()
    check(_Recorder.seen == ["GET /pad?note=36"], "the HTTP server saw the wrong requests",
          _Recorder.seen)  # fmt: skip


def check_verify(midimon: Midimon, folder: Path) -> None:
    """`midimon verify` accepts each bundled folder against the installed RECORD."""
    for name in BUNDLED:
        done = midimon.run("verify", str(folder / name))
        out = done.stdout + done.stderr
        check(done.returncode == 0 and "verdict: OK" in out, f"verify {name} failed", out)
        check("hashes match the installed package RECORD" in out,
              f"verify {name} did not check the RECORD", out)  # fmt: skip
        print(f"ok: verify {folder / name}: verdict OK, hashes match RECORD")


def check_tampered_refused(midimon: Midimon, folder: Path) -> None:
    """A bundled plugin changed after install fails verify: the RECORD check is live here too."""
    binary = folder / "http_request" / "http_request.so"
    original = binary.read_bytes()
    binary.write_bytes(original + b"\0")
    try:
        done = midimon.run("verify", str(binary.parent))
    finally:
        binary.write_bytes(original)
    out = done.stdout + done.stderr
    check(done.returncode != 0, "verify accepted a modified bundled plugin", out)
    check("was modified after midimon was installed" in out,
          "verify did not say the bundled plugin was modified", out)  # fmt: skip
    print(f"ok: verify refuses {binary.name} modified after install")


def check_demo(midimon: Midimon) -> None:
    """The demo turns its notes into the three bundled plugins' actions and exits 0."""
    done = midimon.run("run", "--demo", "--exit-after-demo", timeout=120)
    out = done.stdout
    check(done.returncode == 0, f"the demo exited {done.returncode}", out + done.stderr)
    for name in BUNDLED:
        check(f"-> Plugin OK: {name}" in out, f"the demo did not run {name}", out)
    check("[midi_transpose] send_midi 90 34 7f" in out, "the demo sent no MIDI", out)
    check(out.rstrip().endswith("midimon stopping"), "the demo did not stop cleanly", out)
    print("ok: run --demo --exit-after-demo: http_request, file_log, midi_transpose OK")


def main(venv: Path, version: str, work: Path) -> int:
    """Run every check; 0 when all hold."""
    midimon = Midimon(venv, work)
    try:
        check_no_compiler()
        folder = check_installed(midimon, venv, version)
        check_exec(midimon, work)
        check_verify(midimon, folder)
        check_tampered_refused(midimon, folder)
        check_demo(midimon)
    except CheckFailed as failure:
        print(f"wheel_smoke: FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.rsplit("Usage: ", 1)[1])
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
