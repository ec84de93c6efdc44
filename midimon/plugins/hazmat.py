"""HAZARDOUS MATERIALS: the doors that load plugin code without the integrity check or without
the sandbox. Nothing here verifies a signature, and what it loads runs in THIS process.

What is here:

- :func:`load_image`: dlopen bytes the caller says it has checked, call ``_create_plugin`` and
  run the ABI and struct checks. The safe path, ``integrity.load_verified``, checks the bytes
  and then calls it; nothing else in midimon should.
- :func:`load_unverified`: read a plugin's binary and load it with NO signature or trust
  check (only the ABI, the struct and a SHA-256 pinned in plugin.toml are checked).
- :class:`InProcessRunner`: run a loaded plugin inside this process: no sandbox, no timeout,
  no memory limit, capabilities advisory. The PluginManager builds one only after its own
  check (signed by a trusted key or bundled, and ``isolation = "in-process"`` configured).

Who may use it: the two callers above (``integrity.verify`` and the manager, each after its
check), tests of the ABI and struct checks, benchmarks that time the raw call, and developer
tools working on a plugin being built. A daemon or a CLI command loading a user's plugin goes
through ``midimon.plugins.PluginManager`` (isolated, verified) or
``midimon.plugins.load_verified``; the facade ``midimon.plugins`` does not export these names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import MissingEntryPoint, NotASharedObject, NullPlugin
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.image import ImageBytes, materialize
from midimon.plugins.loading.loader import (
    HostServices,
    LoggingHost,
    NativePlugin,
    check_against_manifest,
    check_header,
    read_binary,
    read_info,
)

_LIBRARIES: list[object] = []  # every library loaded: never dlclose'd (RTLD_NODELETE too)


def _open_library(ffi: Any, loader_path: Path, binary: Path) -> Any:
    flags = ffi.RTLD_NOW | ffi.RTLD_LOCAL | getattr(ffi, "RTLD_NODELETE", 0)
    try:
        lib = ffi.dlopen(str(loader_path), flags)
    except OSError as exc:
        detail = str(exc).replace(str(loader_path), str(binary))
        raise NotASharedObject(
            binary, f"not a shared library this system can load ({detail})"
        ) from None
    _LIBRARIES.append(lib)
    return lib


def _read_struct(ffi: Any, raw: Any, path: Path) -> Any:
    """Check the version/size header, then copy the struct zero-extended to the host's size."""
    major, minor, struct_size = ffi.cast("uint32_t *", raw)[0:3]
    check_header(major, minor, struct_size, path)
    view = ffi.new("midimon_plugin_t *")
    ffi.memmove(view, raw, min(struct_size, ffi.sizeof("midimon_plugin_t")))
    return view


def load_image(
    manifest: PluginManifest,
    data: ImageBytes,
    digest: str,
    host: HostServices | None = None,
    *,
    granted: frozenset[Capability] | None = None,
) -> NativePlugin:
    """Load already-read bytes as the plugin ``manifest`` describes, in this process.

    HAZARD: the bytes are not checked here; the caller must have verified exactly these bytes
    (as ``integrity.load_verified`` does). ``digest`` is their SHA-256, kept on the plugin.
    """
    ffi = abi_mod.ffi()
    binary = manifest.binary
    assert binary is not None  # read_binary() refused it otherwise
    loader_path = materialize(data, manifest.name, binary.suffix)
    lib = _open_library(ffi, loader_path, binary)
    try:
        entry = lib._create_plugin  # the C entry symbol, not a private Python name
    except (AttributeError, ffi.error):  # parsed FFI: AttributeError; precompiled: ffi.error
        raise MissingEntryPoint(
            binary, "does not export _create_plugin; define it with MIDIMON_EXPORT"
        ) from None
    raw = entry()
    if raw == ffi.NULL:
        raise NullPlugin(binary, "_create_plugin returned NULL")
    view = _read_struct(ffi, raw, binary)
    info = read_info(view, binary)
    check_against_manifest(info, manifest, binary)
    return NativePlugin(
        manifest=manifest,
        info=info,
        sha256=digest,
        raw=raw,
        view=view,
        host=host or LoggingHost(),
        granted=manifest.capabilities if granted is None else granted,
    )


def load_unverified(
    manifest: PluginManifest,
    host: HostServices | None = None,
    *,
    granted: frozenset[Capability] | None = None,
) -> NativePlugin:
    """Load a plugin in this process WITHOUT the signature check.

    HAZARD: for tests of the ABI checks, benchmarks and tools on a plugin being built. Anything
    loading a user's plugin uses ``integrity.load_verified`` (or the PluginManager).
    """
    data, digest = read_binary(manifest)
    return load_image(manifest, data, digest, host, granted=granted)


class InProcessRunner:
    """Runs the plugin inside this process via cffi. HAZARD: no sandbox, no timeout, no memory
    limit; capabilities are advisory (only the host's send_midi broker checks the Midi grant)."""

    mode = "in-process"
    in_process = True

    def __init__(
        self,
        manifest: PluginManifest,
        data: ImageBytes,
        sha256: str,
        host: HostServices,
        granted: frozenset[Capability],
    ) -> None:
        self._plugin: NativePlugin = load_image(manifest, data, sha256, host, granted=granted)
        self.info = self._plugin.info

    def initialize(self, timeout: float) -> None:
        """Initialize in this thread (no timeout can be enforced in-process)."""
        self._plugin.initialize()

    def execute(self, payload: bytes, context: TriggerContext, timeout: float) -> tuple[int, str]:
        """Call execute in this thread."""
        return self._plugin.execute_encoded(payload, context)

    def native_entry(self) -> tuple[int, int, Any] | None:
        """What the daemon's native dispatch calls (NativePlugin.native_entry); HAZARD: through
        it the plugin runs with none of the manager's checks, which the caller makes."""
        return self._plugin.native_entry()

    @property
    def usable(self) -> bool:
        """Always: the plugin lives as long as this process."""
        return True

    def shutdown(self) -> None:
        """shutdown() + destroy(); the library stays mapped (never dlclose)."""
        self._plugin.shutdown()

    def kill(self) -> None:
        """Nothing can be killed in-process; the call runs to completion."""

    def enforcement(self) -> list[str]:
        """In-process: nothing is enforced."""
        return [
            "in-process: no sandbox, no timeout, no memory limit; capabilities are advisory "
            "(only the host's send_midi broker checks the Midi grant)"
        ]

    def rss_bytes(self) -> int | None:
        """Shares the daemon's memory."""
        return None


__all__ = ["InProcessRunner", "load_image", "load_unverified"]
