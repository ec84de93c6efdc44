"""A loaded native plugin (NativePlugin) and the checks a binary's plugin struct must pass.

Load order: read the binary once (:func:`read_binary`) -> SHA-256 and signature checks on that
buffer (integrity.load_verified) -> load exactly those bytes (``plugins.hazmat.load_image``) ->
``_create_plugin`` -> ABI checks -> struct checks -> compare with plugin.toml. Every refusal is a
typed LoadError naming the file and the fault. The dlopen itself lives in ``plugins.hazmat``,
so that nothing loads plugin code without going through the integrity check by accident.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import (
    ALL_CAPABILITY_BITS,
    Capability,
    from_bits,
    sorted_caps,
)
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import (
    AbiMismatch,
    ChecksumMismatch,
    InvalidPluginStruct,
    ManifestMismatch,
    NotASharedObject,
    PluginCallError,
)
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.encoded_params import EncodedParams, encode_params
from midimon.plugins.loading.host import (  # defined there; importable from here as before
    HostServices,
    LoggingHost,
    call_set_led,
)

log = logging.getLogger(__name__)
SHUTDOWN_WAIT_S = 2.0  # how long a shutdown waits for an in-process call still running

MESSAGE_CAPACITY = 4096  # bytes of the execute() message buffer the host hands the plugin
MAX_STRUCT_SIZE = 64 * 1024  # a struct_size beyond this is a corrupt or hostile plugin
MAX_MIDI_BYTES = 64 * 1024  # one send_midi() call
MAX_LED_COLOR = 63  # bytes of one set_pad() colour name
LEDS_EXTENSION = "midimon.leds/1"  # MIDIMON_EXT_LEDS: the host's pad LED service
MAX_LOG_BYTES = 8 * 1024  # one log() line

_KEEP_ALIVE: list[object] = []  # host structs and callbacks: never freed

@dataclass(frozen=True)
class PluginInfo:
    """What the binary reports about itself (read from its plugin struct)."""

    name: str
    version: str
    description: str
    capabilities: frozenset[Capability]
    abi_major: int
    abi_minor: int
    struct_size: int


def _c_string(ffi: Any, pointer: Any, member: str, path: Path) -> str:
    if pointer == ffi.NULL:
        raise InvalidPluginStruct(
            path, f"plugin struct member {member} is NULL; it must be a string"
        )
    raw: bytes = ffi.string(pointer, 4096)  # a char * member: ffi.string gives bytes
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPluginStruct(
            path, f"plugin struct member {member} is not UTF-8 (byte {exc.start})"
        ) from None


def check_header(major: int, minor: int, struct_size: int, path: Path) -> None:
    """The ABI rule (same major, a minor the host knows, a sane struct_size), or AbiMismatch."""
    host = abi_mod.abi()
    if major != host.major:
        raise AbiMismatch(
            path,
            f"{major}.{minor}",
            f"{host.major}.x",
            f"built for ABI {major}.{minor}, but this host speaks ABI {host.major}.{host.minor}: "
            f"the major version must be {host.major}; rebuild against abi/midimon_plugin.h",
        )
    if minor > host.minor:
        raise AbiMismatch(
            path,
            f"{major}.{minor}",
            f"{host.major}.0..{host.major}.{host.minor}",
            f"built for ABI {major}.{minor}, newer than this host's {host.major}.{host.minor}; "
            f"upgrade midimon or rebuild the plugin against the older header",
        )
    if struct_size < host.min_plugin_size or struct_size > MAX_STRUCT_SIZE:
        raise AbiMismatch(
            path,
            f"struct_size {struct_size}",
            f"struct_size >= {host.min_plugin_size}",
            f"plugin struct_size is {struct_size} bytes; ABI {host.major}.0 needs at least "
            f"{host.min_plugin_size}: set it to sizeof(midimon_plugin_t)",
        )


def check_capability_bits(bits: int, path: Path) -> frozenset[Capability]:
    """The capabilities in a MIDIMON_CAP_* mask; InvalidPluginStruct on unknown bits."""
    unknown = bits & ~ALL_CAPABILITY_BITS
    if unknown:
        raise InvalidPluginStruct(
            path, f"capabilities has unknown bits 0x{unknown:x}; only MIDIMON_CAP_* are defined"
        )
    return from_bits(bits)


def read_info(view: Any, path: Path) -> PluginInfo:
    """Validate the copied plugin struct and return what it reports."""
    ffi = abi_mod.ffi()
    if view.execute == ffi.NULL and view.start == ffi.NULL:
        raise InvalidPluginStruct(
            path,
            "plugin struct member execute is NULL; it is required (a trigger plugin sets start "
            "instead)",
        )
    capabilities = check_capability_bits(view.capabilities, path)
    return PluginInfo(
        name=_c_string(ffi, view.name, "name", path),
        version=_c_string(ffi, view.version, "version", path),
        description=_c_string(ffi, view.description, "description", path),
        capabilities=capabilities,
        abi_major=view.abi_major,
        abi_minor=view.abi_minor,
        struct_size=view.struct_size,
    )


def check_against_manifest(info: PluginInfo, manifest: PluginManifest, path: Path) -> None:
    """Refuse a binary whose name or capabilities differ from its plugin.toml."""
    if info.name != manifest.name:
        raise ManifestMismatch(path, "name", manifest.name, info.name)
    if info.capabilities != manifest.capabilities:
        raise ManifestMismatch(
            path,
            "capabilities",
            [c.value for c in sorted_caps(manifest.capabilities)],
            [c.value for c in sorted_caps(info.capabilities)],
        )


def read_binary(manifest: PluginManifest) -> tuple[bytes, str]:
    """Read the manifest's binary once; return (bytes, SHA-256 hex), checking any pinned hash."""
    binary = manifest.binary
    if binary is None:
        raise NotASharedObject(
            manifest.path, manifest.binary_error or "no binary for this platform"
        )
    try:
        data = binary.read_bytes()
    except FileNotFoundError:
        raise NotASharedObject(binary, "binary not found; build the plugin first") from None
    except OSError as exc:
        raise NotASharedObject(binary, f"cannot read binary: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if manifest.sha256 is not None and manifest.sha256 != digest:
        raise ChecksumMismatch(binary, manifest.sha256, digest)
    return data, digest


def _new_call_gate() -> tuple[Any, Any]:
    """(lib, gate) of fastpath.h: every call of the plugin then passes its gate, so that the
    daemon's native dispatch may call it too; (None, None) where that library is not built."""
    from midimon.errors import MidimonError

    try:
        from midimon.midi_jack import native_library

        ffi, lib = native_library()
    except (ImportError, OSError, MidimonError):
        return None, None
    return lib, ffi.gc(lib.fp_gate_new(), lib.fp_gate_free)


class NativePlugin:
    """A loaded native plugin, satisfying the ActionPlugin protocol.

    Calls are serialized with a lock: the host never calls one instance concurrently.
    """

    def __init__(
        self,
        *,
        manifest: PluginManifest,
        info: PluginInfo,
        sha256: str,
        raw: Any,
        view: Any,
        host: HostServices,
        granted: frozenset[Capability],
    ) -> None:
        self.manifest = manifest
        self.info = info
        self.sha256 = sha256
        self.granted = granted
        self.integrity: Any = None  # the IntegrityReport when loaded through load_verified()
        self._raw = raw
        self._view = view
        self._host = host
        self._lock = threading.Lock()
        self._state = "created"  # -> initialized -> shut down -> destroyed
        self._ffi = abi_mod.ffi()
        self._execute = view.execute  # the function pointer, read once (not per call)
        self._message = abi_mod.ffi().new("char[]", MESSAGE_CAPACITY)
        self._context = abi_mod.ffi().new("midimon_trigger_context_t *")
        self._context.struct_size = abi_mod.ffi().sizeof("midimon_trigger_context_t")
        self._modes: dict[str, Any] = {}  # also the source and event names (ABI 1.1)
        self._context.source = self._context.event_name = self._c_text("")
        self._named_context = False  # source and event_name hold a plugin event's names
        self._host_struct = self._build_host_struct()
        self._gate: Any = None  # fastpath.h's call gate (made by initialize)
        self._gate_lib: Any = None

    # -- ActionPlugin protocol -------------------------------------------------------------
    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.info.name

    @property
    def version(self) -> str:
        """The plugin's version."""
        return self.info.version

    @property
    def description(self) -> str:
        """The plugin's one-line description."""
        return self.info.description

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities the plugin declares."""
        return self.info.capabilities

    @property
    def binary(self) -> Path:
        """The binary's path on disk (its bytes were read once, at load)."""
        assert self.manifest.binary is not None
        return self.manifest.binary

    @property
    def c_struct(self) -> tuple[Any, Any]:
        """(the host's zero-extended copy of the plugin struct, the plugin's own pointer), for a
        benchmark timing the bare cffi call; calling through them skips every check here."""
        return self._view, self._raw

    def initialize(self) -> None:
        """Call the plugin's initialize(); raises PluginCallError on a failure status."""
        ffi = abi_mod.ffi()
        with self._lock:
            if self._state != "created":
                raise RuntimeError(f"{self.name}: initialize() called when {self._state}")
            if self._view.initialize != ffi.NULL:
                status = self._view.initialize(self._raw, self._host_struct)
                if status != 0:
                    raise PluginCallError(self.name, "initialize", status, "")
            self._gate_lib, self._gate = _new_call_gate()  # before any call
            self._state = "initialized"

    def execute(self, params: Mapping[str, Any] | str, context: TriggerContext) -> str:
        """Run the action once; return the plugin's result text.

        ``params`` is a mapping (serialized to JSON) or a JSON object text. Raises
        PluginCallError carrying the status and the plugin's error text on failure.
        """
        status, message = self.execute_encoded(encode_params(params), context)
        if status != 0:
            raise PluginCallError(self.name, "execute", status, message)
        return message

    def execute_encoded(self, payload: bytes, context: TriggerContext) -> tuple[int, str]:
        """Run the action with params already encoded as JSON bytes; return (status, text).

        The hot path of every in-process action: kept flat on purpose.
        """
        with self._lock:
            if self._state != "initialized":
                raise RuntimeError(f"{self.name}: execute() called when {self._state}")
            # The context struct and mode strings are reused: calls are serialized, and the
            # plugin may only use them until execute() returns.
            mode_buf = self._modes.get(context.mode)
            if mode_buf is None:
                mode_buf = self._c_text(context.mode)
            ctx = self._context
            if context.source:  # a trigger plugin's event (ABI 1.1)
                ctx.source = self._c_text(context.source)
                ctx.event_name = self._c_text(context.event_name)
                ctx.event_value = context.plugin_value
                self._named_context = True
            else:
                if self._named_context:
                    ctx.source = ctx.event_name = self._c_text("")
                    self._named_context = False
                ctx.event_value = context.value
            ctx.velocity = context.velocity
            ctx.channel = context.channel
            ctx.number = context.number
            ctx.value = context.value
            ctx.trigger_kind = context.trigger_kind
            ctx.mode = mode_buf
            ctx.timestamp_ns = context.timestamp_ns
            ctx.wall_time_ms = context.wall_time_ms
            message = self._message
            message[0] = b"\0"
            if self._execute == self._ffi.NULL:  # a trigger plugin without actions (ABI 1.1)
                return 3, "this trigger plugin runs no actions (its execute is NULL)"
            # A bytes object is NUL-terminated in memory, and cffi hands a char * parameter a
            # pointer to it as is: no copy of the params.
            gate = self._gate
            if gate is None:
                status = self._execute(self._raw, payload, len(payload), ctx, message,
                                       MESSAGE_CAPACITY)  # fmt: skip
            else:  # the native dispatch calls this plugin too: one call at a time
                self._gate_lib.fp_gate_enter(gate)
                try:
                    status = self._execute(self._raw, payload, len(payload), ctx, message,
                                           MESSAGE_CAPACITY)  # fmt: skip
                finally:
                    self._gate_lib.fp_gate_leave(gate)
            message[MESSAGE_CAPACITY - 1] = b"\0"  # a plugin that forgot the NUL
            return status, self._ffi.string(message).decode("utf-8", errors="replace")

    def _c_text(self, text: str) -> Any:
        """A NUL-terminated copy of ``text`` kept for later calls (at most 65 kept)."""
        buf = self._modes.get(text)
        if buf is None:
            if len(self._modes) > 64:
                self._modes.clear()
                self._context.source = self._context.event_name = self._c_text("")
            buf = self._ffi.new("char[]", text.encode("utf-8"))
            self._modes[text] = buf
        return buf

    def shutdown(self) -> None:
        """Call shutdown() then destroy(); the library itself stays mapped. A call in progress
        is waited for SHUTDOWN_WAIT_S at most: one still running then (a plugin that does not
        return) leaves the plugin as it is, never destroyed under a running call."""
        ffi = abi_mod.ffi()
        if not self._lock.acquire(timeout=SHUTDOWN_WAIT_S):
            self._left_running()
            return
        try:
            gate = self._gate
            if gate is not None:  # wait for a native call in progress; none after this
                if not self._gate_lib.fp_gate_enter_within(gate, int(SHUTDOWN_WAIT_S * 1e9)):
                    self._left_running()
                    return
                self._gate_lib.fp_gate_close(gate)
                self._gate_lib.fp_gate_leave(gate)
            if self._state == "initialized" and self._view.shutdown != ffi.NULL:
                self._view.shutdown(self._raw)
            if self._state in ("created", "initialized") and self._view.destroy != ffi.NULL:
                self._view.destroy(self._raw)
            self._state = "destroyed"
        finally:
            self._lock.release()

    def _left_running(self) -> None:
        log.error(
            "%s: still inside a call after %g s: not shut down (its shutdown() and destroy() "
            "are not called; it ends with the process)", self.name, SHUTDOWN_WAIT_S,
        )  # fmt: skip

    def native_entry(self) -> tuple[int, int, Any] | None:
        """(execute() and the plugin's own pointer as integers, its call gate) for the daemon's
        native dispatch; None unless initialized with an execute() and a gate. Never waits for
        a call in progress (a call the gate lets in after a shutdown is refused by the gate)."""
        if self._state != "initialized" or self._execute == self._ffi.NULL or self._gate is None:
            return None
        execute = int(self._ffi.cast("uintptr_t", self._execute))
        return execute, int(self._ffi.cast("uintptr_t", self._raw)), self._gate

    def get_extension(self, extension_id: str) -> Any:
        """The plugin's extension pointer for ``extension_id``, or None."""
        ffi = abi_mod.ffi()
        if self._view.get_extension == ffi.NULL:
            return None
        with self._lock:
            pointer = self._view.get_extension(self._raw, extension_id.encode("utf-8"))
        return None if pointer == ffi.NULL else pointer

    # -- host side ---------------------------------------------------------------------------
    def _build_host_struct(self) -> Any:
        ffi = abi_mod.ffi()
        host = self._host
        name = self.info.name
        denied = abi_mod.constant("MIDIMON_ERR_DENIED")
        failed = abi_mod.constant("MIDIMON_ERR_FAILED")
        midi_granted = Capability.MIDI in self.granted

        def log_cb(_host: Any, level: int, message: Any) -> None:
            if message == ffi.NULL:
                return
            text = ffi.string(message, MAX_LOG_BYTES).decode("utf-8", errors="replace")
            host.log(name, level, text)

        def send_midi_cb(_host: Any, data: Any, length: int) -> int:
            if not midi_granted:
                host.log(name, 2, "send_midi refused: the Midi capability is not granted")
                return denied
            if data == ffi.NULL or length == 0 or length > MAX_MIDI_BYTES:
                return abi_mod.constant("MIDIMON_ERR_INVALID_PARAMS")
            return int(host.send_midi(name, bytes(ffi.buffer(data, length))))

        def set_pad_cb(_host: Any, pad: int, color: Any) -> int:
            if not midi_granted:
                host.log(name, 2, "set_pad refused: the Midi capability is not granted")
                return denied
            if color == ffi.NULL:
                return abi_mod.constant("MIDIMON_ERR_INVALID_PARAMS")
            text = ffi.string(color, MAX_LED_COLOR + 1)
            if not 0 < len(text) <= MAX_LED_COLOR:
                return abi_mod.constant("MIDIMON_ERR_INVALID_PARAMS")
            return call_set_led(host, name, int(pad), text.decode("utf-8", errors="replace"))

        leds = ffi.new("midimon_host_leds_t *")
        leds.struct_size = ffi.sizeof("midimon_host_leds_t")
        leds_fields = {name: field.type for name, field in ffi.typeof("midimon_host_leds_t").fields}
        set_pad = ffi.callback(leds_fields["set_pad"], set_pad_cb, error=failed)
        leds.set_pad = set_pad
        extensions = {LEDS_EXTENSION: ffi.cast("void *", leds)}

        def get_extension_cb(_host: Any, extension_id: Any) -> Any:
            if extension_id == ffi.NULL:
                return ffi.NULL
            wanted = ffi.string(extension_id, 256).decode("utf-8", errors="replace")
            return extensions.get(wanted, ffi.NULL)

        # The callback types are the struct members' own (the header is the one source, and
        # the precompiled FFI cannot parse new signatures with const typedef pointers).
        member = {name: field.type for name, field in ffi.typeof("midimon_host_t").fields}
        callbacks = (
            ffi.callback(member["log"], log_cb),
            ffi.callback(member["send_midi"], send_midi_cb, error=failed),
            ffi.callback(member["get_extension"], get_extension_cb),
        )
        host_name = ffi.new("char[]", b"midimon")
        from midimon import __version__

        host_version = ffi.new("char[]", __version__.encode())
        struct = ffi.new("midimon_host_t *")
        struct.abi_major = abi_mod.abi().major
        struct.abi_minor = abi_mod.abi().minor
        struct.struct_size = ffi.sizeof("midimon_host_t")
        struct.host_name = host_name
        struct.host_version = host_version
        struct.log, struct.send_midi, struct.get_extension = callbacks
        # A plugin thread may outlive destroy() and still call in: keep all of it alive.
        _KEEP_ALIVE.append((struct, callbacks, host_name, host_version, leds, set_pad))
        return struct


__all__ = [
    "LEDS_EXTENSION",
    "EncodedParams",
    "HostServices",
    "LoggingHost",
    "NativePlugin",
    "PluginInfo",
    "call_set_led",
    "encode_params",
    "read_binary",
]
