"""grant_paths' rules applied for one PluginManager: what its Filesystem grants may name.

Besides midimon's default folders, the guard protects the files this manager really uses (its
grants file, audit log, trust store and anti-rollback records, wherever they are), checks new
grants (auditing each refusal), and re-checks saved ones when a worker starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.integrity.verify import IntegrityChecker
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.sandbox.grant_paths import (
    NO_PATH_REASON,
    FilesystemAccess,
    FilesystemPathMissing,
    ProtectedPath,
    RefusedPath,
    UnsafeGrantPath,
    apply_filesystem_grants,
    check_grant_path,
    protected_paths,
)

FILESYSTEM = Capability.FILESYSTEM.value


class FilesystemGuard:
    """Checks Filesystem grant paths against midimon's folders and this manager's files."""

    def __init__(
        self,
        state: PluginStateStore,
        audit: AuditLog,
        checker: IntegrityChecker,
        search_dirs: Iterable[Path],
    ) -> None:
        self.state = state
        self.audit = audit
        self.checker = checker
        self.search_dirs = tuple(search_dirs)

    def protected(self, manifest: PluginManifest) -> list[ProtectedPath]:
        """The folders no Filesystem grant of this plugin may reach."""
        state = self.state.path.parent
        extra = [
            ProtectedPath(state, f"the grants file in {state}", "it could grant itself anything"),
            ProtectedPath(
                self.audit.path.parent,
                f"the audit log in {self.audit.path.parent}",
                "it could erase its audit trail",
            ),
            ProtectedPath(
                self.checker.trust_store.directory,
                f"the trust store {self.checker.trust_store.directory}",
                "it could add its author's key, so any plugin they sign is trusted",
            ),
        ]
        if self.checker.rollback is not None:
            folder = self.checker.rollback.path.parent
            extra.append(
                ProtectedPath(
                    folder,
                    f"the anti-rollback records in {folder}",
                    "it could let an older, vulnerable version of itself load",
                )
            )
        return protected_paths(self.search_dirs, manifest.directory, extra)

    def access(
        self, manifest: PluginManifest, grants: list[Grant], audit: bool
    ) -> FilesystemAccess:
        """The Filesystem paths to apply: every granted path resolved and checked again, so a
        symlink swapped in since the grant (or a grant saved under older rules) is not applied;
        with ``audit`` (a worker is starting), each refusal goes to the audit log."""
        fs = [g for g in grants if g.capability is Capability.FILESYSTEM]
        if not fs:
            return FilesystemAccess()
        if not any(g.all_paths for g in fs):
            access = FilesystemAccess(refused=(RefusedPath("(no path)", "read", NO_PATH_REASON),))
        else:
            access = apply_filesystem_grants(
                [p for g in fs for p in g.read_paths],
                [p for g in fs for p in g.write_paths],
                self.protected(manifest),
            )
        if audit:
            for refused in access.refused:
                self.audit.record(
                    "grant_refused",
                    manifest.name,
                    capability=FILESYSTEM,
                    at="worker start",
                    **refused.as_dict(),
                )
        return access

    def unsafe_stored(
        self, manifests: Mapping[str, PluginManifest]
    ) -> list[tuple[str, RefusedPath]]:
        """Saved Filesystem grants of these plugins (for any binary) that are not applied."""
        found = []
        for plugin, grants in sorted(self.state.all_grants().items()):
            grant = grants.get(Capability.FILESYSTEM)
            manifest = manifests.get(plugin)
            if grant is None or manifest is None:
                continue
            access = self.access(manifest, [grant], audit=False)
            found += [(plugin, refused) for refused in access.refused]
        return found

    def check(
        self,
        manifest: PluginManifest,
        read: Iterable[Path | str] = (),
        write: Iterable[Path | str] = (),
        at: str = "grant",
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A new grant's paths resolved, (read, write); UnsafeGrantPath or
        FilesystemPathMissing otherwise, audited as ``grant_refused`` (``at`` says where:
        grant, plugins exec). Relative paths are taken from this process's working directory."""
        name = manifest.name
        protected = self.protected(manifest)
        checked: dict[str, list[str]] = {"read": [], "write": []}
        for mode, given in (*(("read", p) for p in read), *(("write", p) for p in write)):
            try:
                checked[mode].append(str(check_grant_path(given, protected)))
            except (UnsafeGrantPath, FilesystemPathMissing) as exc:
                self.audit.record(
                    "grant_refused", name, capability=FILESYSTEM, at=at, path=str(given),
                    mode=mode, reason=str(exc),
                )  # fmt: skip
                raise
        if not checked["read"] and not checked["write"]:
            missing = FilesystemPathMissing(
                f"a filesystem grant names the paths {name} may use: --write DIR (read and "
                f"write DIR, e.g. ~/midimon-files) or --read DIR (read only); nothing is "
                "granted without one"
            )
            self.audit.record(
                "grant_refused", name, capability=FILESYSTEM, at=at, reason=str(missing)
            )
            raise missing
        return tuple(dict.fromkeys(checked["read"])), tuple(dict.fromkeys(checked["write"]))
