"""Grants as the PluginManager administers them: what a plugin runs with, grant and revoke
(audited, persisted, applied at the next call), Filesystem path checks, and denial hints.

:class:`GrantAdmin` is a base of :class:`~midimon.plugins.manager.plugin_manager.PluginManager`
and works on its state, declared below.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import Capability, sorted_caps
from midimon.plugins.description.discovery import DiscoveredPlugin
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.integrity.pins import claimed_signer
from midimon.plugins.loading.loader import read_binary
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grant_guard import FilesystemGuard
from midimon.plugins.manager.grant_hints import grant_hint
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.manager.results import LoadedPlugin
from midimon.plugins.sandbox.grant_paths import FilesystemAccess, ProtectedPath, RefusedPath
from midimon.plugins.settings import PluginSettings


class GrantAdmin(abc.ABC):
    """The grant methods of PluginManager (its state, declared here for the type checker; the two
    abstract methods are PluginManager's)."""

    settings: PluginSettings
    extra_dirs: tuple[Path, ...]
    one_off_hints: bool
    state: PluginStateStore
    audit: AuditLog
    fs_guard: FilesystemGuard
    session_grants: dict[str, tuple[Grant, ...]]
    _lock: threading.RLock
    _available: dict[str, DiscoveredPlugin]
    _loaded: dict[str, LoadedPlugin]

    @abc.abstractmethod
    def get_metadata(self, name: str) -> PluginManifest:
        """The manifest of the plugin ``name`` (PluginNotFound when there is none)."""

    @abc.abstractmethod
    def _ensure_discovered(self) -> None:
        """Discover the plugin folders once, before the first lookup."""

    def protected_paths(self, manifest: PluginManifest) -> list[ProtectedPath]:
        """The folders no Filesystem grant of this plugin may reach (see grant_guard)."""
        return self.fs_guard.protected(manifest)

    def _granted(
        self, manifest: PluginManifest, sha256: str, signer: str | None, audit: bool = False
    ) -> tuple[frozenset[Capability], FilesystemAccess]:
        grants = [
            *self.state.grants(manifest.name, sha256, signer).values(),
            *self.session_grants.get(manifest.name, ()),
        ]
        auto = self.settings.auto_grant & manifest.capabilities
        granted = frozenset(g.capability for g in grants) | auto
        access = self.fs_guard.access(manifest, grants, audit)
        if Capability.FILESYSTEM in granted and not access.any_path:
            granted -= {Capability.FILESYSTEM}  # every path refused: the grant is not applied
        return granted, access

    def granted_to(
        self, manifest: PluginManifest, sha256: str, signer: str | None
    ) -> tuple[frozenset[Capability], FilesystemAccess]:
        """What this binary from this signer would run with now (saved, session and auto
        grants; the Filesystem paths applied and refused), without auditing anything."""
        return self._granted(manifest, sha256, signer)

    def unsafe_stored_grants(self) -> list[tuple[str, RefusedPath]]:
        """Saved Filesystem grants (of any binary) that are not applied: ``/``, midimon's own
        folders, a path grown unsafe, or no path at all (older rules); for start-up."""
        self._ensure_discovered()
        with self._lock:
            manifests = {name: found.manifest for name, found in self._available.items()}
        return self.fs_guard.unsafe_stored(manifests)

    def check_filesystem_paths(
        self,
        name: str,
        read: Iterable[Path | str] = (),
        write: Iterable[Path | str] = (),
        at: str = "grant",
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Resolve and check the paths of a Filesystem grant for plugin ``name``: (read,
        write) resolved, or UnsafeGrantPath / FilesystemPathMissing (audited as
        ``grant_refused``). Relative paths are taken from this process's working directory."""
        return self.fs_guard.check(self.get_metadata(name), read, write, at)

    def _current_binary(self, name: str) -> tuple[str, str | None]:
        """The SHA-256 and signer of the copy that runs (or would run) under ``name``."""
        with self._lock:
            loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded.report.sha256, loaded.report.signer_id
        manifest = self.get_metadata(name)
        _, digest = read_binary(manifest)
        return digest, claimed_signer(manifest)  # verified against it at load

    def grant(
        self,
        name: str,
        capability: Capability,
        write_paths: Iterable[Path | str] = (),
        *,
        read_paths: Iterable[Path | str] = (),
    ) -> None:
        """Grant a capability to the plugin's current binary (persists across restarts).

        Filesystem needs at least one path: ``write_paths`` may be read and written,
        ``read_paths`` only read; each is refused when it would reach ``/`` or midimon's own
        state (see :meth:`check_filesystem_paths`). A running worker is restarted before its
        next call so the sandbox includes the grant.
        """
        manifest = self.get_metadata(name)
        if capability not in manifest.capabilities:
            raise ValueError(
                f"{name} does not ask for {capability.value}; its plugin.toml declares: "
                + (", ".join(c.value for c in sorted_caps(manifest.capabilities)) or "nothing")
            )
        write_paths, read_paths = tuple(write_paths), tuple(read_paths)
        if capability is Capability.FILESYSTEM:
            reads, writes = self.check_filesystem_paths(name, read_paths, write_paths)
        elif write_paths or read_paths:
            raise ValueError("paths can only be given with the filesystem capability")
        else:
            reads, writes = (), ()
        sha256, signer = self._current_binary(name)
        self.state.grant(name, sha256, Grant(capability, writes, time.time(), reads), signer)
        self.audit.record(
            "grant",
            name,
            capability=capability.value,
            paths=list(writes),
            read_paths=list(reads),
            sha256=sha256,
        )
        self._mark_restart(name)

    def denial_hint(
        self,
        manifest: PluginManifest,
        missing: Iterable[Capability],
        params: Mapping[str, Any] | str | bytes = "{}",
    ) -> str:
        """Commands that grant ``missing`` as printed: the folder the params name for
        Filesystem, ``--plugins-dir`` when the plugin was found through one; with
        ``one_off_hints`` (``plugins exec``) the options for one run too."""
        found = self._available.get(manifest.name)
        plugins_dir = None
        if found is not None:
            where = found.search_dir.resolve()
            plugins_dir = next((d for d in self.extra_dirs if d.resolve() == where), None)
        missing = frozenset(missing)
        # Only a Filesystem hint needs the protected folders (a dozen path resolutions).
        protected = self.protected_paths(manifest) if Capability.FILESYSTEM in missing else []
        args = (manifest.name, missing, params, protected, plugins_dir)
        hint = grant_hint(*args)
        if self.one_off_hints:
            hint += "; or for this run only: " + grant_hint(*args, one_off=True)
        return hint

    def revoke(self, name: str, capability: Capability) -> bool:
        """Revoke a grant; the worker restarts without it before the next call."""
        removed = self.state.revoke(name, capability)
        if removed:
            self.audit.record("revoke", name, capability=capability.value)
            self._mark_restart(name)
        return removed

    def _mark_restart(self, name: str) -> None:
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is not None:
                loaded.needs_restart = True
