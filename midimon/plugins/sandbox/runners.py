"""How a loaded plugin is run: in an isolated worker process (default) or in this process.

Both runners offer the same small interface (:class:`Runner`) to the PluginManager. The
isolated one, here, drives a sandboxed ``midimon-worker`` (see worker.py); the in-process one
(``plugins.hazmat.InProcessRunner``) calls the plugin through cffi directly: lowest latency, but
no sandbox and no enforceable timeout, so the manager only allows it for plugins signed by a
trusted key (or bundled) and configured explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import (
    AbiMismatch,
    InvalidPluginStruct,
    LoadError,
    MissingEntryPoint,
    NotASharedObject,
    NullPlugin,
    PluginCallError,
    WorkerError,
    WorkerLoadFailed,
)
from midimon.plugins.loading.abi import abi_version
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.loading.image import ImageBytes, sealed_image_fd
from midimon.plugins.loading.loader import (
    HostServices,
    PluginInfo,
    check_against_manifest,
    check_capability_bits,
    check_header,
)
from midimon.plugins.sandbox.denials import Denial
from midimon.plugins.sandbox.grant_paths import FilesystemAccess
from midimon.plugins.sandbox.native_channel import Adopter, NativeChannel
from midimon.plugins.sandbox.pending import PendingCall
from midimon.plugins.sandbox.pipeline import DEFAULT_QUEUE_SIZE, CallPipeline
from midimon.plugins.sandbox.spec import SandboxSpec
from midimon.plugins.sandbox.worker import WorkerProcess
from midimon.plugins.settings import ExecutionSettings


class Runner(Protocol):
    """What the manager needs from a running plugin."""

    mode: str  # "isolated" or "in-process": reported to users, not tested to decide anything
    info: PluginInfo
    # True when the plugin runs in this process: every call runs to completion on the caller's
    # thread, so it may run inline, but sending it ahead would run it on the sender's thread.
    in_process: bool

    def initialize(self, timeout: float) -> None:
        """Call initialize(); PluginCallError on a failure status."""

    def execute(self, payload: bytes, context: TriggerContext, timeout: float) -> tuple[int, str]:
        """Call execute(); (status, message)."""

    @property
    def usable(self) -> bool:
        """Whether it takes calls (an isolated worker that died is replaced first)."""

    def shutdown(self) -> None:
        """Shut the plugin down and release the runner."""

    def kill(self) -> None:
        """Stop at once (from any thread)."""

    def enforcement(self) -> list[str]:
        """Human lines saying exactly what is enforced for this plugin here."""

    def rss_bytes(self) -> int | None:
        """Resident memory of the plugin's process, when it has its own."""


def _load_error(exc: WorkerLoadFailed, binary: Path) -> LoadError:
    """The same typed error the in-process loader would raise for this refusal."""
    if exc.code in ("abi_major", "abi_minor", "struct_size"):
        found = f"{exc.abi_major}.{exc.abi_minor}"
        if exc.code == "struct_size":
            found = f"struct_size {exc.struct_size}"
        return AbiMismatch(binary, found, abi_version(), exc.message)
    kinds: dict[str, type[LoadError]] = {
        "dlopen": NotASharedObject,
        "image": NotASharedObject,
        "no_entry": MissingEntryPoint,
        "null_plugin": NullPlugin,
    }
    return kinds.get(exc.code, InvalidPluginStruct)(binary, exc.message)


def start_worker(
    manifest: PluginManifest,
    image_fd: int,
    spec: SandboxSpec,
    host: HostServices,
    timeout: float,
) -> tuple[WorkerProcess, PluginInfo]:
    """Start a worker on ``image_fd`` (a sealed memfd of the verified binary; the caller keeps
    it) and check what it loaded exactly as the in-process loader would.

    Raises the loader's typed LoadError for a refusal (the worker is gone then), and
    WorkerCrashed / WorkerTimeout when the worker dies or hangs while loading.
    """
    assert manifest.binary is not None
    binary = manifest.binary
    worker = WorkerProcess(image_fd, manifest.name, spec, host)
    try:
        loaded = worker.start(timeout=timeout)
    except WorkerLoadFailed as exc:
        raise _load_error(exc, binary) from None
    try:
        check_header(loaded.abi_major, loaded.abi_minor, loaded.struct_size, binary)
        capabilities = check_capability_bits(loaded.capabilities, binary)
        info = PluginInfo(
            name=loaded.name,
            version=loaded.version,
            description=loaded.description,
            capabilities=capabilities,
            abi_major=loaded.abi_major,
            abi_minor=loaded.abi_minor,
            struct_size=loaded.struct_size,
        )
        check_against_manifest(info, manifest, binary)
    except Exception:
        worker.kill()
        raise
    return worker, info


def sandbox_spec(
    manifest: PluginManifest,
    granted: frozenset[Capability],
    access: FilesystemAccess,
    settings: ExecutionSettings,
) -> SandboxSpec:
    """The worker sandbox for a plugin with these grants and settings.

    Always: read the plugin folder (and the system libraries isolation adds). Filesystem
    granted: read ``access.read_paths``, read and write ``access.write_paths`` (already resolved
    and checked against midimon's own folders by the manager). Nothing else: a Filesystem grant
    without paths gives nothing, and ``/`` or a folder holding midimon's state never gets here.
    """
    reads: tuple[Path, ...] = (manifest.directory,)
    writes: tuple[Path, ...] = ()
    if Capability.FILESYSTEM in granted:
        reads += access.read_paths
        writes = access.write_paths
    return SandboxSpec(
        granted=granted,
        read_paths=reads,
        write_paths=writes,
        address_space=settings.memory_mb * 1024 * 1024,
        max_processes=settings.max_processes,
        max_open_files=settings.max_open_files,
        kernel_sandbox=settings.kernel_sandbox,
    )


class IsolatedRunner:
    """Runs the plugin in its own sandboxed worker process. Once initialized, its execute()
    calls are pipelined (see pipeline.py): several in flight, answered in order."""

    mode = "isolated"
    in_process = False

    def __init__(
        self,
        manifest: PluginManifest,
        data: ImageBytes,
        spec: SandboxSpec,
        host: HostServices,
        start_timeout: float,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        fd = sealed_image_fd(data, manifest.name)
        try:
            self._worker, self.info = start_worker(manifest, fd, spec, host, start_timeout)
        finally:
            os.close(fd)  # the worker has its own copy of the sealed image
        assert self._worker.load_info is not None
        self._enforcement = self._worker.load_info.enforcement
        self._queue_size = queue_size
        self._pipeline: CallPipeline | None = None

    def initialize(self, timeout: float) -> None:
        """initialize() in the worker; then its calls go through the pipeline."""
        status, message = self._worker.initialize(timeout)
        if status != 0:
            raise PluginCallError(self.info.name, "initialize", status, message)
        self._pipeline = CallPipeline(self._worker, self._queue_size)

    @property
    def usable(self) -> bool:
        """Whether the worker takes calls (False once it died, timed out or shut down)."""
        return self._pipeline is not None and self._pipeline.usable

    def execute(self, payload: bytes, context: TriggerContext, timeout: float) -> tuple[int, str]:
        """execute() in the worker, bounded by ``timeout`` (from when the worker starts it)."""
        if self._pipeline is None:
            return self._worker.execute(payload, context, timeout)
        return self._pipeline.call(payload, context, timeout)

    def submit(
        self,
        payload: bytes,
        context: TriggerContext,
        timeout: float,
        on_done: Callable[[PendingCall], None],
        tag: object = None,
    ) -> PendingCall:
        """Queue an execute() call without waiting; ``on_done(call)`` runs on the worker's
        reader thread when it is answered or failed. Raises PipelineFull (dropped) and
        WorkerError (the worker is gone) at once."""
        if self._pipeline is None:
            raise WorkerError(f"{self.info.name}: the worker is not initialized")
        return self._pipeline.submit(payload, context, timeout, on_done, tag)

    def native_channel(self, ffi: Any, lib: Any, adopt: Adopter) -> NativeChannel | None:
        """The channel the native dispatch sends this worker's calls through
        (``CallPipeline.native_channel``); None before initialize() or once it is gone."""
        pipeline = self._pipeline
        return pipeline.native_channel(ffi, lib, adopt) if pipeline is not None else None

    def shutdown(self) -> None:
        """Let queued calls finish (briefly), then a graceful shutdown of the worker; kill
        when something was left unanswered or it does not exit."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None and not pipeline.close():
            self._worker.abort()
            return
        self._worker.shutdown()

    def kill(self) -> None:
        """Kill the worker's process group."""
        self._worker.kill()

    def enforcement(self) -> list[str]:
        """What the worker reported as in force."""
        return self._enforcement.describe()

    def rss_bytes(self) -> int | None:
        """The worker's resident memory."""
        return self._worker.rss_bytes()

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (None before it was spawned or once it was reaped)."""
        return self._worker.pid

    @property
    def denials(self) -> list[Denial]:
        """Denials the worker reported so far."""
        return self._worker.denials
