"""Run one trigger plugin (ABI 1.1) in its own sandboxed worker and receive its events.

A trigger plugin is loaded exactly as an action plugin (verified image, sealed memfd, the same
sandbox and grants: a UDP listen without the Network grant is refused by seccomp), then started
with START. From then on its threads call ``emit_event``; each event crosses the worker socket
as an EVENT message. One reader thread per trigger worker receives them, checks each (a bounded
UTF-8 name, a finite value, fields in range: anything else is a protocol violation and kills the
worker), applies the per-plugin cap on events per second (the worker applies it too, but plugin
code can write to the socket itself), and hands the event to ``on_event``. Nothing here runs on
the MIDI path: the caller's ``on_event`` is expected to queue the event, not to act on it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from midimon.plugins.errors import PluginCallError, ProtocolViolation, WorkerError
from midimon.plugins.sandbox.trigger_wire import (
    WireEvent,
    decode_event,
    decode_events_dropped,
    start_message,
)
from midimon.plugins.sandbox.wire import (
    MESSAGE_NAMES,
    Wire,
    decode_status,
    message,
    parse_datagram,
)
from midimon.plugins.sandbox.worker import WorkerProcess

log = logging.getLogger(__name__)

_POLL_MS = 200  # the reader looks at its stop flag this often when nothing arrives


@dataclass(frozen=True)
class PluginEvent:
    """One event a trigger plugin emitted, stamped when the host received it."""

    plugin: str
    name: str
    value: float
    number: int | None = None
    velocity: int | None = None
    channel: int | None = None
    timestamp_ns: int = field(default_factory=time.monotonic_ns)
    wall_time_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)


@dataclass
class TriggerCounters:
    """What one trigger worker received: delivered, and dropped at the cap (host or worker)."""

    received: int = 0
    delivered: int = 0
    dropped_rate: int = 0  # past the host's cap
    dropped_in_worker: int = 0  # past the worker's cap (the worker's own count)

    def as_dict(self) -> dict[str, int]:
        """The counters as plain numbers."""
        return {
            "received": self.received,
            "delivered": self.delivered,
            "dropped_rate": self.dropped_rate,
            "dropped_in_worker": self.dropped_in_worker,
        }


class _Bucket:
    """``rate`` events per second, bursts of one second's worth; used by the reader only."""

    def __init__(self, rate: int) -> None:
        self.rate = float(rate)
        self.tokens = float(rate)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class TriggerWorker:
    """A started, initialized WorkerProcess of a trigger plugin, and its reader thread.

    ``on_event(event)`` and ``on_exit(error)`` run on the reader thread; ``on_exit`` gets the
    WorkerError (crash, protocol violation) when the worker was lost, or None after stop().
    ``on_drop(count)`` runs there too when events were dropped at the cap.
    """

    def __init__(
        self,
        worker: WorkerProcess,
        max_events_per_s: int,
        on_event: Callable[[PluginEvent], None],
        on_exit: Callable[[WorkerError | None], None] | None = None,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        if worker._sock is None:
            raise WorkerError(f"{worker.plugin_name}: the worker is not running")
        self.worker = worker
        self.plugin_name = worker.plugin_name
        self.max_events_per_s = max(1, min(int(max_events_per_s), Wire.MAX_EVENT_RATE))
        self.counters = TriggerCounters()
        self._on_event = on_event
        self._on_exit = on_exit
        self._on_drop = on_drop
        self._bucket = _Bucket(self.max_events_per_s)
        self._lock = threading.Lock()
        self._replies: dict[int, int] = {}  # seq -> STATUS
        self._replied = threading.Condition(self._lock)
        self._stopping = False
        self._done = False
        self.error: WorkerError | None = None  # why the worker was lost
        self._thread = threading.Thread(
            target=self._read_loop, name=f"trigger-{self.plugin_name}", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the reader still serves a running worker."""
        return not self._done

    def start(self, timeout: float, settings_json: bytes = b"{}") -> None:
        """START: the plugin's start() with its settings; PluginCallError when it fails,
        WorkerError when the worker is lost or does not answer in ``timeout`` seconds (it is
        killed then). ValueError for settings over 60000 bytes."""
        seq = self.worker._next_seq()
        datagram = start_message(seq, self.max_events_per_s, settings_json)
        status = self._request(datagram, seq, timeout, "start")
        if status != 0:
            raise PluginCallError(self.plugin_name, "start", status, "")

    def stop(self, timeout: float = 1.0) -> None:
        """STOP then SHUTDOWN, and wait for the worker to exit; killed past ``timeout``."""
        with self._lock:
            self._stopping = True
        deadline = time.monotonic() + timeout
        with contextlib.suppress(WorkerError, OSError, AssertionError):
            if not self._done:
                seq = self.worker._next_seq()
                self._request(message(Wire.STOP, seq), seq, timeout / 2, "stop")
                seq = self.worker._next_seq()
                self.worker._send(message(Wire.SHUTDOWN, seq), deadline, "shutdown")
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self.worker.kill()
            self._thread.join(1.0)
        self.worker._finish()

    def kill(self) -> None:
        """Kill the worker's group at once (the reader then reports the loss)."""
        self.worker.kill()

    # -- the reader thread -----------------------------------------------------------------------
    def _request(self, datagram: bytes, seq: int, timeout: float, call: str) -> int:
        deadline = time.monotonic() + timeout
        self.worker._send(datagram, deadline, call)
        with self._lock:
            while seq not in self._replies:
                remaining = deadline - time.monotonic()
                if self._done:
                    raise self.error or WorkerError(
                        f"{self.plugin_name}: the worker was lost during {call}"
                    )
                if remaining <= 0:
                    self.worker.kill()
                    raise WorkerError(f"{self.plugin_name}: {call}() did not return in {timeout} s")
                self._replied.wait(remaining)
            return self._replies.pop(seq)

    def _read_loop(self) -> None:
        error: WorkerError | None = None
        try:
            error = self._serve()
        except Exception as exc:  # never die silently
            log.exception("%s: the trigger reader failed", self.plugin_name)
            self.worker.kill()
            error = WorkerError(f"{self.plugin_name}: the trigger reader failed ({exc})")
        with self._lock:
            self.error = error
            self._done = True
            stopping = self._stopping
            self._replied.notify_all()
        if stopping and error is not None and "protocol violation" not in str(error):
            error = None  # the worker exited (or was killed) because we stopped it
        if error is not None:
            log.warning("%s", error)
        if self._on_exit is not None:
            try:
                self._on_exit(error)
            except Exception:
                log.exception("%s: the trigger exit handler failed", self.plugin_name)

    def _serve(self) -> WorkerError | None:
        worker = self.worker
        sock = worker._sock
        assert sock is not None
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        rx, view = worker._rx, worker._rx_view
        while True:
            poller.poll(_POLL_MS)
            for _ in range(256):
                try:
                    size = sock.recv_into(rx)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    if exc.errno in (errno.ECONNRESET, errno.ENOTCONN, errno.EBADF):
                        return worker._crashed("events")
                    raise
                if not size:
                    return worker._crashed("events")
                try:
                    self._dispatch(*parse_datagram(view[:size]))
                except ProtocolViolation as exc:
                    return worker._crashed("events", f"protocol violation: {exc}")

    def _dispatch(self, kind: int, seq: int, payload: bytes) -> None:
        worker = self.worker
        if kind == Wire.EVENT:
            self._on_wire_event(decode_event(payload))
        elif kind == Wire.EVENTS_DROPPED:
            count = decode_events_dropped(payload)
            self.counters.dropped_in_worker += count
            self._dropped(count)
        elif kind == Wire.LOG:
            worker._on_log(payload)
        elif kind == Wire.DENIED:
            worker._on_denied(payload)
        elif kind == Wire.SEND_MIDI:
            worker._on_send_midi(seq, payload, time.monotonic() + 1.0, "start")
        elif kind == Wire.STATUS:
            status = decode_status(payload)
            with self._lock:
                self._replies[seq] = status
                self._replied.notify_all()
        else:
            name = MESSAGE_NAMES.get(kind, f"type 0x{kind:x}")
            raise ProtocolViolation(f"unexpected {name} #{seq} from a trigger plugin")

    def _on_wire_event(self, event: WireEvent) -> None:
        counters = self.counters
        counters.received += 1
        dropped = 0
        if event.dropped_before:
            counters.dropped_in_worker += event.dropped_before
            dropped += event.dropped_before
        if not self._bucket.take():
            counters.dropped_rate += 1
            dropped += 1
        else:
            counters.delivered += 1
            try:
                self._on_event(
                    PluginEvent(
                        self.plugin_name,
                        event.name,
                        event.value,
                        event.number,
                        event.velocity,
                        event.channel,
                    )
                )
            except Exception:
                log.exception("%s: the event handler failed", self.plugin_name)
        if dropped:
            self._dropped(dropped)

    def _dropped(self, count: int) -> None:
        if self._on_drop is not None:
            try:
                self._on_drop(count)
            except Exception:
                log.exception("%s: the drop handler failed", self.plugin_name)
