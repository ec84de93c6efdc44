"""The control panel tests' harness: one JACK dummy server, daemon and panel per test module
(each its own XDG dirs), Debian's chromium driven by Playwright, and screenshots kept as CI
output."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import IN_CI, REPO, require_tool, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: When this test run imported the harness (time.time()): a screenshot older than that is left
#: from an earlier run.
RUN_STARTED = time.time()
URL_LINE = re.compile(r"midimon control panel: (http://127\.0\.0\.1:(\d+)/login\?token=(\S+))")


def screenshot_dir() -> Path:
    """Where page screenshots go: $MIDIMON_SCREENSHOTS, else ci-artifacts/screenshots/."""
    path = Path(os.environ.get("MIDIMON_SCREENSHOTS") or REPO / "ci-artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_env(root: Path) -> dict[str, str]:
    """An environment with every XDG dir (and HOME) under ``root``."""
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = root / "xdg" / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    runtime = root / "xdg" / "runtime"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["XDG_DATA_DIRS"] = str(root / "xdg" / "system_data")
    (root / "home").mkdir(exist_ok=True)
    env["HOME"] = str(root / "home")
    env.pop("PYTHONPATH", None)
    return env


def midimon(env: dict[str, str], *args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the installed CLI in ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "midimon", *map(str, args)], env=env, cwd=env["HOME"],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def midimon_json(env: dict[str, str], *args: object) -> Any:
    """Run the CLI with --json and parse its answer (it must succeed)."""
    done = midimon(env, *args, "--json")
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return json.loads(done.stdout)


def control(env: dict[str, str], command: str, **args: object) -> Any:
    """One control command to the daemon of ``env`` (run in a child: XDG dirs differ here)."""
    code = (
        "import json,sys\nfrom midimon.daemon.client import ControlClient\n"
        "print(json.dumps(ControlClient().request(sys.argv[1], json.loads(sys.argv[2]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, command, json.dumps(args)], env=env, cwd=env["HOME"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, (command, done.stderr)
    return json.loads(done.stdout)


@dataclass
class Daemon:
    """A running `midimon run` and its environment."""

    proc: subprocess.Popen[str]
    env: dict[str, str]
    root: Path
    log: Path


@dataclass
class Panel:
    """A running `midimon ui --no-browser`."""

    proc: subprocess.Popen[str]
    url: str
    port: int
    token: str
    stderr: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_daemon(root: Path, env: dict[str, str], config: str) -> Daemon:
    """`midimon run --config` on ``config``, answering STATUS before this returns."""
    path = root / "config.toml"
    path.write_text(config)
    log = root / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "midimon", "-v", "run", "--config", str(path)], env=env,
        cwd=env["HOME"], stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def answers() -> bool:
        assert proc.poll() is None, log.read_text()
        return midimon(env, "status", "--json").returncode == 0

    if not wait_for(answers, 30, interval=0.2):
        pytest.fail("the daemon did not answer STATUS within 30 s")
    return Daemon(proc, env, root, log)


def start_panel(env: dict[str, str], root: Path, *extra: str) -> Panel:
    """`midimon ui --no-browser`, once it printed its URL."""
    stderr = root / "panel.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "midimon", "-vv", "ui", "--no-browser", *extra], env=env,
        cwd=env["HOME"], stdout=subprocess.PIPE, stderr=stderr.open("w"), text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = URL_LINE.search(line)
    assert found, (line, stderr.read_text())
    return Panel(proc, found.group(1), int(found.group(2)), found.group(3), stderr)


def stop(proc: subprocess.Popen[str]) -> None:
    """Terminate ``proc`` and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def ui_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's folder for XDG dirs, configs and logs."""
    return tmp_path_factory.mktemp("ui")


@pytest.fixture(scope="module")
def ui_env(ui_root: Path) -> dict[str, str]:
    """This module's environment (XDG dirs under ui_root)."""
    return make_env(ui_root)


@pytest.fixture(scope="module")
def jack_env(ui_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """ui_env with a private JACK dummy server of its own."""
    from midimon.devtools.jack_server import JackServer

    require_tool("jackd")
    require_tool("jack_wait")
    server = JackServer().start()
    env = {**ui_env, **server.env}
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)  # this process's own MIDI clients (the controller) too
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (its own browser download is never used)."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (.ci/run installs the chromium package)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is not installed (it is in the test extra)")
        pytest.skip("playwright is not installed")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Screenshot the page as ``name``.png in the screenshot dir (the viewport only with a
    modal open: its backdrop covers the viewport, not the whole page)."""
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Fail unless ``predicate`` becomes true within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    assert predicate()


def browser_script(root: Path) -> tuple[str, Path]:
    """A $BROWSER command that writes the URL it is given to a file."""
    opened = root / "opened.txt"
    script = root / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {opened}\n')
    script.chmod(0o755)
    return f"{script} %s", opened


class Http:
    """Real HTTP to one panel: raw requests (no client-side rewriting of the path or Host),
    and a logged-in session (cookie and key) for the API."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self.cookie = ""
        self.key = ""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.panel.port}"

    def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None,
        body: bytes | None = None, timeout: float = 60,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request: (status, lower-cased headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.panel.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"127.0.0.1:{self.panel.port}")
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def login(self) -> Http:
        """Exchange the start token for a session, as the page does."""
        status, headers, _ = self.call("GET", f"/login?token={self.panel.token}")
        assert status == 303, status
        self.cookie = headers["set-cookie"].split(";")[0]
        self.key = headers["location"].split("#session=", 1)[1]
        return self

    def session_headers(self, **extra: str) -> dict[str, str]:
        """The cookie, the key and the panel's own Origin (what the page sends)."""
        return {"Cookie": self.cookie, "X-CSRF-Token": self.key, "Origin": self.origin, **extra}

    def get(self, path: str) -> tuple[int, Any]:
        """GET an API path in the session: (status, parsed JSON or text)."""
        status, headers, body = self.call("GET", path, headers=self.session_headers())
        return status, _parsed(headers, body)

    def post(self, path: str, payload: Any = None) -> tuple[int, Any]:
        """POST JSON to an API path in the session: (status, parsed JSON or text)."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = self.session_headers(**{"Content-Type": "application/json"})
        status, answer, data = self.call("POST", path, headers=headers, body=body)
        return status, _parsed(answer, data)

    def upload(
        self, path: str, file: Path | None, options: Any = None, field: str = "file"
    ) -> tuple[int, Any]:
        """POST a multipart form (``file``, and ``options`` as JSON) as the page's upload."""
        boundary = "midimon-test-boundary"
        parts = []
        if file is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                f'filename="{file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                .encode() + file.read_bytes() + b"\r\n"
            )  # fmt: skip
        if options is not None:
            text = options if isinstance(options, str) else json.dumps(options)
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="options"\r\n\r\n'
                f"{text}\r\n".encode()
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = self.session_headers(
            **{"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        status, answer, data = self.call("POST", path, headers=headers, body=body)
        return status, _parsed(answer, data)


def _parsed(headers: dict[str, str], body: bytes) -> Any:
    if headers.get("content-type", "").startswith("application/json"):
        return json.loads(body)
    return body.decode(errors="replace")


def build_packages(env: dict[str, str], root: Path, name: str, description: str) -> dict[str, Path]:
    """A signed package of the test plugin ``name`` asking for Network (its key generated and
    trusted in ``env``) and a copy whose binary was changed after signing: {"good", "tampered"}."""
    from helpers import compile_plugin, trusted_key, write_manifest

    key = trusted_key(lambda *args: midimon(env, *args), root / "keys")
    folder = root / "src" / name
    folder.mkdir(parents=True)
    compile_plugin(folder / "plugin.so", {"P_NAME": f'"{name}"', "P_CAPS": "MIDIMON_CAP_NETWORK"})
    write_manifest(
        folder, name, description=description, author="Alice", capabilities={"network": True}
    )
    assert midimon(env, "sign", folder, "-s", key).returncode == 0
    done = midimon(env, "pack", folder, "-o", root, "--json")
    assert done.returncode == 0, done.stderr
    good = Path(json.loads(done.stdout)["file"])
    tampered = root / f"tampered-{name}.midimon-plugin"
    with tarfile.open(good) as source, tarfile.open(tampered, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "plugin.so":
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            out.addfile(member, io.BytesIO(data))
    return {"good": good, "tampered": tampered}
