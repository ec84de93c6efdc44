"""Discovery: find plugin folders on the search path by their manifests. No plugin code runs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from midimon.plugins.abi import abi
from midimon.plugins.errors import ManifestError
from midimon.plugins.manifest import (
    MANIFEST_NAME,
    PluginManifest,
    parse_manifest,
    read_manifest_bytes,
)


@dataclass(frozen=True)
class DiscoveredPlugin:
    """A plugin found on the search path, judged from its manifest and files alone."""

    manifest: PluginManifest
    search_dir: Path

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.manifest.name

    @property
    def status(self) -> str:
        """``ok``, or what stops it loading (``binary missing``, ``incompatible ABI ...``)."""
        manifest = self.manifest
        if manifest.binary is None:
            return manifest.binary_error or "no binary"
        host = abi()
        major, minor = manifest.abi
        if major != host.major or minor > host.minor:
            return f"incompatible ABI {manifest.abi_text} (host {host.major}.{host.minor})"
        if not manifest.binary.is_file():
            return "binary missing"
        return "ok"


@dataclass(frozen=True)
class DiscoveryProblem:
    """Something wrong found during discovery; the scan went on."""

    path: Path
    message: str
    kind: str = "error"  # "error" (plugin skipped) or "duplicate" (shadowed by an earlier one)


@dataclass
class DiscoveryResult:
    """Every plugin found (by name, earliest search dir wins) and every problem met."""

    plugins: dict[str, DiscoveredPlugin] = field(default_factory=dict)
    problems: list[DiscoveryProblem] = field(default_factory=list)
    searched: list[Path] = field(default_factory=list)


def _plugin_folders(search_dir: Path) -> list[tuple[Path, Path]]:
    """Sub-folders of ``search_dir`` that hold a manifest, sorted as paths sort (stable output).

    Each is ``(manifest path, the folder resolved)``: the search dir is resolved once, and a
    folder that is not a symlink is the resolved search dir plus its name.
    """
    try:
        entries = list(os.scandir(search_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    entries.sort(key=lambda entry: os.path.normcase(entry.name))  # how Path objects compare
    real_search_dir: Path | None = None
    folders = []
    for entry in entries:
        try:
            if not entry.is_dir() or not os.path.isfile(f"{entry.path}{os.sep}{MANIFEST_NAME}"):
                continue
            if entry.is_symlink():
                real_folder = Path(entry.path).resolve()
            else:
                if real_search_dir is None:
                    real_search_dir = search_dir.resolve()
                real_folder = real_search_dir / entry.name
        except OSError:
            continue
        folders.append((search_dir / f"{entry.name}/{MANIFEST_NAME}", real_folder))
    return folders


def discover(search_dirs: Iterable[Path]) -> DiscoveryResult:
    """Scan each search dir one level deep for ``plugin.toml``.

    A bad manifest becomes a problem and the scan continues. When two folders declare the same
    plugin name, the one from the earlier search dir (or, within one dir, the earlier folder
    name) wins and the other is reported with both paths. Missing and empty dirs are fine.
    """
    result = DiscoveryResult()
    for search_dir in search_dirs:
        search_dir = Path(search_dir)
        result.searched.append(search_dir)
        if search_dir.exists() and not search_dir.is_dir():
            result.problems.append(DiscoveryProblem(search_dir, "not a folder; skipped"))
            continue
        for path, real_folder in _plugin_folders(search_dir):
            try:
                raw = read_manifest_bytes(path)
                manifest = parse_manifest(raw, path, real_folder=real_folder)
            except ManifestError as exc:
                result.problems.append(DiscoveryProblem(exc.path, str(exc)))
                continue
            earlier = result.plugins.get(manifest.name)
            if earlier is not None:
                result.problems.append(
                    DiscoveryProblem(
                        manifest.path,
                        f"duplicate plugin name {manifest.name!r}: {manifest.path} is shadowed "
                        f"by {earlier.manifest.path}, which comes first in the search path",
                        kind="duplicate",
                    )
                )
                continue
            result.plugins[manifest.name] = DiscoveredPlugin(manifest, search_dir)
    return result
