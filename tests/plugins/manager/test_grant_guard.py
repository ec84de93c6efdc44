"""The Filesystem guard of one manager: besides midimon's own folders it protects the files
this manager really uses (grants, audit log, trust store, anti-rollback records, wherever they
are), audits each refusal, and checks saved grants again when a worker starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.integrity.rollback import RollbackStore
from midimon.plugins.integrity.trust import TrustStore
from midimon.plugins.integrity.verify import IntegrityChecker
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grant_guard import FilesystemGuard
from midimon.plugins.manager.grants import Grant, PluginStateStore
from midimon.plugins.sandbox.grant_paths import (
    NO_PATH_REASON,
    FilesystemPathMissing,
    UnsafeGrantPath,
)


@pytest.fixture
def guard(tmp_path: Path, isolated_dirs: dict[str, str]) -> FilesystemGuard:
    """A guard whose state files live in unusual places under tmp_path/odd."""
    odd = tmp_path / "odd"
    checker = IntegrityChecker(TrustStore(odd / "keys"), RollbackStore(odd / "rb" / "rb.json"))
    return FilesystemGuard(PluginStateStore(odd / "state" / "grants.json"),
                           AuditLog(odd / "log" / "audit.jsonl"), checker,
                           [tmp_path / "plugins"])  # fmt: skip


@pytest.fixture
def manifest(make_plugin: MakePlugin) -> PluginManifest:
    return load_manifest(make_plugin("guarded"))


def refusals(guard: FilesystemGuard) -> list[dict]:
    return [e for e in guard.audit.read(event="grant_refused")]


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ("state", "the grants file"),
        ("log", "the audit log"),
        ("keys", "the trust store"),
        ("rb", "the anti-rollback records"),
    ],
)
def test_this_managers_own_files_are_protected(
    guard: FilesystemGuard, manifest: PluginManifest, tmp_path: Path, where: str, names: str
) -> None:
    """A grant reaching any of the files this manager uses is refused, saying which and why,
    and the refusal is audited with the path and mode."""
    folder = tmp_path / "odd" / where
    folder.mkdir(parents=True, exist_ok=True)
    with pytest.raises(UnsafeGrantPath, match=names):
        guard.check(manifest, write=[folder], at="plugins exec")
    (entry,) = refusals(guard)
    assert (entry["plugin"], entry["at"], entry["mode"]) == ("guarded", "plugins exec", "write")
    assert entry["path"] == str(folder) and names in entry["reason"]


def test_the_plugins_own_folder_and_the_search_path_are_protected(
    guard: FilesystemGuard, manifest: PluginManifest
) -> None:
    """A plugin may not be granted its own folder (it could rewrite itself) or a plugins dir."""
    for path in (manifest.directory, manifest.directory.parent):
        with pytest.raises(UnsafeGrantPath):
            guard.check(manifest, read=[path])
    assert len(refusals(guard)) == 2


def test_a_grant_names_existing_paths(
    guard: FilesystemGuard, manifest: PluginManifest, tmp_path: Path
) -> None:
    """Good paths come back resolved, once each; no path at all, or a missing one, is
    refused and audited."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "link").symlink_to(data)
    read, write = guard.check(manifest, read=[tmp_path / "link", data], write=[data])
    assert (read, write) == ((str(data),), (str(data),))
    with pytest.raises(FilesystemPathMissing, match="names the paths guarded may use"):
        guard.check(manifest)
    with pytest.raises(FilesystemPathMissing):
        guard.check(manifest, write=[tmp_path / "absent"])
    assert len(refusals(guard)) == 2


def test_saved_grants_are_checked_again_at_worker_start(
    guard: FilesystemGuard, manifest: PluginManifest, tmp_path: Path
) -> None:
    """A granted folder swapped for a symlink into a protected one, or a path-less grant from
    older rules, is not applied; with audit on each refusal is recorded."""
    data = tmp_path / "data"
    data.mkdir()
    grant = Grant(Capability.FILESYSTEM, (str(data),))
    assert guard.access(manifest, [grant], audit=True).write_paths == (data,)
    assert guard.access(manifest, [Grant(Capability.NETWORK)], audit=True).refused == ()
    data.rmdir()
    data.symlink_to(tmp_path / "odd" / "keys")
    (tmp_path / "odd" / "keys").mkdir(parents=True)
    swapped = guard.access(manifest, [grant], audit=True)
    assert swapped.write_paths == () and len(swapped.refused) == 1
    old = guard.access(manifest, [Grant(Capability.FILESYSTEM)], audit=False)
    assert [r.reason for r in old.refused] == [NO_PATH_REASON]
    (entry,) = refusals(guard)
    assert entry["at"] == "worker start" and entry["path"] == str(data)


def test_unsafe_stored_grants_are_listed(
    guard: FilesystemGuard, manifest: PluginManifest, tmp_path: Path
) -> None:
    """Saved Filesystem grants (of any binary) that would not be applied are listed by plugin,
    for the daemon's start-up warning; plugins not given are left out."""
    guard.state.grant("guarded", "aa" * 32, Grant(Capability.FILESYSTEM, (str(tmp_path / "odd"),)))
    guard.state.grant("other", "bb" * 32, Grant(Capability.FILESYSTEM))
    found = guard.unsafe_stored({"guarded": manifest})
    assert [(name, refused.path) for name, refused in found] == [("guarded", str(tmp_path / "odd"))]
    assert json.dumps([r.as_dict() for _, r in found])  # JSON-ready for `plugins info --json`
