"""Installing and removing a plugin in the user plugins dir: one code path for ``midimon
install`` / ``uninstall`` and the daemon's PLUGIN_INSTALL / PLUGIN_UNINSTALL.

Install unpacks and verifies the package in a temporary folder (refusing it there leaves
nothing behind), grants only what the rules allow, moves it into place, then records the
signer as accepted, the audit events and the grants. The grant rules: a capability named
explicitly is granted; Filesystem never is at install (it needs the folders it may use);
with ``yes`` the medium-risk ones too, never a high-risk one; else each medium- or high-risk
one the ``ask`` function says yes to. Low-risk ones follow the auto_grant setting as always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import Capability, RiskLevel, from_name, sorted_caps
from midimon.plugins.description.discovery import discover
from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.errors import InstallRefused
from midimon.plugins.integrity.packaging import commit, remove_folder, staged
from midimon.plugins.integrity.verify import IntegrityChecker, IntegrityReport
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.settings import PluginSettings

Ask = Callable[[Capability], bool]


def wanted_grants(names: Iterable[str], option: str = "--grant") -> set[Capability]:
    """The capabilities named to grant at install; Filesystem is refused (it needs paths)."""
    try:
        wanted = {from_name(name) for name in names}
    except ValueError as exc:
        raise InstallRefused(str(exc)) from None
    if Capability.FILESYSTEM in wanted:
        raise InstallRefused(
            f"{option} filesystem: install does not grant Filesystem, which needs the folders "
            "it may write; after installing: midimon plugins grant NAME filesystem --write DIR"
        )
    return wanted


def install_grants(
    requested: list[Capability], wanted: set[Capability], yes: bool, ask: Ask | None
) -> list[Capability]:
    """What install grants of ``requested`` (see the module docstring)."""
    granted: list[Capability] = []
    for cap in requested:
        if cap in wanted:
            granted.append(cap)
        elif cap.risk is RiskLevel.LOW:
            continue  # low risk: the auto_grant setting decides, as for any plugin
        elif yes:
            if cap.risk is RiskLevel.MEDIUM:
                granted.append(cap)
        elif ask is not None and cap is not Capability.FILESYSTEM and ask(cap):
            granted.append(cap)
    return granted


@dataclass
class Installed:
    """What an install did."""

    manifest: PluginManifest
    report: IntegrityReport
    path: Path
    replaced: str | None  # the version it replaced, "unknown" for a broken one
    requested: list[Capability]
    granted: list[Capability]
    auto_granted: frozenset[Capability] = field(default_factory=frozenset)

    @property
    def not_granted(self) -> list[Capability]:
        """Requested capabilities that are neither granted nor auto-granted."""
        return [
            c for c in self.requested if c not in self.granted and c not in self.auto_granted
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON both ``midimon install --json`` and PLUGIN_INSTALL return."""
        signature = self.report.signature or {}
        return {
            "installed": self.manifest.name,
            "version": self.manifest.version,
            "path": str(self.path),
            "replaced": self.replaced,
            "trust": self.report.trust,
            "signer": signature.get("signer"),
            "key_id": signature.get("key_id"),
            "sha256": self.report.sha256,
            "granted": [c.value for c in self.granted],
            "not_granted": [c.value for c in self.not_granted],
            "capabilities": [
                {
                    "name": c.value,
                    "risk": c.risk.value,
                    "granted": c in self.granted or c in self.auto_granted,
                }
                for c in self.requested
            ],
        }


def install(
    source: Path,
    *,
    plugins_dir: Path,
    state_dir: Path,
    settings: PluginSettings,
    wanted: set[Capability],
    yes: bool = False,
    ask: Ask | None = None,
    before_grants: Callable[[PluginManifest, IntegrityReport], None] | None = None,
    checker: IntegrityChecker | None = None,
    store: PluginStateStore | None = None,
    audit: AuditLog | None = None,
) -> Installed:
    """Verify and install ``source`` (package or folder) into ``plugins_dir``.

    ``before_grants`` is called once the package verified, before any grant is decided (the
    CLI prints what it asks for there). ``store`` and ``audit``: the running daemon's own
    (its grants then hold from the very next call, not once its cache looks at the file
    again); by default the files in ``state_dir``. Raises PackagingError (InstallRefused for
    a rule of this function) and installs nothing then.
    """
    checker = checker or IntegrityChecker.for_user()
    with staged(source, plugins_dir, checker, settings.policy_for) as stage:
        manifest, report = stage.manifest, stage.report
        requested = sorted_caps(manifest.capabilities)
        extra = wanted - set(requested)
        if extra:
            raise InstallRefused(
                f"--grant {', '.join(c.value for c in sorted_caps(extra))}: {manifest.name} "
                "does not request it; it requests: "
                + (", ".join(c.value for c in requested) or "nothing")
            )
        if before_grants is not None:
            before_grants(manifest, report)
        granted = install_grants(requested, wanted, yes, ask)
        target = plugins_dir / manifest.name
        previous = installed_version(target)
        commit(stage, plugins_dir)
    checker.record_accepted(report)
    store = store or PluginStateStore(state_dir / "plugin_state.json")
    audit = audit or AuditLog(state_dir / "audit.jsonl")
    audit.record(
        "install", manifest.name, version=manifest.version, sha256=report.sha256,
        path=str(target), replaced=previous, trust=report.trust,
    )  # fmt: skip
    for cap in granted:
        store.grant(manifest.name, report.sha256, Grant(cap, (), time.time()), report.signer_id)
        audit.record("grant", manifest.name, capability=cap.value, paths=[], sha256=report.sha256)
    return Installed(
        manifest, report, target, previous, requested, granted,
        frozenset(settings.auto_grant) & frozenset(requested),
    )  # fmt: skip


def installed_version(target: Path) -> str | None:
    """The version installed at ``target``; None when nothing is, "unknown" when broken."""
    if not target.exists():
        return None
    try:
        return load_manifest(target).version
    except Exception:  # a broken old install is still replaced
        return "unknown"


@dataclass(frozen=True)
class Uninstalled:
    """What an uninstall removed."""

    name: str
    path: Path
    grants_removed: list[str]
    state_removed: bool

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``midimon uninstall --json`` and PLUGIN_UNINSTALL."""
        return {
            "uninstalled": self.name,
            "path": str(self.path),
            "removed": [str(self.path)],
            "grants_removed": self.grants_removed,
            "state_removed": self.state_removed,
        }


def uninstall_target(name: str, plugins_dir: Path, search_path: list[Path]) -> Path:
    """The folder ``uninstall`` would remove, or InstallRefused saying why there is none (a
    bundled or system-wide plugin is never removed)."""
    target = plugins_dir / name
    if "/" in name or name in ("", ".", "..") or not target.is_dir():
        found = discover(search_path).plugins.get(name)
        if found is not None:
            raise InstallRefused(
                f"{name} is not installed in {plugins_dir} but in {found.search_dir} "
                "(bundled or system-wide); midimon uninstall only removes plugins you installed"
            )
        raise InstallRefused(f"no plugin {name!r} installed in {plugins_dir}")
    return target


def uninstall(name: str, target: Path, state_dir: Path) -> Uninstalled:
    """Remove ``target`` (from :func:`uninstall_target`) with the plugin's grants and disabled
    flag; its anti-rollback record stays."""
    store = PluginStateStore(state_dir / "plugin_state.json")
    grants = sorted(c.value for c in store.all_grants().get(name, {}))
    remove_folder(target)
    forgot = store.forget(name)
    AuditLog(state_dir / "audit.jsonl").record(
        "uninstall", name, path=str(target), state_removed=forgot, grants_removed=grants
    )
    return Uninstalled(name, target, grants, forgot)
