"""Run one native plugin in ``midimon-worker``, a small sandboxed process, and talk to it.

The worker (C, ``midimon/_native/worker/``) receives the plugin's already-verified bytes as a
sealed memfd (never the plugin's path), applies rlimits, no_new_privs, a capability drop,
Landlock and seccomp before any plugin code runs, reports what it put in force, and then loads
and serves the plugin.

The messages are encoded and decoded in :mod:`~midimon.plugins.sandbox.wire`; the child process
and its socket are :class:`~midimon.plugins.sandbox.worker_child.WorkerChild`'s. Everything the
worker sends is treated as hostile: plugin code shares the worker's address space and can write
to fd 3 itself, so lengths and types are checked, grants are re-checked here, and any violation
kills the worker and is reported as a crash.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import select
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import (
    ProtocolViolation,
    WorkerCrashed,
    WorkerError,
    WorkerLoadFailed,
    WorkerTimeout,
)
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.loader import call_set_led
from midimon.plugins.sandbox.denials import Denial, describe_denial
from midimon.plugins.sandbox.enforcement import Enforcement, WorkerLoadInfo
from midimon.plugins.sandbox.spec import SandboxSpec
from midimon.plugins.sandbox.wire import (
    LOAD_ERROR_CODES,
    MESSAGE_NAMES,
    STATUS_DENIED,
    STATUS_FAILED,
    STATUS_INVALID_PARAMS,
    Wire,
    decode_denied,
    decode_hello,
    decode_loaded,
    decode_log,
    decode_result,
    decode_sandboxed,
    decode_set_led,
    decode_status,
    execute_messages,
    load_payload,
    message,
    midi_status_message,
    parse_datagram,
)
from midimon.plugins.sandbox.worker_child import GRACE_SECONDS, REAP_SECONDS, WorkerChild

if TYPE_CHECKING:
    from midimon.plugins.loading.loader import HostServices

log = logging.getLogger(__name__)

_MAX_DENIALS = 256  # kept per worker; later ones are counted in denial_count only
_T = TypeVar("_T")


def worker_executable() -> Path:
    """The ``midimon-worker`` binary: $MIDIMON_WORKER, else the one installed with midimon.

    Looks in the imported package's ``libexec/``, then in the installed distribution's (which
    differs when midimon is imported from a source checkout). Raises WorkerError saying how to
    get one.
    """
    override = os.environ.get("MIDIMON_WORKER")
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise WorkerError(f"MIDIMON_WORKER={override} is not an executable file")
    import midimon

    candidates = [Path(midimon.__file__).parent / "libexec" / "midimon-worker"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    from importlib import metadata  # slow to import: only when the package has no worker

    with contextlib.suppress(metadata.PackageNotFoundError):
        located = metadata.distribution("midimon").locate_file("midimon/libexec/midimon-worker")
        candidates.append(Path(str(located)))
    for path in candidates[1:]:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    where = ", ".join(str(p) for p in dict.fromkeys(candidates))
    if not sys.platform.startswith("linux"):
        raise WorkerError(
            f"midimon-worker is not available on {sys.platform}: isolated plugins need Linux "
            "(Landlock, seccomp); run plugins in-process instead"
        )
    raise WorkerError(
        f"midimon-worker not found (looked at {where}); it is built when midimon is installed "
        "on Linux: reinstall with a C compiler and CMake available (pip install .), or set "
        "MIDIMON_WORKER to a built binary"
    )


class WorkerProcess(WorkerChild):
    """One ``midimon-worker`` running one plugin. Not thread-safe, except :meth:`kill`."""

    def __init__(
        self,
        image_fd: int,
        plugin_name: str,
        spec: SandboxSpec,
        host: HostServices,
        *,
        output_fd: int | None = None,
    ) -> None:
        """``image_fd``: a sealed memfd of the verified plugin (see image.sealed_image_fd); the
        caller keeps owning it. ``output_fd``: the worker's stdout and stderr (default
        /dev/null)."""
        super().__init__(plugin_name, output_fd)
        self.image_fd = image_fd
        self.spec = spec
        self.denials: list[Denial] = []
        self.denial_count = 0
        self._logged_denials: set[str] = set()  # soft denials already logged by this worker
        self.load_info: WorkerLoadInfo | None = None
        self._host = host
        self._fatal_denial: Denial | None = None

    # -- public API ------------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> WorkerLoadInfo:
        """Spawn the worker, send LOAD, and wait for the sandbox report and the plugin struct.

        Raises WorkerLoadFailed when the plugin cannot be loaded (the worker is gone then),
        WorkerCrashed / WorkerTimeout when the worker dies or hangs (e.g. in a constructor).
        """
        if self.pid is not None:
            raise WorkerError(f"{self.plugin_name}: worker already started")
        deadline = self._begin(timeout)
        payload = load_payload(self.spec)
        self._spawn(worker_executable())
        hello = self._await(Wire.HELLO, 0, deadline, "start")
        version, pid = self._decoded("start", decode_hello, hello)
        if version != Wire.PROTOCOL_VERSION:
            self._violation(
                "start",
                f"worker speaks protocol {version}, this host {Wire.PROTOCOL_VERSION}: "
                "reinstall midimon so both come from the same build",
            )
        if pid != self.pid:
            self._violation("start", f"HELLO from pid {pid}, spawned {self.pid}")
        seq = self._next_seq()
        self._send(message(Wire.LOAD, seq, payload), deadline, "start", fds=[self.image_fd])
        # A load error found before the sandbox (an unusable image) comes without SANDBOXED.
        kind, report = self._await_any((Wire.SANDBOXED, Wire.LOADED), seq, deadline, "start")
        if kind == Wire.LOADED:
            self._parse_loaded(report, None)
            self._violation("start", "LOADED before SANDBOXED without an error")
        enforcement = self._decoded("start", decode_sandboxed, report, self.spec)
        loaded = self._await(Wire.LOADED, seq, deadline, "start")
        info = self._parse_loaded(loaded, enforcement)
        self.load_info = info
        return info

    def initialize(self, timeout: float) -> tuple[int, str]:
        """Call the plugin's initialize(); (status, "")."""
        deadline = self._begin(timeout)
        self._check_usable("initialize")
        seq = self._next_seq()
        self._send(message(Wire.INIT, seq), deadline, "initialize")
        reply = self._await(Wire.STATUS, seq, deadline, "initialize")
        return self._decoded("initialize", decode_status, reply), ""

    def send_execute(
        self, params_json: bytes, context: TriggerContext, timeout: float
    ) -> tuple[int, float]:
        """Send one execute() call without waiting for its answer: (seq, deadline) for
        :meth:`receive_execute`. The daemon sends from the MIDI thread and waits elsewhere."""
        deadline = self._begin(timeout)
        self._check_usable("execute")
        # Encoded (and checked: ValueError) before its seq is taken, as the worker expects
        # consecutive numbers.
        datagrams = execute_messages(self._seq % 0x7FFFFFFF + 1, params_json, context)
        seq = self._next_seq()
        for datagram in datagrams:
            self._send(datagram, deadline, "execute")
        return seq, deadline

    def execute(
        self, params_json: bytes, context: TriggerContext, timeout: float
    ) -> tuple[int, str]:
        """Call execute() once with ``params_json`` (UTF-8 JSON object text); (status, message).

        Params up to 1 MiB travel in chunks of 60000 bytes (one datagram each); the mode name
        may have up to 4096 bytes. ValueError when either is larger.
        """
        return self.receive_execute(*self.send_execute(params_json, context, timeout))

    def receive_execute(self, seq: int, deadline: float) -> tuple[int, str]:
        """Wait for the answer to the call :meth:`send_execute` sent: (status, message)."""
        reply = self._await(Wire.RESULT, seq, deadline, "execute")
        return self._decoded("execute", decode_result, reply)

    def shutdown(self, timeout: float = 1.0) -> None:
        """shutdown() + destroy() in the worker and let it exit; past ``timeout``, kill it.

        Never raises for the worker's trouble (it is logged): afterwards the worker is gone.
        """
        deadline = self._begin(timeout)
        try:
            if self._usable():
                seq = self._next_seq()
                self._send(message(Wire.SHUTDOWN, seq), deadline, "shutdown")
                self._await(Wire.STATUS, seq, deadline, "shutdown")
                self._wait_exit(deadline)
        except WorkerError as exc:
            log.warning("%s", exc)
        finally:
            self._finish()

    def abort(self) -> None:
        """Kill the worker's group and reap it, without the SHUTDOWN exchange (calls were left
        unanswered: a graceful shutdown would only wait for them)."""
        self.kill()
        self._finish()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- failure paths ---------------------------------------------------------------------------

    def _crashed(self, call: str, detail: str = "") -> WorkerCrashed:
        """The worker died or misbehaved: kill the group, collect its last words, reap it."""
        # A worker that is exiting by itself (exit(3), a signal, the watchdog after a hang-up)
        # usually closes its socket a moment before it can be reaped: give it that moment, so
        # the report names its real exit status or signal rather than our SIGKILL.
        self._await_exit_unreaped(GRACE_SECONDS)
        self._kill_group()  # the exited leader stays a zombie, so its group id is still ours
        self._drain()
        self._reap(REAP_SECONDS)
        status = self.wait_status
        sig = exit_code = None
        if status is not None:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                exit_code = os.WEXITSTATUS(status)
        denial = self._fatal_denial if exit_code == Wire.EXIT_DENIED else None
        if exit_code == Wire.EXIT_PROTOCOL and not detail:
            detail = "the worker says the host broke the protocol"
        error = WorkerCrashed(
            self.plugin_name,
            call,
            sig,
            exit_code,
            denial,
            detail,
            killed_by_host=self._killed and sig == signal.SIGKILL and not detail,
        )
        self._dead = error
        self._finish()
        return error

    def _violation(self, call: str, what: str) -> None:
        raise self._crashed(call, f"protocol violation: {what}")

    def _timeout(self, call: str) -> None:
        self._kill_group()
        self._reap(REAP_SECONDS)
        error = WorkerTimeout(self.plugin_name, call, self._call_timeout)
        self._dead = error
        self._finish()
        raise error

    def _drain(self) -> None:
        """Read what the dead worker left in the socket (its DENIED and LOG messages)."""
        sock = self._sock
        if sock is None:
            return
        for _ in range(1024):
            try:
                size = sock.recv_into(self._rx)
            except OSError:  # BlockingIOError: nothing left
                return
            if not size:
                return
            try:
                kind, _seq, payload = parse_datagram(self._rx_view[:size])
                if kind == Wire.DENIED:
                    self._on_denied(payload)
                elif kind == Wire.LOG:
                    self._on_log(payload)
            except ProtocolViolation:
                return

    def _recv(self, deadline: float, call: str) -> tuple[int, int, bytes]:
        sock = self._sock
        assert sock is not None
        while True:
            self._wait(deadline, call, select.POLLIN)
            try:
                size = sock.recv_into(self._rx)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in (errno.ECONNRESET, errno.ENOTCONN):
                    raise self._crashed(call) from None
                raise
            if not size:
                raise self._crashed(call)
            try:
                return parse_datagram(self._rx_view[:size])
            except ProtocolViolation as exc:
                raise self._crashed(call, f"protocol violation: {exc}") from None

    def _await(self, want: int, seq: int, deadline: float, call: str) -> bytes:
        """The reply ``want`` to request ``seq``, serving LOG / DENIED / SEND_MIDI meanwhile."""
        return self._await_any((want,), seq, deadline, call)[1]

    def _await_any(
        self, wanted: tuple[int, ...], seq: int, deadline: float, call: str
    ) -> tuple[int, bytes]:
        """The first reply of a type in ``wanted`` to request ``seq``: (type, payload)."""
        while True:
            kind, rseq, payload = self._recv(deadline, call)
            try:
                if kind == Wire.LOG:
                    self._on_log(payload)
                elif kind == Wire.DENIED:
                    self._on_denied(payload)
                elif kind == Wire.SEND_MIDI:
                    self._on_send_midi(rseq, payload, deadline, call)
                elif kind == Wire.SET_LED:
                    self._on_set_led(rseq, payload, deadline, call)
                elif kind in wanted and rseq == seq:
                    return kind, payload
                else:
                    name = MESSAGE_NAMES.get(kind, f"type 0x{kind:x}")
                    want = " or ".join(MESSAGE_NAMES[w] for w in wanted)
                    raise ProtocolViolation(f"got {name} #{rseq} while waiting for {want} #{seq}")
            except ProtocolViolation as exc:
                raise self._crashed(call, f"protocol violation: {exc}") from None

    # -- messages from the worker ----------------------------------------------------------------

    def _on_log(self, payload: bytes) -> None:
        level, text = decode_log(payload)
        try:
            self._host.log(self.plugin_name, level, text)
        except Exception:
            log.exception("%s: host log service failed", self.plugin_name)

    def _on_send_midi(self, seq: int, payload: bytes, deadline: float, call: str) -> None:
        if Capability.MIDI not in self.spec.granted:
            # The worker refuses this itself; arriving here it was forged by plugin code.
            self._record_denial(
                Denial(
                    "send_midi",
                    Capability.MIDI,
                    "tried send_midi without the MIDI capability (a forged request)",
                    fatal=False,
                )
            )
            status = STATUS_DENIED
        elif not 0 < len(payload) <= Wire.MAX_MIDI:
            status = STATUS_INVALID_PARAMS
        else:
            try:
                status = int(self._host.send_midi(self.plugin_name, bytes(payload)))
            except Exception:
                log.exception("%s: host send_midi service failed", self.plugin_name)
                status = STATUS_FAILED
            if not -(2**31) <= status < 2**31:
                status = STATUS_FAILED
        self._send(midi_status_message(seq, status), deadline, call)

    def _on_set_led(self, seq: int, payload: bytes, deadline: float, call: str) -> None:
        """A set_pad() of the "midimon.leds/1" extension: brokered by the Midi grant like
        send_midi, answered with MIDI_STATUS."""
        pad, color = decode_set_led(payload)
        if Capability.MIDI not in self.spec.granted:
            self._record_denial(
                Denial(
                    "set_pad",
                    Capability.MIDI,
                    "tried set_pad without the MIDI capability (a forged request)",
                    fatal=False,
                )
            )
            status = STATUS_DENIED
        else:
            try:
                status = call_set_led(self._host, self.plugin_name, pad, color)
            except Exception:
                log.exception("%s: host set_led service failed", self.plugin_name)
                status = STATUS_FAILED
        self._send(midi_status_message(seq, status), deadline, call)

    def _on_denied(self, payload: bytes) -> None:
        denial = describe_denial(*decode_denied(payload))
        self._record_denial(denial)
        if denial.fatal:
            self._fatal_denial = denial

    def _record_denial(self, denial: Denial) -> None:
        self.denial_count += 1
        if len(self.denials) < _MAX_DENIALS:
            self.denials.append(denial)
        # A soft denial repeats with every call that makes it (glibc's getaddrinfo() tries the
        # nscd and systemd-resolved sockets on each lookup): logged once per worker, counted
        # always.
        level = logging.WARNING
        if not denial.fatal:
            if denial.syscall in self._logged_denials:
                level = logging.DEBUG
            self._logged_denials.add(denial.syscall)
        log.log(level, "%s: sandbox denied %s: %s", self.plugin_name, denial.syscall, denial.detail)

    def _parse_loaded(self, payload: bytes, enforcement: Enforcement | None) -> WorkerLoadInfo:
        reply = self._decoded("start", decode_loaded, payload)
        major, minor, size = reply.abi_major, reply.abi_minor, reply.struct_size
        if reply.error != Wire.LOAD_OK:
            code = LOAD_ERROR_CODES.get(reply.error, f"error {reply.error}")
            reason = reply.error_text.decode("utf-8", errors="replace") or code
            reason = re.sub(r"/proc/self/fd/\d+", self.plugin_name, reason)
            self._reap(REAP_SECONDS)  # the worker exits after a load error
            self._finish()
            failure = WorkerLoadFailed(self.plugin_name, code, reason, major, minor, size)
            self._dead = failure
            raise failure
        strings: list[str] = []
        members = (
            ("name", reply.name),
            ("version", reply.version),
            ("description", reply.description),
        )
        for member, raw in members:
            try:
                strings.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                self._finish()
                failure = WorkerLoadFailed(
                    self.plugin_name,
                    "invalid_struct",
                    f"plugin struct member {member} is not UTF-8 (byte {exc.start})",
                    major,
                    minor,
                    size,
                )
                self._dead = failure
                raise failure from None
        assert enforcement is not None  # a successful LOADED always follows SANDBOXED
        name, version, description = strings
        return WorkerLoadInfo(
            major, minor, size, reply.capabilities, name, version, description, enforcement
        )

    def _decoded(self, call: str, decode: Callable[..., _T], *args: Any) -> _T:
        """``decode(*args)``; a ProtocolViolation kills the worker and raises WorkerCrashed."""
        try:
            return decode(*args)
        except ProtocolViolation as exc:
            raise self._crashed(call, f"protocol violation: {exc}") from None
