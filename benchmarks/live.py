"""A real ``midimon run`` process on a private JACK dummy server, for the benchmarks that need
the whole daemon: end-to-end latency, throughput and memory.

JACK comes from midimon.devtools.jack_server, the server the test suite uses too (``jackd
--no-realtime --sync``, dummy backend, 48 kHz, 64-frame periods), so no sound card, realtime
rights or D-Bus are needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

PORT = "midimon-bench"


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def jack_shm_kib(pid: int) -> int:
    """KiB of a process's RSS that is JACK's shared memory (/dev/shm/jack-*): the server's
    engine and port buffers, mapped into every JACK client and locked by jackd."""
    total, in_jack = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].endswith(":"):  # a mapping header line
            in_jack = len(fields) > 5 and fields[5].startswith("/dev/shm/jack")
        elif in_jack and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def largest_mappings(pid: int, count: int = 6) -> str:
    """The ``count`` files (and [heap]/[anon]) holding most of a process's RSS, JACK's shared
    memory left out: where the memory goes, e.g. '[anon] 9.2, _rust.abi3.so 7.0, ...' (MiB)."""
    totals: dict[str, int] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].endswith(":"):  # a mapping header line
            name = Path(fields[5]).name if len(fields) > 5 else "[anon]"
            if len(fields) > 5 and fields[5].startswith("/dev/shm/jack"):
                name = ""
        elif name and fields and fields[0] == "Rss:":
            totals[name] = totals.get(name, 0) + int(fields[1])
    top = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{file} {kib / 1024:.1f}" for file, kib in top)


def children(pid: int) -> list[int]:
    """Pids of the direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class LiveDaemon:
    """``with LiveDaemon(config_text) as live:`` a JACK server and ``midimon run`` on it.

    ``live.client`` talks to the daemon; ``live.output()`` gives an rtmidi output connected to
    the daemon's virtual input port. The config must set ``[device] virtual_port = "midimon-
    bench"``. Uses the XDG dirs of the environment it runs in (see harness.isolated_home).
    """

    def __init__(self, config_text: str, workdir: Path) -> None:
        self.config = workdir / "config.toml"
        self.config.write_text(config_text)
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self._outputs: list[Any] = []

    def __enter__(self) -> LiveDaemon:
        from midimon.devtools.jack_server import JackServer

        self.jack = JackServer().start()
        os.environ.update(self.jack.env)
        self.log = (self.workdir / "daemon.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "midimon", "run", "--config", str(self.config)],
            stdout=self.log, stderr=subprocess.STDOUT, env=os.environ.copy(),
        )  # fmt: skip
        try:
            self.client = self._connect()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _connect(self) -> Any:
        from midimon.daemon.client import ControlClient, IpcError

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"midimon run exited:\n{self.log_text()}")
            try:
                client = ControlClient()
                client.request("PING")
                return client
            except IpcError:
                time.sleep(0.1)
        raise RuntimeError(f"the daemon did not answer within 30 s:\n{self.log_text()}")

    def log_text(self) -> str:
        """The daemon's output so far (for error messages)."""
        self.log.flush()
        return (self.workdir / "daemon.log").read_text(errors="replace")[-3000:]

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        assert self.process is not None
        return self.process.pid

    def status(self) -> dict[str, Any]:
        """The daemon's STATUS answer."""
        return self.client.request("STATUS")

    def output(self, name: str = "bench-controller") -> Any:
        """An rtmidi MidiOut on JACK, connected to the daemon's virtual input port."""
        import rtmidi

        out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=name)
        deadline = time.monotonic() + 10
        while not any(PORT in p for p in out.get_ports()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no JACK port {PORT!r}; ports: {out.get_ports()}")
            time.sleep(0.05)
        out.open_port(next(i for i, p in enumerate(out.get_ports()) if PORT in p))
        self._outputs.append(out)
        # A connection made a moment ago may not carry the first messages yet: send a message
        # no benchmark maps (CC 119 on channel 16) until the daemon has seen one.
        seen = self.status()["midi_in"]
        while self.status()["midi_in"] == seen:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing sent to {PORT!r} reached the daemon in 10 s")
            out.send_message([0xBF, 119, 0])
            time.sleep(0.05)
        return out

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for out in self._outputs:
            out.close_port()
            out.delete()  # leave JACK before it stops (else libjack complains on stderr)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        self.jack.stop()
