"""A real JACK server (jackd2, dummy backend) for MIDI tests: no sound card, realtime or D-Bus."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from helpers import require_tool

_COUNTER = itertools.count()


class JackServer:
    """One private ``jackd`` with the dummy backend, named ``midimon-test-<pid>-<n>``.

    Clients reach it through ``JACK_DEFAULT_SERVER=<name>`` (see ``env``); the ``jack_server``
    fixture sets that variable in the test process. Flags (jackd2 1.9.21):
    ``jackd --no-realtime --sync -n NAME -d dummy -r 48000 -p 64``, with
    ``JACK_NO_AUDIO_RESERVATION=1`` so jackd never asks D-Bus for the audio device (works as
    root, without a session bus). ``--sync`` matters: in the default asynchronous mode a client
    that finishes late on a busy machine ("ProcessGraphAsyncMaster: Process error") loses or
    garbles that period's MIDI events; in sync mode the server waits for every client.
    """

    def __init__(self, rate: int = 48000, period: int = 64) -> None:
        self.jackd = require_tool("jackd")
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
        jack_wait = require_tool("jack_wait")
        done = subprocess.run(
            [jack_wait, "-s", self.name, "-c"],
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
