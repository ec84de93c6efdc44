"""Run one native plugin in ``midimon-worker``, a small sandboxed process, and talk to it.

The worker (C, ``midimon/_native/worker/``) is spawned in its own session and process group
with one end of an ``AF_UNIX``/``SOCK_SEQPACKET`` socketpair as fd 3. It receives the plugin's
already-verified bytes as a sealed memfd (never the plugin's path), applies rlimits,
no_new_privs, a capability drop, Landlock and seccomp before any plugin code runs, reports what
it put in force, and then loads and serves the plugin.

This is the only module that knows the wire protocol; ``protocol.h`` documents it message by
message and :class:`Wire` mirrors its constants (a test compares the two). Everything the
worker sends is treated as hostile: plugin code shares the worker's address space and can write
to fd 3 itself, so lengths and types are checked, grants are re-checked here, and any violation
kills the worker and is reported as a crash. Every wait has a deadline (``poll`` on the socket
and on a pidfd of the worker); past it the whole process group is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from midimon.plugins.description.capabilities import Capability, to_bits
from midimon.plugins.errors import PluginError
from midimon.plugins.loading.context import TriggerContext

if TYPE_CHECKING:
    from midimon.plugins.loading.loader import HostServices

log = logging.getLogger(__name__)

# MIDIMON_* status codes the host side needs (they mirror abi/midimon_plugin.h).
_ERR_FAILED = 1
_ERR_INVALID_PARAMS = 2
_ERR_DENIED = 3


class Wire:
    """Constants of ``protocol.h``, named as there without the ``MM_`` prefix."""

    PROTOCOL_VERSION = 1
    SOCKET_FD = 3
    HEADER_SIZE = 16
    MAX_PAYLOAD = 65536
    MAX_DATAGRAM = HEADER_SIZE + MAX_PAYLOAD
    MAX_PARAMS = 1024 * 1024
    PARAMS_CHUNK = 60000
    MAX_MODE = 4096
    MAX_PATH = 4095
    MAX_PATHS = 256
    MAX_STRING = 4096
    MAX_ERROR_TEXT = 1024
    MESSAGE_CAPACITY = 4096
    MAX_LOG = 8192
    MAX_MIDI = 65536
    MAX_HOST_VERSION = 64
    MAX_STRUCT_SIZE = 65536
    WORKER_SEQ_BASE = 0x80000000
    # host -> worker
    LOAD = 0x0001
    LOAD_FIXED = 36
    LOAD_KERNEL_SANDBOX = 0x1
    PATH_READ = 1
    PATH_WRITE = 2
    INIT = 0x0002
    PARAMS = 0x0003
    PARAMS_FIXED = 8
    EXECUTE = 0x0004
    EXECUTE_FIXED = 40
    MIDI_STATUS = 0x0005
    MIDI_STATUS_SIZE = 4
    SHUTDOWN = 0x0006
    # worker -> host
    HELLO = 0x0101
    HELLO_SIZE = 20
    SANDBOXED = 0x0102
    SANDBOXED_SIZE = 56
    ENF_NO_NEW_PRIVS = 0x001
    ENF_LANDLOCK_FS = 0x002
    ENF_LANDLOCK_NET = 0x004
    ENF_SCOPE_SIGNAL = 0x008
    ENF_SCOPE_ABSTRACT_UNIX = 0x010
    ENF_SECCOMP = 0x020
    ENF_CAPS_DROPPED = 0x040
    ENF_NO_CAPS = 0x080
    ENF_RLIMITS = 0x100
    ENF_UNIX_SOCKETS = 0x200
    ENF_SIGNAL_FILTER = 0x400
    LOADED = 0x0103
    LOADED_FIXED = 40
    LOAD_OK = 0
    LOAD_ERR_IMAGE = 1
    LOAD_ERR_SANDBOX = 2
    LOAD_ERR_DLOPEN = 3
    LOAD_ERR_NO_ENTRY = 4
    LOAD_ERR_NULL_PLUGIN = 5
    LOAD_ERR_ABI_MAJOR = 6
    LOAD_ERR_ABI_MINOR = 7
    LOAD_ERR_STRUCT_SIZE = 8
    LOAD_ERR_INVALID = 9
    HAS_INITIALIZE = 0x01
    HAS_EXECUTE = 0x02
    HAS_SHUTDOWN = 0x04
    HAS_DESTROY = 0x08
    HAS_GET_EXTENSION = 0x10
    HAS_NAME = 0x100
    HAS_VERSION = 0x200
    HAS_DESCRIPTION = 0x400
    STATUS = 0x0104
    STATUS_SIZE = 4
    RESULT = 0x0105
    RESULT_FIXED = 4
    LOG = 0x0106
    LOG_FIXED = 4
    SEND_MIDI = 0x0107
    DENIED = 0x0108
    DENIED_FIXED = 36
    MAX_DENIED_NAME = 64
    DENY_EXEC = 1
    DENY_FORK = 2
    DENY_NETWORK = 3
    DENY_UNIX_SOCKET = 4
    DENY_MIDI = 5
    DENY_FORBIDDEN = 6
    DENY_NAMESPACE = 7
    DENY_FOREIGN_ABI = 8
    DENY_OTHER_PROCESS = 9
    DENY_SOCKET_FAMILY = 10
    EXIT_OK = 0
    EXIT_USAGE = 64
    EXIT_PROTOCOL = 65
    EXIT_INTERNAL = 70
    EXIT_DENIED = 159


_HEADER = struct.Struct("<IIII")
_LOAD_FIXED = struct.Struct("<IIIIQIII")
_EXECUTE_FIXED = struct.Struct("<IBBBBiIQqII")
_PARAMS_FIXED = struct.Struct("<II")
_HELLO = struct.Struct("<IIIII")
_SANDBOXED = struct.Struct("<IIQQQQIIII")
_LOADED_FIXED = struct.Struct("<IIIIIIIIII")
_DENIED_FIXED = struct.Struct("<IIiIQQI")
_I32 = struct.Struct("<i")
_MAX_DATAGRAM = Wire.HEADER_SIZE + Wire.MAX_PAYLOAD
_RLIM_INFINITY = 2**64 - 1
_MAX_DENIALS = 256  # kept per worker; later ones are counted in denial_count only
_REAP_SECONDS = 2.0  # how long a dead or SIGKILLed worker may take to be reaped
_GRACE_SECONDS = 0.25  # how long a worker that hung up may take to exit on its own
_CLONE_VFORK = 0x4000

_MESSAGE_NAMES = {
    value: name
    for name, value in vars(Wire).items()
    if name in ("HELLO", "SANDBOXED", "LOADED", "STATUS", "RESULT", "LOG", "SEND_MIDI", "DENIED")
}

_LOAD_ERROR_CODES = {
    Wire.LOAD_ERR_IMAGE: "image",
    Wire.LOAD_ERR_SANDBOX: "sandbox",
    Wire.LOAD_ERR_DLOPEN: "dlopen",
    Wire.LOAD_ERR_NO_ENTRY: "no_entry",
    Wire.LOAD_ERR_NULL_PLUGIN: "null_plugin",
    Wire.LOAD_ERR_ABI_MAJOR: "abi_major",
    Wire.LOAD_ERR_ABI_MINOR: "abi_minor",
    Wire.LOAD_ERR_STRUCT_SIZE: "struct_size",
    Wire.LOAD_ERR_INVALID: "invalid_struct",
}

# -- sandbox spec and paths ----------------------------------------------------------------------

_SYSTEM_READ_PATHS = (
    # shared libraries a plugin links (libm, libgcc_s, libstdc++, ...) and the loader's cache
    "/lib",
    "/lib64",
    "/lib32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    # time zones and locales (localtime(), setlocale())
    "/etc/localtime",
    "/etc/timezone",
    "/usr/share/zoneinfo",
    "/usr/share/locale",
    "/etc/locale.alias",
    # randomness, and what sysconf(_SC_NPROCESSORS_ONLN) reads
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/sys/devices/system/cpu",
)

# Added read-only for a granted capability that needs them.
_CAPABILITY_READ_PATHS: dict[Capability, tuple[str, ...]] = {
    Capability.NETWORK: (
        "/etc/resolv.conf",
        "/run/systemd/resolve",
        "/etc/hosts",
        "/etc/host.conf",
        "/etc/nsswitch.conf",
        "/etc/gai.conf",
        "/etc/services",
        "/etc/protocols",
        "/etc/ssl",
        "/etc/pki",
        "/etc/ca-certificates",
        "/usr/share/ca-certificates",
    ),
    Capability.SUBPROCESS: (
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/libexec",
        "/etc/passwd",
        "/etc/group",
    ),
    Capability.AUDIO: ("/usr/share/alsa", "/etc/alsa", "/etc/asound.conf"),
}
_CAPABILITY_WRITE_PATHS: dict[Capability, tuple[str, ...]] = {
    Capability.AUDIO: ("/dev/snd",),
}
_ALWAYS_WRITE_PATHS = ("/dev/null",)


@dataclass(frozen=True)
class SandboxSpec:
    """What one worker may do.

    ``max_processes`` is headroom, not a total: RLIMIT_NPROC counts every task (process or
    thread) of the user, so the worker sets it to the tasks the user already has plus this.
    """

    granted: frozenset[Capability]
    read_paths: tuple[Path, ...] = ()  # read-only, in addition to default_read_paths()
    write_paths: tuple[Path, ...] = ()  # read-write (Filesystem grants)
    address_space: int = 256 * 1024 * 1024
    max_processes: int = 64
    max_open_files: int = 256
    kernel_sandbox: bool = True  # False: process isolation only (rlimits still applied)


def _existing(paths: tuple[str, ...]) -> tuple[Path, ...]:
    return tuple(Path(p) for p in paths if os.path.lexists(p))


def default_read_paths() -> tuple[Path, ...]:
    """System library folders, time zone and locale data and random devices that exist here."""
    return _existing(_SYSTEM_READ_PATHS)


def sandbox_paths(spec: SandboxSpec) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(read-only, read-write) paths a worker for ``spec`` gets, in the order it adds them.

    Read: default_read_paths(), what a granted capability needs (Network: resolver and CA
    files; Subprocess: bin folders; Audio: ALSA config), then ``spec.read_paths``. Write:
    ``/dev/null``, ``/dev/snd`` with Audio, then ``spec.write_paths``.
    """
    reads: list[Path] = list(default_read_paths())
    writes: list[Path] = list(_existing(_ALWAYS_WRITE_PATHS))
    for capability in sorted(spec.granted, key=lambda c: c.bit):
        reads += _existing(_CAPABILITY_READ_PATHS.get(capability, ()))
        writes += _existing(_CAPABILITY_WRITE_PATHS.get(capability, ()))
    reads += [Path(p) for p in spec.read_paths]
    writes += [Path(p) for p in spec.write_paths]
    return tuple(dict.fromkeys(reads)), tuple(dict.fromkeys(writes))


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


# -- what the worker reports ---------------------------------------------------------------------

_ARCH_NAMES = {
    0xC000003E: "x86_64",
    0xC00000B7: "aarch64",
    0x40000003: "i386",
    0xC00000F3: "riscv64",
}


def _mib(value: int) -> str:
    return "unlimited" if value < 0 else f"{value / (1024 * 1024):g} MiB"


def _limit(value: int) -> str:
    return "unlimited" if value < 0 else str(value)


@dataclass(frozen=True)
class Enforcement:
    """What the worker reported as actually in force, before any plugin code ran."""

    no_new_privs: bool
    landlock_abi: int
    landlock_fs: bool
    landlock_net: bool
    seccomp: bool
    rlimits: dict[str, int]  # RLIMIT_AS/NPROC/NOFILE/CORE soft limits; -1 = unlimited
    kernel_sandbox: bool = True
    granted: frozenset[Capability] = frozenset()
    scoped_signals: bool = False  # Landlock ABI 6: signals only inside the sandbox
    scoped_abstract_unix: bool = False  # Landlock ABI 6: abstract UNIX sockets only inside
    signal_filter: bool = False  # seccomp confines signals to the worker (Landlock < 6)
    unix_sockets: bool = True  # socket(AF_UNIX) and socketpair() allowed
    capabilities_dropped: bool = False  # it started with capabilities (root) and dropped them
    holds_capabilities: bool = False  # it still holds some (kernel sandbox off, as root)
    uid: int = -1
    landlock_rules: int = 0
    landlock_rules_skipped: int = 0
    seccomp_arch: str = ""

    def describe(self) -> list[str]:
        """Human lines: what is enforced, and plainly what is not."""
        granted = self.granted
        lines = ["separate process in its own process group; killed (whole group) on timeout"]
        if not self.kernel_sandbox:
            lines.append(
                "kernel sandbox OFF (settings): no Landlock, no seccomp, no no_new_privs; the "
                "plugin can do anything its user can; capabilities are advisory"
            )
        else:
            lines.append(
                "no_new_privs: on (setuid/file-capability programs gain nothing)"
                if self.no_new_privs
                else "no_new_privs: NOT set"
            )
            if self.capabilities_dropped:
                lines.append(
                    f"Linux capabilities: all dropped, bounding set emptied (started as uid "
                    f"{self.uid} with capabilities)"
                )
            elif self.holds_capabilities:
                lines.append("Linux capabilities: STILL HELD by the worker")
            else:
                lines.append("Linux capabilities: none held")
            lines += self._landlock_lines(granted)
            if self.scoped_signals:
                lines.append("signals: only to processes inside this sandbox (Landlock scope)")
            elif self.signal_filter:
                lines.append("signals and prlimit: only to the worker itself (seccomp)")
            else:
                lines.append(
                    "signals to other processes of the same user (the host too): NOT restricted"
                )
            lines += self._seccomp_lines(granted)
        if self.holds_capabilities and not self.kernel_sandbox:
            lines.append(f"Linux capabilities: held (uid {self.uid}); rlimits can be raised")
        lines.append(self._rlimit_line())
        return lines

    def _landlock_lines(self, granted: frozenset[Capability]) -> list[str]:
        if not self.landlock_fs:
            return [
                "Landlock: NOT in force (kernel lacks it or it is disabled): files are limited "
                "only by Unix permissions, TCP only by seccomp, and abstract UNIX sockets are "
                "NOT scoped"
            ]
        abi = self.landlock_abi
        rules = "filesystem + TCP rules" if self.landlock_net else "filesystem rules"
        lines = [
            f"Landlock ABI {abi}: {rules} ({self.landlock_rules} path rules"
            + (
                f", {self.landlock_rules_skipped} missing paths skipped"
                if self.landlock_rules_skipped
                else ""
            )
            + "); reads only the granted and system paths, writes only the granted paths"
        ]
        if Capability.NETWORK in granted:
            lines.append("TCP bind/connect: allowed (Network granted); UDP and raw: allowed")
        elif not self.landlock_net:
            lines.append(
                f"TCP bind/connect: NOT restricted by Landlock (ABI {abi} < 4)"
                + ("; seccomp still refuses non-UNIX sockets" if self.seccomp else "")
            )
        if abi < 3:
            lines.append(f"truncate()/O_TRUNC: NOT restricted by Landlock (ABI {abi} < 3)")
        if abi < 5:
            lines.append(f"ioctl on device files: NOT restricted by Landlock (ABI {abi} < 5)")
        if self.scoped_abstract_unix:
            lines.append("abstract UNIX sockets: only inside this sandbox (Landlock scope)")
        else:
            lines.append(
                f"abstract UNIX sockets (X11's @/tmp/.X11-unix, ...): NOT scoped by Landlock "
                f"(ABI {abi} < 6)"
                + ("" if self.unix_sockets else "; seccomp refuses socket(AF_UNIX) anyway")
            )
        return lines

    def _seccomp_lines(self, granted: frozenset[Capability]) -> list[str]:
        if not self.seccomp:
            return [
                "seccomp: NOT in force (kernel or architecture without it): execve, fork, "
                "sockets and ptrace are not filtered"
            ]
        sub = Capability.SUBPROCESS in granted
        net = Capability.NETWORK in granted
        arch = f" ({self.seccomp_arch})" if self.seccomp_arch else ""
        lines = [
            f"seccomp-BPF{arch}: execve/fork "
            + ("allowed (Subprocess granted)" if sub else "trapped and reported")
            + "; IP sockets (AF_INET, AF_INET6) "
            + ("allowed (Network granted)" if net else "trapped and reported")
            + "; other socket families (netlink"
            + (" but NETLINK_ROUTE" if net else "")
            + ", packet, ...) fail with EACCES, reported"
            + "; ptrace, mount, bpf, kexec, modules, namespaces, io_uring, keyrings, "
            "perf_event_open, userfaultfd, process_vm_*, TIOCSTI always trapped"
        ]
        if self.unix_sockets:
            lines.append(
                "UNIX sockets: allowed (Audio, System control or Subprocess granted); connect() "
                "to path-named sockets (the sound server, the D-Bus session bus, which can "
                "start programs outside the sandbox, ssh-agent, X11) is NOT restricted by "
                "Landlock; midimon's control socket still asks for its secret cookie"
            )
        else:
            lines.append(
                "UNIX sockets: socket(AF_UNIX) and socketpair() fail with EACCES, reported (no "
                "Audio, System control or Subprocess grant; Network is IP only)"
            )
        lines.append(
            "seccomp is a deny list: syscalls newer than the worker's build headers are allowed"
        )
        return lines

    def _rlimit_line(self) -> str:
        r = self.rlimits
        nproc = _limit(r.get("RLIMIT_NPROC", -1))
        if self.uid == 0:
            nproc += " (NOT enforced: the kernel never holds uid 0 to RLIMIT_NPROC)"
        return (
            f"rlimits: address space {_mib(r.get('RLIMIT_AS', -1))}, tasks of this user "
            f"{nproc}, open files {_limit(r.get('RLIMIT_NOFILE', -1))}, core dumps "
            f"{_limit(r.get('RLIMIT_CORE', -1))}"
        )


@dataclass(frozen=True)
class WorkerLoadInfo:
    """The plugin struct as the worker read it (raw values), and the sandbox in force."""

    abi_major: int
    abi_minor: int
    struct_size: int
    capabilities: int
    name: str
    version: str
    description: str
    enforcement: Enforcement


@dataclass(frozen=True)
class Denial:
    """Something the sandbox stopped."""

    syscall: str  # "execve", "socket(AF_INET)", "clone(fork)", "send_midi", ...
    capability: Capability | None  # the capability that would have allowed it, if any
    detail: str  # "tried execve without the Subprocess capability" (the plugin is the subject)
    fatal: bool = True  # the worker was stopped (False: the call failed, the plugin went on)


# -- errors --------------------------------------------------------------------------------------


class WorkerError(PluginError):
    """A worker could not be started, or failed while running a plugin."""


class WorkerLoadFailed(WorkerError):
    """The worker could not load the plugin: ``code`` says why (dlopen, no_entry, null_plugin,
    abi_major, abi_minor, struct_size, invalid_struct, image, sandbox)."""

    def __init__(
        self,
        plugin: str,
        code: str,
        message: str,
        abi_major: int = 0,
        abi_minor: int = 0,
        struct_size: int = 0,
    ) -> None:
        self.plugin = plugin
        self.code = code
        self.message = message
        self.abi_major = abi_major
        self.abi_minor = abi_minor
        self.struct_size = struct_size
        super().__init__(f"{plugin}: cannot load ({code}): {message}")


class WorkerCrashed(WorkerError):
    """The worker died (or broke the protocol and was killed).

    ``signal`` or ``exit_code`` come from its wait status; ``denial`` is set when the sandbox
    stopped it; ``detail`` says more (a protocol violation, the call it was in).
    """

    def __init__(
        self,
        plugin: str,
        call: str,
        signal: int | None,
        exit_code: int | None,
        denial: Denial | None = None,
        detail: str = "",
        killed_by_host: bool = False,
    ) -> None:
        self.plugin = plugin
        self.call = call
        self.signal = signal
        self.exit_code = exit_code
        self.denial = denial
        self.detail = detail
        self.killed_by_host = killed_by_host
        super().__init__(self._text())

    def _text(self) -> str:
        if self.denial is not None:
            return f"{self.plugin} {self.denial.detail}; the sandbox stopped its worker"
        elif self.killed_by_host:
            text = f"the worker was killed by the host during {self.call}"
        elif self.signal is not None:
            text = f"the worker was killed by {_signal_name(self.signal)} during {self.call}"
        elif self.exit_code == Wire.EXIT_DENIED:
            text = f"the worker was stopped by the sandbox (a forbidden syscall) during {self.call}"
        elif self.exit_code is not None:
            text = f"the worker exited with status {self.exit_code} during {self.call}"
        else:
            text = f"the worker was lost during {self.call}"
        if self.detail:
            text += f" ({self.detail})"
        return f"{self.plugin}: {text}"


class WorkerTimeout(WorkerError):
    """A call got no answer within its timeout; the worker's process group was killed."""

    def __init__(self, plugin: str, call: str, seconds: float) -> None:
        self.plugin = plugin
        self.call = call
        self.seconds = seconds
        super().__init__(
            f"{plugin}: no answer to {call} within {seconds:g} s; the worker was killed"
        )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class _Violation(Exception):
    """The worker sent something the protocol does not allow."""


# -- the worker process --------------------------------------------------------------------------


def _dup_high(fd: int) -> int:
    """A close-on-exec duplicate of ``fd`` numbered 10 or more (clear of 0..3 in the child)."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def _encode_path(path: Path) -> bytes:
    raw = os.fsencode(str(Path(path).absolute()))
    if b"\0" in raw or not 0 < len(raw) <= Wire.MAX_PATH:
        raise ValueError(f"sandbox path unusable (NUL byte or over {Wire.MAX_PATH} bytes): {path}")
    return raw


def _load_payload(spec: SandboxSpec) -> bytes:
    from midimon import __version__

    reads, writes = sandbox_paths(spec)
    entries = [(Wire.PATH_READ, _encode_path(p)) for p in reads]
    entries += [(Wire.PATH_WRITE, _encode_path(p)) for p in writes]
    if len(entries) > Wire.MAX_PATHS:
        raise ValueError(f"too many sandbox paths ({len(entries)}; at most {Wire.MAX_PATHS})")
    version = __version__.encode("utf-8")[: Wire.MAX_HOST_VERSION]
    flags = Wire.LOAD_KERNEL_SANDBOX if spec.kernel_sandbox else 0

    def clamp(value: int, top: int) -> int:
        return max(0, min(int(value), top))

    parts = [
        _LOAD_FIXED.pack(
            Wire.PROTOCOL_VERSION,
            flags,
            to_bits(spec.granted),
            clamp(spec.max_processes, 2**32 - 1),
            clamp(spec.address_space, 2**64 - 1),
            clamp(spec.max_open_files, 2**32 - 1),
            len(version),
            len(entries),
        ),
        version,
    ]
    for access, raw in entries:
        parts.append(struct.pack("<II", access, len(raw)))
        parts.append(raw)
    payload = b"".join(parts)
    if len(payload) > Wire.MAX_PAYLOAD:
        raise ValueError(f"sandbox paths too long ({len(payload)} bytes in all)")
    return payload


def _poll_one(fd: int, events: int, seconds: float) -> bool:
    """Whether ``fd`` has ``events`` within ``seconds`` (poll: no FD_SETSIZE limit)."""
    poller = select.poll()
    poller.register(fd, events)
    try:
        return bool(poller.poll(seconds * 1000))
    except OSError:
        return False


def _message(kind: int, seq: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, seq, len(payload), 0) + payload


class WorkerProcess:
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
        self.image_fd = image_fd
        self.plugin_name = plugin_name
        self.spec = spec
        self.pid: int | None = None
        self.denials: list[Denial] = []
        self.denial_count = 0
        self._logged_denials: set[str] = set()  # soft denials already logged by this worker
        self.load_info: WorkerLoadInfo | None = None
        self.wait_status: int | None = None
        self._host = host
        self._output_fd = output_fd
        self._sock: socket.socket | None = None
        self._pidfd: int | None = None
        self._poller: select.poll | None = None
        self._rx = bytearray(_MAX_DATAGRAM + 1)
        self._rx_view = memoryview(self._rx)
        self._seq = 0
        self._call_timeout = 0.0
        self._exited = False  # the pidfd said so
        self._reaped = False
        self._killed = False
        self._fatal_denial: Denial | None = None
        self._dead: WorkerError | None = None
        self._lock = threading.Lock()  # reaping vs kill() from another thread

    # -- public API ------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """True while the worker process runs (a dead one is reaped here)."""
        if self.pid is None or self._reaped:
            return False
        self._try_reap()
        return not self._reaped

    def start(self, timeout: float = 5.0) -> WorkerLoadInfo:
        """Spawn the worker, send LOAD, and wait for the sandbox report and the plugin struct.

        Raises WorkerLoadFailed when the plugin cannot be loaded (the worker is gone then),
        WorkerCrashed / WorkerTimeout when the worker dies or hangs (e.g. in a constructor).
        """
        if self.pid is not None:
            raise WorkerError(f"{self.plugin_name}: worker already started")
        deadline = self._begin(timeout)
        payload = _load_payload(self.spec)
        self._spawn(worker_executable())
        hello = self._await(Wire.HELLO, 0, deadline, "start")
        if len(hello) != Wire.HELLO_SIZE:
            self._violation("start", f"HELLO of {len(hello)} bytes")
        version, pid, _max_payload, _major, _minor = _HELLO.unpack(hello)
        if version != Wire.PROTOCOL_VERSION:
            self._violation(
                "start",
                f"worker speaks protocol {version}, this host {Wire.PROTOCOL_VERSION}: "
                "reinstall midimon so both come from the same build",
            )
        if pid != self.pid:
            self._violation("start", f"HELLO from pid {pid}, spawned {self.pid}")
        seq = self._next_seq()
        self._send(_message(Wire.LOAD, seq, payload), deadline, "start", fds=[self.image_fd])
        # A load error found before the sandbox (an unusable image) comes without SANDBOXED.
        kind, report = self._await_any((Wire.SANDBOXED, Wire.LOADED), seq, deadline, "start")
        if kind == Wire.LOADED:
            self._parse_loaded(report, None)
            self._violation("start", "LOADED before SANDBOXED without an error")
        enforcement = self._parse_sandboxed(report)
        loaded = self._await(Wire.LOADED, seq, deadline, "start")
        info = self._parse_loaded(loaded, enforcement)
        self.load_info = info
        return info

    def initialize(self, timeout: float) -> tuple[int, str]:
        """Call the plugin's initialize(); (status, "")."""
        deadline = self._begin(timeout)
        self._check_usable("initialize")
        seq = self._next_seq()
        self._send(_message(Wire.INIT, seq), deadline, "initialize")
        reply = self._await(Wire.STATUS, seq, deadline, "initialize")
        if len(reply) != Wire.STATUS_SIZE:
            self._violation("initialize", f"STATUS of {len(reply)} bytes")
        return _I32.unpack(reply)[0], ""

    def send_execute(
        self, params_json: bytes, context: TriggerContext, timeout: float
    ) -> tuple[int, float]:
        """Send one execute() call without waiting for its answer: (seq, deadline) for
        :meth:`receive_execute`. The daemon sends from the MIDI thread and waits elsewhere."""
        deadline = self._begin(timeout)
        self._check_usable("execute")
        params = bytes(params_json)
        total = len(params)
        if total > Wire.MAX_PARAMS:
            raise ValueError(f"params are {total} bytes; at most {Wire.MAX_PARAMS} are allowed")
        mode = context.mode.encode("utf-8")
        if len(mode) > Wire.MAX_MODE:
            raise ValueError(f"mode name is {len(mode)} bytes; at most {Wire.MAX_MODE}")
        chunk = Wire.PARAMS_CHUNK
        tail_len = total % chunk or min(total, chunk)
        head = total - tail_len
        try:
            fixed = _EXECUTE_FIXED.pack(
                total,
                context.velocity,
                context.channel,
                context.number,
                0,
                context.value,
                int(context.trigger_kind),
                context.timestamp_ns,
                context.wall_time_ms,
                len(mode),
                tail_len,
            )
        except struct.error as exc:
            raise ValueError(f"trigger context out of range: {exc}") from None
        seq = self._next_seq()
        for offset in range(0, head, chunk):
            piece = _PARAMS_FIXED.pack(total, offset) + params[offset : offset + chunk]
            self._send(_message(Wire.PARAMS, seq, piece), deadline, "execute")
        self._send(_message(Wire.EXECUTE, seq, fixed + mode + params[head:]), deadline, "execute")
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
        if not Wire.RESULT_FIXED <= len(reply) <= Wire.RESULT_FIXED + Wire.MESSAGE_CAPACITY - 1:
            self._violation("execute", f"RESULT of {len(reply)} bytes")
        status = _I32.unpack_from(reply)[0]
        return status, reply[Wire.RESULT_FIXED :].decode("utf-8", errors="replace")

    def shutdown(self, timeout: float = 1.0) -> None:
        """shutdown() + destroy() in the worker and let it exit; past ``timeout``, kill it.

        Never raises for the worker's trouble (it is logged): afterwards the worker is gone.
        """
        deadline = self._begin(timeout)
        try:
            if self._usable():
                seq = self._next_seq()
                self._send(_message(Wire.SHUTDOWN, seq), deadline, "shutdown")
                self._await(Wire.STATUS, seq, deadline, "shutdown")
                self._wait_exit(deadline)
        except WorkerError as exc:
            log.warning("%s", exc)
        finally:
            self._finish()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group. Safe from any thread; idempotent."""
        if self.pid is not None and not self._reaped:
            self._killed = True
        self._kill_group()

    def rss_bytes(self) -> int | None:
        """Resident memory of the worker (VmRSS), or None when it is not running."""
        if not self.alive:
            return None
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- process ---------------------------------------------------------------------------------
    def _begin(self, timeout: float) -> float:
        self._call_timeout = timeout
        return time.monotonic() + timeout

    def _kill_group(self) -> None:
        with self._lock:
            if self.pid is None or self._reaped:
                return
            # Not reaped yet, so the group id cannot have been reused.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def _spawn(self, executable: Path) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for end in (parent, child):
            with contextlib.suppress(OSError):  # room for a 64 KiB datagram even if wmem is low
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        owned: list[int] = []
        try:
            sock_fd = _dup_high(child.fileno())
            owned.append(sock_fd)
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                null_fd = _dup_high(null)
            finally:
                os.close(null)
            owned.append(null_fd)
            out_fd = null_fd if self._output_fd is None else _dup_high(self._output_fd)
            owned.append(out_fd)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
            if "TZ" in os.environ:
                env["TZ"] = os.environ["TZ"]
            try:
                self.pid = os.posix_spawn(
                    str(executable),
                    [str(executable), self.plugin_name],
                    env,
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, null_fd, 0),
                        (os.POSIX_SPAWN_DUP2, out_fd, 1),
                        (os.POSIX_SPAWN_DUP2, out_fd, 2),
                        (os.POSIX_SPAWN_DUP2, sock_fd, Wire.SOCKET_FD),
                    ],
                    setsid=True,  # own session and process group: kill() takes all of it
                )
            except OSError as exc:
                parent.close()
                raise WorkerError(
                    f"{self.plugin_name}: cannot start {executable}: {exc.strerror or exc}"
                ) from None
        finally:
            for fd in dict.fromkeys(owned):
                os.close(fd)
            child.close()
        parent.setblocking(False)
        self._sock = parent
        self._poller = select.poll()
        self._poller.register(parent.fileno(), select.POLLIN)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None  # Linux < 5.3: the socket's EOF tells alone
        else:
            self._poller.register(self._pidfd, select.POLLIN)

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def _usable(self) -> bool:
        return self._sock is not None and self._dead is None and not self._reaped

    def _check_usable(self, call: str) -> None:
        if self._dead is not None:
            raise WorkerError(f"{self.plugin_name}: the worker is gone ({self._dead})")
        if not self._usable():
            raise WorkerError(f"{self.plugin_name}: {call}() on a worker that is not running")

    def _try_reap(self) -> None:
        with self._lock:
            if self._reaped or self.pid is None:
                return
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # someone else reaped it (a SIGCHLD handler)
                pid, status = self.pid, None
            if pid:
                self._reaped = True
                self.wait_status = status

    def _reap(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the (dying) worker to exit and reap it."""
        deadline = time.monotonic() + seconds
        while True:
            self._try_reap()
            if self._reaped:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error("%s: worker %s did not exit; left unreaped", self.plugin_name, self.pid)
                return
            pidfd = self._pidfd
            if pidfd is not None:
                _poll_one(pidfd, select.POLLIN, min(remaining, 0.1))
            else:
                time.sleep(min(remaining, 0.002))

    def _await_exit_unreaped(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the worker to exit, without reaping it (WNOWAIT)."""
        if self.pid is None or self._reaped:
            return
        deadline = time.monotonic() + seconds
        while True:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            remaining = deadline - time.monotonic()
            if info is not None or remaining <= 0:
                return
            if self._pidfd is not None:
                _poll_one(self._pidfd, select.POLLIN, min(remaining, 0.05))
            else:
                time.sleep(min(remaining, 0.002))

    def _wait_exit(self, deadline: float) -> None:
        self._reap(max(0.0, deadline - time.monotonic()))

    def _finish(self) -> None:
        """Make sure the worker and its group are gone, reaped, and the socket closed."""
        if self.pid is not None and not self._reaped:
            self._kill_group()
            self._reap(_REAP_SECONDS)
        if self._pidfd is not None:
            if self._poller is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._poller.unregister(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._sock is not None:
            if self._poller is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._poller.unregister(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._dead is None:
            self._dead = WorkerError("shut down")

    # -- failure paths ---------------------------------------------------------------------------
    def _crashed(self, call: str, detail: str = "") -> WorkerCrashed:
        """The worker died or misbehaved: kill the group, collect its last words, reap it."""
        # A worker that is exiting by itself (exit(3), a signal, the watchdog after a hang-up)
        # usually closes its socket a moment before it can be reaped: give it that moment, so
        # the report names its real exit status or signal rather than our SIGKILL.
        self._await_exit_unreaped(_GRACE_SECONDS)
        self._kill_group()  # the exited leader stays a zombie, so its group id is still ours
        self._drain()
        self._reap(_REAP_SECONDS)
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
        self._reap(_REAP_SECONDS)
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
                kind, _seq, payload = self._parse(self._rx_view[:size])
                if kind == Wire.DENIED:
                    self._on_denied(payload)
                elif kind == Wire.LOG:
                    self._on_log(payload)
            except _Violation:
                return

    # -- transport -------------------------------------------------------------------------------
    def _send(self, data: bytes, deadline: float, call: str, fds: list[int] | None = None) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                if fds:
                    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", fds))])
                else:
                    sock.send(data)
                return
            except (BlockingIOError, InterruptedError):
                self._wait(deadline, call, select.POLLOUT)
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                    raise self._crashed(call) from None
                raise

    def _wait(self, deadline: float, call: str, events: int) -> None:
        """Block until the socket has ``events`` or the worker exits; past deadline, time out."""
        sock, poller = self._sock, self._poller
        assert sock is not None and poller is not None
        fd = sock.fileno()
        if events != select.POLLIN:
            poller.modify(fd, events)
        try:
            while True:
                remaining = deadline - time.monotonic()
                ready = poller.poll(max(0.0, remaining) * 1000)
                for ready_fd, revents in ready:
                    if ready_fd == fd and revents:
                        return
                    if ready_fd == self._pidfd:
                        self._exited = True
                if remaining <= 0 and not self._exited:
                    self._timeout(call)
                if self._exited:
                    if events == select.POLLIN and self._readable_now():
                        return
                    raise self._crashed(call)
        finally:
            if self._sock is not None and events != select.POLLIN:
                poller.modify(fd, select.POLLIN)

    def _readable_now(self) -> bool:
        sock = self._sock
        return sock is not None and _poll_one(sock.fileno(), select.POLLIN, 0.0)

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
                return self._parse(self._rx_view[:size])
            except _Violation as exc:
                raise self._crashed(call, f"protocol violation: {exc}") from None

    @staticmethod
    def _parse(data: memoryview) -> tuple[int, int, bytes]:
        # recv_into() a buffer one byte larger than the largest datagram: a bigger datagram
        # arrives truncated to exactly that size. File descriptors the plugin might attach
        # are discarded by the kernel, since no control buffer is offered.
        if len(data) > _MAX_DATAGRAM:
            raise _Violation("oversized datagram")
        if len(data) < Wire.HEADER_SIZE:
            raise _Violation(f"datagram of {len(data)} bytes")
        kind, seq, length, reserved = _HEADER.unpack_from(data)
        if length != len(data) - Wire.HEADER_SIZE or reserved != 0:
            raise _Violation(f"header says {length} payload bytes, datagram has {len(data)}")
        return kind, seq, bytes(data[Wire.HEADER_SIZE :])

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
                elif kind in wanted and rseq == seq:
                    return kind, payload
                else:
                    name = _MESSAGE_NAMES.get(kind, f"type 0x{kind:x}")
                    want = " or ".join(_MESSAGE_NAMES[w] for w in wanted)
                    raise _Violation(f"got {name} #{rseq} while waiting for {want} #{seq}")
            except _Violation as exc:
                raise self._crashed(call, f"protocol violation: {exc}") from None

    # -- messages from the worker ----------------------------------------------------------------
    def _on_log(self, payload: bytes) -> None:
        if not Wire.LOG_FIXED <= len(payload) <= Wire.LOG_FIXED + Wire.MAX_LOG:
            raise _Violation(f"LOG of {len(payload)} bytes")
        level = _I32.unpack_from(payload)[0]
        text = payload[Wire.LOG_FIXED :].decode("utf-8", errors="replace")
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
            status = _ERR_DENIED
        elif not 0 < len(payload) <= Wire.MAX_MIDI:
            status = _ERR_INVALID_PARAMS
        else:
            try:
                status = int(self._host.send_midi(self.plugin_name, bytes(payload)))
            except Exception:
                log.exception("%s: host send_midi service failed", self.plugin_name)
                status = _ERR_FAILED
            if not -(2**31) <= status < 2**31:
                status = _ERR_FAILED
        self._send(_message(Wire.MIDI_STATUS, seq, _I32.pack(status)), deadline, call)

    def _on_denied(self, payload: bytes) -> None:
        if len(payload) < Wire.DENIED_FIXED:
            raise _Violation(f"DENIED of {len(payload)} bytes")
        reason, fatal, nr, _reserved, arg0, arg1, name_len = _DENIED_FIXED.unpack_from(payload)
        if name_len > Wire.MAX_DENIED_NAME or len(payload) != Wire.DENIED_FIXED + name_len:
            raise _Violation("DENIED with a bad name length")
        name = payload[Wire.DENIED_FIXED :].decode("ascii", errors="replace")
        denial = _describe_denial(reason, bool(fatal), nr, arg0, arg1, name)
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

    def _parse_sandboxed(self, payload: bytes) -> Enforcement:
        if len(payload) != Wire.SANDBOXED_SIZE:
            self._violation("start", f"SANDBOXED of {len(payload)} bytes")
        (flags, abi, r_as, r_nproc, r_nofile, r_core, uid, added, skipped, arch) = (
            _SANDBOXED.unpack(payload)
        )

        def limit(value: int) -> int:
            return -1 if value == _RLIM_INFINITY else value

        return Enforcement(
            no_new_privs=bool(flags & Wire.ENF_NO_NEW_PRIVS),
            landlock_abi=abi,
            landlock_fs=bool(flags & Wire.ENF_LANDLOCK_FS),
            landlock_net=bool(flags & Wire.ENF_LANDLOCK_NET),
            seccomp=bool(flags & Wire.ENF_SECCOMP),
            rlimits={
                "RLIMIT_AS": limit(r_as),
                "RLIMIT_NPROC": limit(r_nproc),
                "RLIMIT_NOFILE": limit(r_nofile),
                "RLIMIT_CORE": limit(r_core),
            },
            kernel_sandbox=self.spec.kernel_sandbox,
            granted=frozenset(self.spec.granted),
            scoped_signals=bool(flags & Wire.ENF_SCOPE_SIGNAL),
            scoped_abstract_unix=bool(flags & Wire.ENF_SCOPE_ABSTRACT_UNIX),
            signal_filter=bool(flags & Wire.ENF_SIGNAL_FILTER),
            unix_sockets=bool(flags & Wire.ENF_UNIX_SOCKETS),
            capabilities_dropped=bool(flags & Wire.ENF_CAPS_DROPPED),
            holds_capabilities=not flags & Wire.ENF_NO_CAPS,
            uid=uid,
            landlock_rules=added,
            landlock_rules_skipped=skipped,
            seccomp_arch=_ARCH_NAMES.get(arch, f"0x{arch:x}" if arch else ""),
        )

    def _parse_loaded(self, payload: bytes, enforcement: Enforcement | None) -> WorkerLoadInfo:
        if len(payload) < Wire.LOADED_FIXED:
            self._violation("start", f"LOADED of {len(payload)} bytes")
        (error, major, minor, size, caps, _members, n_name, n_version, n_desc, n_err) = (
            _LOADED_FIXED.unpack_from(payload)
        )
        if (
            max(n_name, n_version, n_desc) > Wire.MAX_STRING
            or n_err > Wire.MAX_ERROR_TEXT
            or len(payload) != Wire.LOADED_FIXED + n_name + n_version + n_desc + n_err
        ):
            self._violation("start", "LOADED with bad string lengths")
        offset = Wire.LOADED_FIXED
        fields = []
        for n in (n_name, n_version, n_desc, n_err):
            fields.append(payload[offset : offset + n])
            offset += n
        name, version, description, text = fields
        if error != Wire.LOAD_OK:
            code = _LOAD_ERROR_CODES.get(error, f"error {error}")
            message = text.decode("utf-8", errors="replace") or code
            message = re.sub(r"/proc/self/fd/\d+", self.plugin_name, message)
            self._reap(_REAP_SECONDS)  # the worker exits after a load error
            self._finish()
            failure = WorkerLoadFailed(self.plugin_name, code, message, major, minor, size)
            self._dead = failure
            raise failure
        strings = []
        for member, raw in (("name", name), ("version", version), ("description", description)):
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
        return WorkerLoadInfo(major, minor, size, caps, *strings, enforcement=enforcement)


# -- denials -------------------------------------------------------------------------------------


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"family {family}"


def _describe_denial(reason: int, fatal: bool, nr: int, arg0: int, arg1: int, name: str) -> Denial:
    syscall = name or f"syscall {nr}"
    capability: Capability | None = None
    if reason == Wire.DENY_EXEC:
        capability = Capability.SUBPROCESS
        detail = f"tried {syscall} without the Subprocess capability"
    elif reason == Wire.DENY_FORK:
        capability = Capability.SUBPROCESS
        if syscall == "clone":
            syscall = "clone(vfork)" if arg0 & _CLONE_VFORK else "clone(fork)"
        detail = f"tried to start a process ({syscall}) without the Subprocess capability"
    elif reason == Wire.DENY_NETWORK:
        capability = Capability.NETWORK
        syscall = f"socket({_family_name(arg0 & 0xFFFFFFFF)})"
        detail = f"tried {syscall} without the Network capability"
    elif reason == Wire.DENY_UNIX_SOCKET:
        syscall = f"{'socketpair' if name == 'socketpair' else 'socket'}(AF_UNIX)"
        detail = (
            f"tried {syscall}; local sockets need the Audio, System control or Subprocess "
            "capability, Network is IP only (the call failed with EACCES)"
        )
    elif reason == Wire.DENY_SOCKET_FAMILY:
        syscall = f"{name or 'socket'}({_family_name(arg0 & 0xFFFFFFFF)})"
        detail = (
            f"tried {syscall}, a socket family no capability grants (the call failed with EACCES)"
        )
    elif reason == Wire.DENY_MIDI:
        capability = Capability.MIDI
        syscall = "send_midi"
        detail = "tried send_midi without the MIDI capability"
    elif reason == Wire.DENY_NAMESPACE:
        detail = f"tried {syscall} with namespace flags (0x{arg0:x}), which no plugin may use"
    elif reason == Wire.DENY_FOREIGN_ABI:
        syscall = f"syscall {nr} (foreign ABI)"
        detail = "made a syscall through another ABI (int 0x80 or x32), which no plugin may use"
    elif reason == Wire.DENY_OTHER_PROCESS:
        target = arg0 & 0xFFFFFFFF
        target = target - 2**32 if target >= 2**31 else target
        detail = f"tried {syscall} on process {target}, outside its worker"
    else:
        if syscall == "ioctl":
            syscall = {0x5412: "ioctl(TIOCSTI)", 0x541C: "ioctl(TIOCLINUX)"}.get(
                arg1 & 0xFFFFFFFF, syscall
            )
        detail = f"tried {syscall}, which no plugin may use"
    return Denial(syscall, capability, detail, fatal)


__all__ = [
    "Denial",
    "Enforcement",
    "SandboxSpec",
    "WorkerCrashed",
    "WorkerError",
    "WorkerLoadFailed",
    "WorkerLoadInfo",
    "WorkerProcess",
    "WorkerTimeout",
    "default_read_paths",
    "sandbox_paths",
    "worker_executable",
]
