"""A private JACK server (jackd2, dummy backend) for midimon's MIDI tests and benchmarks: no sound
card, realtime rights or D-Bus. It only starts ``jackd -d dummy`` under a private server name."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from midimon.errors import MidimonError

_COUNTER = itertools.count()


class JackToolMissing(MidimonError, FileNotFoundError):
    """jackd or jack_wait is not on PATH (both come with the jackd2 package)."""

    def __init__(self, tool: str) -> None:
        super().__init__(
            f"{tool} is not installed (install jackd2, which provides jackd and jack_wait)"
        )
        self.tool = tool


def find_tool(name: str) -> str:
    """The path of a JACK tool; raises JackToolMissing naming it."""
    path = shutil.which(name)
    if path is None:
        raise JackToolMissing(name)
    return path


class JackServer:
    """One private ``jackd`` with the dummy backend, named ``midimon-test-<pid>-<n>``.

    Clients reach it through ``JACK_DEFAULT_SERVER=<name>`` (see ``env``); the ``jack_server``
    fixture (tests/conftest.py) sets that variable in the test process; benchmarks/live.py sets it
    for the daemon it starts. Flags (jackd2 1.9.21):
    ``jackd --no-realtime --sync -n NAME -d dummy -r 48000 -p 64``, with
    ``JACK_NO_AUDIO_RESERVATION=1`` so jackd never asks D-Bus for the audio device (works as
    root, without a session bus). ``--sync`` matters: in the default asynchronous mode a client
    that finishes late on a busy machine ("ProcessGraphAsyncMaster: Process error") loses or
    garbles that period's MIDI events; in sync mode the server waits for every client.
    """

    def __init__(self, rate: int = 48000, period: int = 64) -> None:
        self.jackd = find_tool("jackd")
        self.jack_wait = find_tool("jack_wait")
        self.rate = rate
        self.period = period
        self.name = f"midimon-test-{os.getpid()}-{next(_COUNTER)}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="midimon-jack-")
        self.log_path = Path(self._log_dir.name) / "jackd.log"

    @property
    def command(self) -> list[str]:
        """The jackd command line."""
        return [
            self.jackd,
            "--no-realtime",
            "--sync",
            "-n",
            self.name,
            "-d",
            "dummy",
            "-r",
            str(self.rate),
            "-p",
            str(self.period),
        ]

    @property
    def env(self) -> dict[str, str]:
        """Environment variables a client needs to reach this server (and never start one)."""
        return {
            "JACK_DEFAULT_SERVER": self.name,
            "JACK_NO_START_SERVER": "1",
            "JACK_NO_AUDIO_RESERVATION": "1",
        }

    def start(self, timeout: float = 10.0) -> JackServer:
        """Start jackd and wait until clients can connect; raises RuntimeError with its log."""
        env = {**os.environ, **self.env}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jackd exited with status {self.process.returncode}: "
                    f"{' '.join(self.command)}\n{self.log()}"
                )
            if self.is_running():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"jackd did not become ready in {timeout} s\n{self.log()}")

    def is_running(self) -> bool:
        """Whether the server accepts clients (``jack_wait -c``, shipped in the jackd2 package)."""
        done = subprocess.run(
            [self.jack_wait, "-s", self.name, "-c"],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=10,
        )
        return done.stdout.strip() == "running"

    def log(self) -> str:
        """What jackd printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its log folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log_dir.cleanup()

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
