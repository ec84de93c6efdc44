"""Pipelined execute() calls to one worker: several in flight, answered in order, read by a thread.

After the plugin is initialized, a :class:`CallPipeline` owns the worker's conversation. Any
thread may :meth:`~CallPipeline.submit` a call; it never waits for the worker. A call goes out at
once when the worker has nothing else in flight (the lowest latency for a lone call); while
calls are in flight, new ones queue and the reader thread sends everything queued as one
datagram as soon as the next answer arrives (protocol 2 packs messages; one write and one
worker wake-up for all of them). The reader thread reads every answer waiting per wake-up,
matches each to its call by sequence number (the worker answers strictly in order), and hands
the finished call to its ``on_done`` callback (or wakes the thread waiting in :meth:`call`).

Failures belong to one call: the worker runs one call at a time, in order, so when it dies the
call it was running is the oldest unanswered one. That call gets the WorkerCrashed (or the
WorkerTimeout); every later queued call gets :class:`CallNotRun` naming it, and nothing is lost
silently. The queue is bounded (``queue_size`` calls sent or waiting); past it
:meth:`~CallPipeline.submit` raises :class:`PipelineFull` at once: the caller drops and counts.

Timeouts are per call and measured from when the worker starts the call: the moment it was
sent, or the moment the answer to the call before it arrived, whichever is later (the worker
starts a call as soon as it has answered the previous one). A call queued behind a slow one is
not charged for the wait.

A call the native dispatch writes itself (:meth:`CallPipeline.native_channel`) is taken over as
the pipeline's own before anything else: timed, answered and failed like any other.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from midimon.plugins.errors import (  # defined there; importable from here too
    CallNotRun,
    PipelineFull,
    ProtocolViolation,
    WorkerCrashed,
    WorkerError,
    WorkerTimeout,
)
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.sandbox.native_channel import Adopter, NativeChannel
from midimon.plugins.sandbox.pending import PendingCall
from midimon.plugins.sandbox.wire import (
    MAX_DATAGRAM,
    Wire,
    decode_result,
    execute_messages,
    parse_datagram,
)
from midimon.plugins.sandbox.worker import WorkerProcess

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 4096  # calls sent and not answered, or waiting to be sent
_IDLE_POLL_MS = 50.0  # the reader's longest sleep: how late a hang may be noticed
_DEEP_SLEEP_AFTER = 1.0  # seconds without a call before the reader sleeps until woken
_READS_PER_WAKE = 512  # answers read before callbacks run and queued calls are flushed
_RESULT_HEAD = struct.Struct("<IIIIi")  # the header and a RESULT's status


class CallPipeline:
    """The execute() calls of one started, initialized worker. Thread-safe."""

    def __init__(self, worker: WorkerProcess, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if worker._sock is None:
            raise WorkerError(f"{worker.plugin_name}: the worker is not running")
        self.worker = worker
        self.plugin_name = worker.plugin_name
        self.queue_size = max(1, int(queue_size))
        # Senders write through their own duplicate of the socket, under the lock, so the
        # reader closing the worker's copy can never make a send hit a reused fd number.
        self._tx: socket.socket | None = worker._sock.dup()
        self._tx.setblocking(False)
        self._lock = threading.Lock()
        self._in_flight: deque[PendingCall] = deque()  # sent, unanswered, in seq order
        self._unsent: deque[tuple[PendingCall, list[bytes]]] = deque()
        self._blocked = False  # the socket was full: the reader sends when it is writable
        self._seq = worker._seq
        self._last_answer = 0.0  # time.monotonic() of the last answer
        self._dead: WorkerError | None = None
        self._closing = False  # no new calls; the queued ones may still be answered
        self._stop = False  # the reader returns
        self._asleep = False  # the reader sleeps without a deadline (idle for a while)
        self.calls_sent = 0  # calls written to the worker
        self.datagrams_sent = 0  # the writes that carried them (fewer: packed)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._channel: NativeChannel | None = None  # the native dispatch's sends, once asked
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(
            target=self._read_loop, name=f"midimon-{self.plugin_name}-reader", daemon=True
        )
        self._thread.start()

    # -- submitting ------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Whether calls are accepted (the worker is alive and not shutting down)."""
        return self._dead is None and not self._closing

    def native_channel(self, ffi: Any, lib: Any, adopt: Adopter) -> NativeChannel | None:
        """The native dispatch's channel for sending calls itself (None once the worker is gone
        or shutting down); ``adopt`` makes each such call's PendingCall (lock held)."""
        with self._lock:
            if self._dead is not None or self._closing or self._tx is None:
                return None
            if self._channel is None:
                tx, wake = self._tx.fileno(), self._wake_w
                self._channel = NativeChannel(ffi, lib, tx, wake, self._seq, self.queue_size, adopt)
            return self._channel

    def _took(self, calls: list[PendingCall]) -> None:  # the walk's, taken over; lock held
        self._in_flight.extend(calls)  # the newest in flight (sent after every call of ours)
        self.calls_sent += len(calls)

    def _close_channel(self) -> None:
        """No more sends from the walk; its calls not taken over yet become ours. Lock held."""
        channel, self._channel = self._channel, None
        if channel is not None:
            self._seq, calls = channel.close()
            self._took(calls)

    @property
    def queued(self) -> int:
        """Calls sent and unanswered, or waiting to be sent."""
        return len(self._in_flight) + len(self._unsent)

    def submit(
        self,
        params_json: bytes,
        context: TriggerContext,
        timeout: float,
        on_done: Callable[[PendingCall], None] | None = None,
        tag: object = None,
    ) -> PendingCall:
        """Queue one execute() call; never waits for the worker.

        ``on_done(call)`` runs on the reader thread once the call is answered or failed.
        Raises PipelineFull when ``queue_size`` calls are already queued (the call is dropped),
        WorkerError when the worker is gone or shutting down, ValueError for params or a
        context the wire cannot carry.
        """
        with self._lock:
            if self._dead is not None or self._closing:
                raise WorkerError(
                    f"{self.plugin_name}: the worker is gone ({self._dead or 'shutting down'})"
                )
            if len(self._in_flight) + len(self._unsent) >= self.queue_size:
                raise PipelineFull(self.plugin_name, self.queue_size)
            channel = self._channel
            if channel is None:
                seq = self._seq % 0x7FFFFFFF + 1
            else:  # the walk's call, if any, goes before this one
                seq, sent = channel.claim()
                self._took(sent)
            try:
                datagrams = execute_messages(seq, params_json, context)
            except ValueError:  # nothing sent: the number stays unused
                if channel is not None:
                    channel.abandon()
                raise
            self._seq = seq
            call = PendingCall(seq, timeout, on_done, tag)
            busy = bool(self._in_flight or self._unsent)
            self._unsent.append((call, datagrams))
            if not busy:  # else it goes out with the next answer, packed with the others
                self._flush_locked()
                if self._blocked or self._asleep:
                    # The reader sends the rest when the socket is writable / it sleeps without
                    # a deadline: it must start timing this call.
                    self._asleep = False
                    self._wake()
            return call

    def call(self, params_json: bytes, context: TriggerContext, timeout: float) -> tuple[int, str]:
        """Submit one call and wait for it: (status, message), or its WorkerError."""
        event = threading.Event()
        pending = self.submit(params_json, context, timeout, lambda _: event.set())
        event.wait()
        return pending.outcome()

    def _flush_locked(self) -> None:
        """Send what is queued, packing messages into datagrams; stops when the socket is full
        (the reader sends the rest when it is writable). Called with the lock held."""
        tx = self._tx
        unsent = self._unsent
        while unsent and tx is not None:
            parts: list[bytes] = []
            done: list[PendingCall] = []
            size = 0
            while unsent:
                call, datagrams = unsent[0]
                message = datagrams[0]
                if parts and size + len(message) > MAX_DATAGRAM:
                    break
                parts.append(message)
                size += len(message)
                if len(datagrams) > 1:  # a call with params in several chunks
                    del datagrams[0]
                    break
                unsent.popleft()
                done.append(call)
            try:
                tx.send(parts[0] if len(parts) == 1 else b"".join(parts))
            except (BlockingIOError, InterruptedError):
                self._requeue(parts, done)
                self._blocked = True
                return
            except OSError as exc:
                if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                    log.warning("%s: send to the worker failed: %s", self.plugin_name, exc)
                # The worker is gone: the reader sees it and fails every queued call.
                self._requeue(parts, done)
                return
            now = time.monotonic()
            if self._channel is not None:  # the walk may send behind these now
                self._channel.written(len(done))
            self.datagrams_sent += 1
            self.calls_sent += len(done)
            for call in done:
                call.sent_at = now
                self._in_flight.append(call)
        self._blocked = False

    def _requeue(self, parts: list[bytes], done: list[PendingCall]) -> None:
        """Put back what a failed send held, in order."""
        if len(done) < len(parts):  # the last part was one chunk of a call still queued
            self._unsent[0][1].insert(0, parts[-1])
        for call, message in reversed(list(zip(done, parts, strict=False))):
            self._unsent.appendleft((call, [message]))

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    # -- closing ---------------------------------------------------------------------------------
    def close(self, grace: float = 1.0) -> bool:
        """Stop accepting calls, give the queued ones up to ``grace`` seconds to be answered,
        fail the rest (CallNotRun) and stop the reader. True when nothing was left unanswered
        (the worker can then be shut down gracefully)."""
        deadline = time.monotonic() + grace
        with self._lock:
            self._closing = True
            self._close_channel()
            while (self._in_flight or self._unsent) and self._dead is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            clean = not self._in_flight and not self._unsent and self._dead is None
            self._stop = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        if not clean:
            shut = WorkerError(f"{self.plugin_name}: the plugin was shut down")
            self._fail_all(shut, all_not_run=True)
        with self._lock:
            if self._tx is not None:
                self._tx.close()
                self._tx = None
            self.worker._seq = self._seq  # the worker's own requests (SHUTDOWN) follow on
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
        return clean

    # -- the reader thread -----------------------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            self._serve()
        except Exception:  # never die silently: fail everything queued
            log.exception("%s: the worker's reader failed", self.plugin_name)
            self.worker.kill()
            self._fail_all(WorkerError(f"{self.plugin_name}: the worker's reader failed"))

    def _serve(self) -> None:
        worker = self.worker
        sock = worker._sock
        assert sock is not None
        sock_fd = sock.fileno()
        pidfd = worker._pidfd
        poller = select.poll()
        poller.register(sock_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        rx, view = worker._rx, worker._rx_view
        result_kind = Wire.RESULT
        result_head = _RESULT_HEAD
        want_out = False
        while True:
            with self._lock:
                if self._stop:
                    return
                channel = self._channel
                if channel is not None:
                    self._took(channel.adopt())
                head = self._in_flight[0] if self._in_flight else None
                wait_ms: float | None = _IDLE_POLL_MS  # a call sent meanwhile is seen within it
                idle_for = time.monotonic() - self._last_answer
                if head is None and not self._unsent and idle_for > _DEEP_SLEEP_AFTER:
                    asleep, sent = channel.sleep() if channel is not None else (True, [])
                    self._took(sent)
                    head = sent[0] if sent else None
                    if asleep:
                        self._asleep = True  # the next submit (or the walk's send) wakes it
                        wait_ms = None
                if self._blocked != want_out:
                    want_out = self._blocked
                    events = select.POLLIN | (select.POLLOUT if want_out else 0)
                    poller.modify(sock_fd, events)
            if head is not None:
                deadline = max(head.sent_at, self._last_answer) + head.timeout
                wait_ms = max(0.0, deadline - time.monotonic()) * 1000
            ready = poller.poll(wait_ms)
            exited = False
            for fd, _revents in ready:
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif fd == pidfd:
                    exited = True
            answered: list[PendingCall] = []
            lost = False
            violation = ""
            for _ in range(_READS_PER_WAKE):
                try:
                    size = sock.recv_into(rx)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    lost = True
                    break
                if not size:
                    lost = True
                    break
                if size >= 20 and size <= MAX_DATAGRAM:
                    kind, seq, length, reserved, status = result_head.unpack_from(rx)
                    if kind == result_kind and length == size - 16 and not reserved:
                        violation = self._answer(seq, status, view, size, answered)
                        if violation:
                            break
                        continue
                violation = self._other(view, size)
                if violation:
                    break
            with self._lock:
                if answered:
                    self._last_answer = time.monotonic()
                    if self._channel is not None:
                        self._channel.release(len(answered))
                if self._unsent and not violation and not lost:
                    self._flush_locked()
                if not self._in_flight and not self._unsent:
                    self._idle.notify_all()
            for call in answered:
                self._finished(call)
            if violation:
                self._lost(f"protocol violation: {violation}")
                return
            if lost or (exited and not _readable(sock_fd)):
                self._lost("")
                return
            if head is not None and not answered:
                deadline = max(head.sent_at, self._last_answer) + head.timeout
                if time.monotonic() >= deadline:
                    self._timed_out(head)
                    return

    def _answer(
        self, seq: int, status: int, view: memoryview, size: int, answered: list[PendingCall]
    ) -> str:
        """Match a RESULT to the oldest call in flight; '' or what was wrong with it."""
        with self._lock:
            if not self._in_flight and self._channel is not None:  # the walk's, not taken yet
                self._took(self._channel.adopt())
            head = self._in_flight[0] if self._in_flight else None
            if head is None or head.seq != seq:
                expected = f"#{head.seq}" if head is not None else "none"
                return f"RESULT #{seq}, expected {expected}"
            self._in_flight.popleft()
        if size > 20:
            try:
                head.status, head.message = decode_result(bytes(view[16:size]))
            except ProtocolViolation as exc:
                return str(exc)
        else:
            head.status = status
        answered.append(head)
        return ""

    def _other(self, view: memoryview, size: int) -> str:
        """A LOG, DENIED or SEND_MIDI (served here), else a violation: '' or what was wrong."""
        worker = self.worker
        try:
            kind, seq, payload = parse_datagram(view[:size])
            if kind == Wire.LOG:
                worker._on_log(payload)
            elif kind == Wire.DENIED:
                worker._on_denied(payload)
            elif kind == Wire.SEND_MIDI:
                worker._on_send_midi(seq, payload, time.monotonic() + 1.0, "execute")
            elif kind == Wire.SET_LED:
                worker._on_set_led(seq, payload, time.monotonic() + 1.0, "execute")
            else:
                return f"unexpected message type 0x{kind:x} #{seq} between calls"
        except ProtocolViolation as exc:
            return str(exc)
        except WorkerError as exc:  # the MIDI_STATUS answer could not be sent: it is gone
            return f"lost while answering send_midi ({exc})"
        return ""

    def _finished(self, call: PendingCall) -> None:
        on_done = call.on_done
        if on_done is None:
            return
        try:
            on_done(call)
        except Exception:
            log.exception("%s: a call's completion handler failed", self.plugin_name)

    # -- failures --------------------------------------------------------------------------------
    def _mark_dead(self, error: WorkerError) -> None:
        with self._lock:
            self._close_channel()
            if self._dead is None:
                self._dead = error
            if self._tx is not None:
                self._tx.close()
                self._tx = None

    def _lost(self, detail: str) -> None:
        """The worker died (or broke the protocol): the oldest call in flight crashed."""
        with self._lock:
            self._close_channel()  # a call the walk sent is the one that was running
            head = self._in_flight[0] if self._in_flight else None
        call = f"execute #{head.seq}" if head is not None else "execute (between calls)"
        self._mark_dead(WorkerError(f"{self.plugin_name}: the worker was lost"))
        error = self.worker._crashed(call, detail)
        self._fail_all(error)

    def _timed_out(self, head: PendingCall) -> None:
        self._mark_dead(WorkerError(f"{self.plugin_name}: the worker timed out"))
        self.worker._call_timeout = head.timeout
        try:
            self.worker._timeout(f"execute #{head.seq}")
        except WorkerTimeout as exc:
            self._fail_all(exc)
        else:  # _timeout always raises; should it not, the calls still must not hang
            self._fail_all(WorkerTimeout(self.plugin_name, f"execute #{head.seq}", head.timeout))

    def _fail_all(self, error: WorkerError, all_not_run: bool = False) -> None:
        """The oldest unanswered call gets ``error`` (unless ``all_not_run``: none of them ran);
        every later one CallNotRun."""
        with self._lock:
            self._close_channel()
            if self._dead is None:
                self._dead = error
            calls = list(self._in_flight) + [call for call, _ in self._unsent]
            self._in_flight.clear()
            self._unsent.clear()
            self._idle.notify_all()
        if not calls:
            return
        first = calls[0]
        not_run = calls if all_not_run else calls[1:]
        if not all_not_run:
            first.error = error
            error = _named(error, first.seq)
        for index, call in enumerate(not_run):
            call.error = CallNotRun(
                self.plugin_name, call.seq, error, index == 0, len(not_run), not all_not_run
            )
        for call in calls:
            self._finished(call)


def _named(error: WorkerError, seq: int) -> WorkerError:
    """``error`` as the cause of later calls' failure: it names the call it happened in."""
    if isinstance(error, (WorkerCrashed, WorkerTimeout)) or f"#{seq}" in str(error):
        return error
    return WorkerError(f"{error} (during call #{seq})")


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
