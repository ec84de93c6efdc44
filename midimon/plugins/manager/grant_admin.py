"""Grants as the PluginManager administers them: what a plugin runs with, grant and revoke
(audited, persisted, applied at the next call), Filesystem path checks, and denial hints.

A :class:`GrantAdmin` is held by its manager as ``manager.grants``; it reaches the manager only
through the small public :class:`GrantHost` interface (lookups, and the loaded plugin whose
worker must restart after a change).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from midimon.plugins.description.capabilities import Capability, sorted_caps
from midimon.plugins.description.discovery import DiscoveredPlugin
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.integrity.pins import claimed_signer
from midimon.plugins.integrity.verify import IntegrityChecker
from midimon.plugins.loading.loader import read_binary
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grant_guard import FilesystemGuard
from midimon.plugins.manager.grant_hints import grant_hint
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.manager.results import LoadedPlugin
from midimon.plugins.sandbox.grant_paths import (
    FilesystemAccess,
    ProtectedPath,
    RefusedPath,
    sensitive_folders_covered,
)
from midimon.plugins.settings import PluginSettings


class GrantHost(Protocol):
    """What a GrantAdmin needs from the manager that holds it (PluginManager)."""

    settings: PluginSettings  # replaced on a daemon reload: always read it from here
    state: PluginStateStore
    audit: AuditLog
    checker: IntegrityChecker
    extra_dirs: tuple[Path, ...]  # --plugins-dir folders, named in hints
    search_dirs: list[Path]
    one_off_hints: bool  # plugins exec: hints give its --grant options too

    def get_metadata(self, name: str) -> PluginManifest:
        """The manifest of the plugin ``name`` (PluginNotFound when there is none)."""

    def list_available(self) -> list[DiscoveredPlugin]:
        """Every discovered plugin (discovering them first if needed)."""

    def loaded_plugin(self, name: str) -> LoadedPlugin | None:
        """The loaded plugin ``name``, or None."""

    def note_change(self) -> None:
        """A plugin's grants or restart state changed (PluginManager.note_change)."""


class GrantAdmin:
    """The grants of one PluginManager: saved ones (``state``), this process's session grants,
    the auto-grant setting, and the Filesystem paths ``fs_guard`` allows."""

    def __init__(
        self, plugins: GrantHost, session_grants: Mapping[str, Iterable[Grant]] | None = None
    ) -> None:
        self.plugins = plugins
        self.state = plugins.state
        self.audit = plugins.audit
        self.fs_guard = FilesystemGuard(
            plugins.state, plugins.audit, plugins.checker, plugins.search_dirs
        )
        # Grants for this process only (``plugins exec --grant``), never written to disk.
        self.session_grants = {k: tuple(v) for k, v in (session_grants or {}).items()}
        # Called (name, missing, sha256) when a call is refused for missing grants; must not
        # block: it runs on the thread that made the call.
        self.on_not_granted: Callable[[str, frozenset[Capability], str], None] | None = None

    @property
    def settings(self) -> PluginSettings:
        """The manager's [plugins] settings as they are now (a daemon reload replaces them)."""
        return self.plugins.settings

    def protected_paths(self, manifest: PluginManifest) -> list[ProtectedPath]:
        """The folders no Filesystem grant of this plugin may reach (see grant_guard)."""
        return self.fs_guard.protected(manifest)

    def granted_to(
        self, manifest: PluginManifest, sha256: str, signer: str | None, *, audit: bool = False
    ) -> tuple[frozenset[Capability], FilesystemAccess]:
        """What this binary from this signer runs with now (saved, session and auto grants;
        the Filesystem paths applied and refused); ``audit``: record refused paths."""
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

    def refresh(self, loaded: LoadedPlugin, *, audit: bool = False) -> None:
        """Set a loaded plugin's ``granted`` and ``access`` to what :meth:`granted_to` gives now
        (after a grant or revoke, before its next call or restart)."""
        report = loaded.report
        loaded.granted, loaded.access = self.granted_to(
            loaded.manifest, report.sha256, report.signer_id, audit=audit
        )
        self.plugins.note_change()

    def unsafe_stored_grants(self) -> list[tuple[str, RefusedPath]]:
        """Saved Filesystem grants (of any binary) that are not applied: ``/``, midimon's own
        folders, a path grown unsafe, or no path at all (older rules); for start-up."""
        manifests = {found.name: found.manifest for found in self.plugins.list_available()}
        return self.fs_guard.unsafe_stored(manifests)

    def summary(
        self, manifest: PluginManifest, sha256: str | None, signer: str | None
    ) -> dict[str, Any]:
        """The grant part of ``plugins info`` for this binary (None: unreadable, so nothing is
        granted): capabilities granted and missing, Filesystem paths saved, refused, and the
        sensitive folders they cover."""
        if sha256:
            granted, access = self.granted_to(manifest, sha256, signer)
            grants = self.state.grants(manifest.name, sha256, signer)
            refused = [r.as_dict() for r in access.refused]
            applied = [*access.read_paths, *access.write_paths]
        else:
            granted, grants, refused, applied = frozenset(), {}, [], []
        return {
            "granted": [c.value for c in sorted_caps(granted)],
            "filesystem_paths": [p for g in grants.values() for p in g.write_paths],
            "filesystem_read_paths": [p for g in grants.values() for p in g.read_paths],
            "filesystem_refused": refused,
            "filesystem_sensitive": sensitive_folders_covered(applied),
            "missing": [c.value for c in sorted_caps(manifest.capabilities - granted)],
        }

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
        return self.fs_guard.check(self.plugins.get_metadata(name), read, write, at)

    def current_binary(self, name: str) -> tuple[str, str | None]:
        """The SHA-256 and claimed signer of the copy that runs (or would run) as ``name``
        (LoadError when its binary cannot be read)."""
        loaded = self.plugins.loaded_plugin(name)
        if loaded is not None:
            return loaded.report.sha256, loaded.report.signer_id
        manifest = self.plugins.get_metadata(name)
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
        manifest = self.plugins.get_metadata(name)
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
        sha256, signer = self.current_binary(name)
        self.state.grant(name, sha256, Grant(capability, writes, time.time(), reads), signer)
        self.audit.record(
            "grant",
            name,
            capability=capability.value,
            paths=list(writes),
            read_paths=list(reads),
            sha256=sha256,
        )
        self.restart_before_next_call(name)

    def denial_hint(
        self,
        manifest: PluginManifest,
        missing: Iterable[Capability],
        params: Mapping[str, Any] | str | bytes = "{}",
    ) -> str:
        """Commands that grant ``missing`` as printed: the folder the params name for
        Filesystem, ``--plugins-dir`` when the plugin was found through one; with
        ``one_off_hints`` (``plugins exec``) the options for one run too."""
        found = next((p for p in self.plugins.list_available() if p.name == manifest.name), None)
        plugins_dir = None
        if found is not None:
            where = found.search_dir.resolve()
            plugins_dir = next((d for d in self.plugins.extra_dirs if d.resolve() == where), None)
        missing = frozenset(missing)
        # Only a Filesystem hint needs the protected folders (a dozen path resolutions).
        protected = self.protected_paths(manifest) if Capability.FILESYSTEM in missing else []
        args = (manifest.name, missing, params, protected, plugins_dir)
        hint = grant_hint(*args)
        if self.plugins.one_off_hints:
            hint += "; or for this run only: " + grant_hint(*args, one_off=True)
        return hint

    def refuse_ungranted(
        self, loaded: LoadedPlugin, params: Mapping[str, Any] | str | bytes
    ) -> str | None:
        """None when the plugin has every capability it declares; else record the denial in the
        audit log and return the refusal: what is missing, any Filesystem grant not applied
        and why, and the grant command (:meth:`denial_hint`)."""
        missing = loaded.manifest.capabilities - loaded.granted
        if not missing:
            return None
        name = loaded.manifest.name
        names = ", ".join(c.value for c in sorted_caps(missing))
        self.audit.record(
            "deny", name, capabilities=sorted(c.value for c in missing), reason="not granted"
        )
        if self.on_not_granted is not None:  # the daemon's grant requests
            self.on_not_granted(name, missing, loaded.report.sha256)
        not_applied = "".join(
            f"; its filesystem grant {r.path} was not applied: {r.reason}"
            for r in loaded.access.refused
        )
        return (
            f"{name} needs {names}, not granted{not_applied}; grant it with: "
            + self.denial_hint(loaded.manifest, missing, params)
        )

    def revoke(self, name: str, capability: Capability) -> bool:
        """Revoke a grant; the worker restarts without it before the next call."""
        removed = self.state.revoke(name, capability)
        if removed:
            self.audit.record("revoke", name, capability=capability.value)
            self.restart_before_next_call(name)
        return removed

    def restart_before_next_call(self, name: str) -> None:
        """Have the plugin's worker restart (with the grants as they are then) before its next
        call, if it is loaded."""
        loaded = self.plugins.loaded_plugin(name)
        if loaded is not None:
            loaded.needs_restart = True
            self.plugins.note_change()
