"""The wire protocol between midimon and ``midimon-worker``: constants, framing, payloads.

``protocol.h`` (``midimon/_native/worker/``) documents it message by message and :class:`Wire`
mirrors its constants (a test compares the two). This module only encodes and decodes; the
conversation is :class:`~midimon.plugins.sandbox.worker.WorkerProcess`'s. Everything decoded
here comes from a worker that runs plugin code, which can write to the socket itself: sizes and
lengths are checked, and anything the protocol does not allow raises ProtocolViolation.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from midimon.plugins.description.capabilities import to_bits
from midimon.plugins.errors import ProtocolViolation  # defined there; importable here too
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.sandbox.enforcement import Enforcement
from midimon.plugins.sandbox.spec import SandboxSpec, sandbox_paths

# MIDIMON_* status codes the host side needs (they mirror abi/midimon_plugin.h).
STATUS_FAILED = 1
STATUS_INVALID_PARAMS = 2
STATUS_DENIED = 3


class Wire:
    """Constants of ``protocol.h``, named as there without the ``MM_`` prefix."""

    PROTOCOL_VERSION = 3
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
    MAX_EVENT_NAME = 255
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
    EXECUTE_FIXED = 56
    MIDI_STATUS = 0x0005
    MIDI_STATUS_SIZE = 4
    SHUTDOWN = 0x0006
    START = 0x0007
    START_FIXED = 8
    MAX_EVENT_RATE = 1000000
    STOP = 0x0008
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
    HAS_START = 0x20
    HAS_STOP = 0x40
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
    EVENT = 0x010A
    EVENT_FIXED = 24
    EVENTS_DROPPED = 0x010B
    EVENTS_DROPPED_SIZE = 4
    DROP_REPORT_NS = 100000000
    DENIED = 0x0108
    DENIED_FIXED = 36
    SET_LED = 0x0109
    SET_LED_FIXED = 4
    MAX_LED_COLOR = 63
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
_EXECUTE_FIXED = struct.Struct("<IBBBBiIQqIIdII")
_PARAMS_FIXED = struct.Struct("<II")
_HELLO = struct.Struct("<IIIII")
_SANDBOXED = struct.Struct("<IIQQQQIIII")
_LOADED_FIXED = struct.Struct("<IIIIIIIIII")
_DENIED_FIXED = struct.Struct("<IIiIQQI")
_I32 = struct.Struct("<i")
MAX_DATAGRAM = Wire.HEADER_SIZE + Wire.MAX_PAYLOAD
_RLIM_INFINITY = 2**64 - 1

MESSAGE_NAMES = {
    value: name
    for name, value in vars(Wire).items()
    if name
    in (
        "HELLO",
        "SANDBOXED",
        "LOADED",
        "STATUS",
        "RESULT",
        "LOG",
        "SEND_MIDI",
        "DENIED",
        "SET_LED",
        "EVENT",
        "EVENTS_DROPPED",
    )
}

LOAD_ERROR_CODES = {
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

_ARCH_NAMES = {
    0xC000003E: "x86_64",
    0xC00000B7: "aarch64",
    0x40000003: "i386",
    0xC00000F3: "riscv64",
}


@dataclass(frozen=True)
class LoadedReply:
    """A LOADED message: the load error (``Wire.LOAD_OK`` if none), the plugin struct's raw
    members, and the worker's error text."""

    error: int
    abi_major: int
    abi_minor: int
    struct_size: int
    capabilities: int
    name: bytes
    version: bytes
    description: bytes
    error_text: bytes
    members: int = 0  # Wire.HAS_* bits: which struct pointers are set



def message(kind: int, seq: int, payload: bytes = b"") -> bytes:
    """One datagram: the header, then ``payload``."""
    return _HEADER.pack(kind, seq, len(payload), 0) + payload


def parse_datagram(data: memoryview) -> tuple[int, int, bytes]:
    """(type, seq, payload) of one received datagram."""
    # recv_into() a buffer one byte larger than the largest datagram: a bigger datagram
    # arrives truncated to exactly that size. File descriptors the plugin might attach
    # are discarded by the kernel, since no control buffer is offered.
    if len(data) > MAX_DATAGRAM:
        raise ProtocolViolation("oversized datagram")
    if len(data) < Wire.HEADER_SIZE:
        raise ProtocolViolation(f"datagram of {len(data)} bytes")
    kind, seq, length, reserved = _HEADER.unpack_from(data)
    if length != len(data) - Wire.HEADER_SIZE or reserved != 0:
        raise ProtocolViolation(f"header says {length} payload bytes, datagram has {len(data)}")
    return kind, seq, bytes(data[Wire.HEADER_SIZE :])


# -- host to worker ------------------------------------------------------------------------------


def _encode_path(path: Path) -> bytes:
    raw = os.fsencode(str(Path(path).absolute()))
    if b"\0" in raw or not 0 < len(raw) <= Wire.MAX_PATH:
        raise ValueError(f"sandbox path unusable (NUL byte or over {Wire.MAX_PATH} bytes): {path}")
    return raw


def load_payload(spec: SandboxSpec) -> bytes:
    """The LOAD payload for ``spec``: limits, granted capabilities and sandbox paths."""
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


def execute_messages(seq: int, params_json: bytes, context: TriggerContext) -> list[bytes]:
    """The datagrams of one execute() call: PARAMS chunks, then EXECUTE with the last chunk.

    Params up to 1 MiB travel in chunks of 60000 bytes (one datagram each); the mode name
    may have up to 4096 bytes. ValueError when either is larger, or the context is out of range.
    """
    params = bytes(params_json)
    total = len(params)
    if total > Wire.MAX_PARAMS:
        raise ValueError(f"params are {total} bytes; at most {Wire.MAX_PARAMS} are allowed")
    mode = context.mode.encode("utf-8")
    if len(mode) > Wire.MAX_MODE:
        raise ValueError(f"mode name is {len(mode)} bytes; at most {Wire.MAX_MODE}")
    source = context.source.encode("utf-8")
    event_name = context.event_name.encode("utf-8")
    if max(len(source), len(event_name)) > Wire.MAX_EVENT_NAME:
        raise ValueError(f"source and event names take at most {Wire.MAX_EVENT_NAME} bytes")
    event_value = context.plugin_value
    if not math.isfinite(event_value):
        raise ValueError("the event value must be finite")
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
            event_value,
            len(source),
            len(event_name),
        )
    except struct.error as exc:
        raise ValueError(f"trigger context out of range: {exc}") from None
    datagrams = [
        message(
            Wire.PARAMS, seq, _PARAMS_FIXED.pack(total, offset) + params[offset : offset + chunk]
        )
        for offset in range(0, head, chunk)
    ]
    strings = mode + source + event_name
    datagrams.append(message(Wire.EXECUTE, seq, fixed + strings + params[head:]))
    return datagrams


def midi_status_message(seq: int, status: int) -> bytes:
    """The MIDI_STATUS answer to a worker's SEND_MIDI request ``seq``."""
    return message(Wire.MIDI_STATUS, seq, _I32.pack(status))


# -- worker to host ------------------------------------------------------------------------------


def decode_set_led(payload: bytes) -> tuple[int, str]:
    """(pad, colour name) of a SET_LED; ProtocolViolation when malformed."""
    size = len(payload) - Wire.SET_LED_FIXED
    if not 1 <= size <= Wire.MAX_LED_COLOR:
        raise ProtocolViolation(f"SET_LED carries a colour of {size} bytes")
    (pad,) = struct.unpack_from("<I", payload)
    return pad, bytes(payload[Wire.SET_LED_FIXED :]).decode("utf-8", errors="replace")


def decode_hello(payload: bytes) -> tuple[int, int]:
    """(protocol version, pid) of a HELLO."""
    if len(payload) != Wire.HELLO_SIZE:
        raise ProtocolViolation(f"HELLO of {len(payload)} bytes")
    version, pid, _max_payload, _major, _minor = _HELLO.unpack(payload)
    return version, pid


def decode_status(payload: bytes) -> int:
    """The status a STATUS message carries."""
    if len(payload) != Wire.STATUS_SIZE:
        raise ProtocolViolation(f"STATUS of {len(payload)} bytes")
    return int(_I32.unpack(payload)[0])


def decode_result(payload: bytes) -> tuple[int, str]:
    """(status, message) of a RESULT."""
    if not Wire.RESULT_FIXED <= len(payload) <= Wire.RESULT_FIXED + Wire.MESSAGE_CAPACITY - 1:
        raise ProtocolViolation(f"RESULT of {len(payload)} bytes")
    status = _I32.unpack_from(payload)[0]
    return status, payload[Wire.RESULT_FIXED :].decode("utf-8", errors="replace")


def decode_log(payload: bytes) -> tuple[int, str]:
    """(level, text) of a LOG."""
    if not Wire.LOG_FIXED <= len(payload) <= Wire.LOG_FIXED + Wire.MAX_LOG:
        raise ProtocolViolation(f"LOG of {len(payload)} bytes")
    level = _I32.unpack_from(payload)[0]
    return level, payload[Wire.LOG_FIXED :].decode("utf-8", errors="replace")


def decode_denied(payload: bytes) -> tuple[int, bool, int, int, int, str]:
    """(reason, fatal, syscall nr, arg0, arg1, syscall name) of a DENIED."""
    if len(payload) < Wire.DENIED_FIXED:
        raise ProtocolViolation(f"DENIED of {len(payload)} bytes")
    reason, fatal, nr, _reserved, arg0, arg1, name_len = _DENIED_FIXED.unpack_from(payload)
    if name_len > Wire.MAX_DENIED_NAME or len(payload) != Wire.DENIED_FIXED + name_len:
        raise ProtocolViolation("DENIED with a bad name length")
    name = payload[Wire.DENIED_FIXED :].decode("ascii", errors="replace")
    return reason, bool(fatal), nr, arg0, arg1, name


def decode_sandboxed(payload: bytes, spec: SandboxSpec) -> Enforcement:
    """The sandbox a SANDBOXED message says is in force, for a worker started with ``spec``."""
    if len(payload) != Wire.SANDBOXED_SIZE:
        raise ProtocolViolation(f"SANDBOXED of {len(payload)} bytes")
    (flags, abi, r_as, r_nproc, r_nofile, r_core, uid, added, skipped, arch) = _SANDBOXED.unpack(
        payload
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
        kernel_sandbox=spec.kernel_sandbox,
        granted=frozenset(spec.granted),
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


def decode_loaded(payload: bytes) -> LoadedReply:
    """A LOADED message, its strings still raw bytes (the caller decodes and judges them)."""
    if len(payload) < Wire.LOADED_FIXED:
        raise ProtocolViolation(f"LOADED of {len(payload)} bytes")
    (error, major, minor, size, caps, _members, n_name, n_version, n_desc, n_err) = (
        _LOADED_FIXED.unpack_from(payload)
    )
    if (
        max(n_name, n_version, n_desc) > Wire.MAX_STRING
        or n_err > Wire.MAX_ERROR_TEXT
        or len(payload) != Wire.LOADED_FIXED + n_name + n_version + n_desc + n_err
    ):
        raise ProtocolViolation("LOADED with bad string lengths")
    offset = Wire.LOADED_FIXED
    fields = []
    for n in (n_name, n_version, n_desc, n_err):
        fields.append(payload[offset : offset + n])
        offset += n
    name, version, description, error_text = fields
    return LoadedReply(
        error, major, minor, size, caps, name, version, description, error_text, _members
    )
