"""Discovery: find plugin folders on the search path by their manifests. No plugin code runs."""

from __future__ import annotations

import operator
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from midimon.plugins.description.manifest import MANIFEST_NAME, PluginManifest, parse_manifest
from midimon.plugins.description.params_schema import ParamsSchema
from midimon.plugins.errors import ManifestError
from midimon.plugins.integrity.pins import BUNDLED, PinStore, claimed_signer, repin_command
from midimon.plugins.loading.abi import abi


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
    kind: str = "error"  # "error" (plugin skipped) or "duplicate" (another copy runs)


@dataclass
class DiscoveryResult:
    """Every plugin found (by name: the copy its pinned signer signed, else the earliest in
    the search path) and every problem met."""

    plugins: dict[str, DiscoveredPlugin] = field(default_factory=dict)
    problems: list[DiscoveryProblem] = field(default_factory=list)
    searched: list[Path] = field(default_factory=list)
    #: Names found more than once: every copy, in search order (the chosen one among them).
    copies: dict[str, list[DiscoveredPlugin]] = field(default_factory=dict)
    #: For those names: which copy runs and why.
    chosen_because: dict[str, str] = field(default_factory=dict)

    def params_schemas(self) -> dict[str, ParamsSchema]:
        """Plugin name -> its declared params, for each plugin that declares them (the copy
        that runs): what config validation checks Plugin actions against."""
        return {
            name: found.manifest.params
            for name, found in self.plugins.items()
            if found.manifest.params is not None
        }


# Open without blocking (a FIFO named plugin.toml must not hang the scan), binary on Windows.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_BY_NAME = operator.attrgetter("name")


def _read_if_file(path: str) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (symlinks followed), else None.

    OSError when it is one but cannot be read. One open, fstat and read: no stat() first, and
    none of the ioctl and buffer objects of io.open().
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        if os.path.isfile(path):  # there but unreadable: a problem to report
            raise
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _plugin_folders(search_dir: Path) -> list[tuple[Path, Path, bytes | ManifestError]]:
    """Sub-folders of ``search_dir`` that hold a manifest, sorted as paths sort (stable output).

    Each is ``(manifest path, the folder resolved, the manifest's bytes or why they could not
    be read)``: the search dir is resolved once, and a folder that is not a symlink is the
    resolved search dir plus its name.
    """
    try:
        entries = list(os.scandir(search_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    # How Path objects compare: by name on POSIX, by lower-cased name on Windows.
    entries.sort(key=_BY_NAME if os.name == "posix" else lambda e: os.path.normcase(e.name))
    real_search_dir: Path | None = None
    folders = []
    for entry in entries:
        raw: bytes | ManifestError | None
        try:
            if not entry.is_dir():
                continue
            try:
                raw = _read_if_file(f"{entry.path}{os.sep}{MANIFEST_NAME}")
            except OSError as exc:
                path = search_dir / f"{entry.name}/{MANIFEST_NAME}"
                raw = ManifestError(path, None, f"cannot read: {exc.strerror or exc}")
            if raw is None:
                continue
            if entry.is_symlink():
                real_folder = Path(entry.path).resolve()
            else:
                if real_search_dir is None:
                    real_search_dir = search_dir.resolve()
                real_folder = real_search_dir / entry.name
        except OSError:
            continue
        folders.append((search_dir / f"{entry.name}/{MANIFEST_NAME}", real_folder, raw))
    return folders


def discover(search_dirs: Iterable[Path], pins: PinStore | None = None) -> DiscoveryResult:
    """Scan each search dir one level deep for ``plugin.toml``.

    A bad manifest becomes a problem and the scan continues. When two folders declare the same
    plugin name, the copy that claims the name's pinned signer (``pins``, default the user's;
    read only when there are duplicates) is chosen, else the earliest in the search path (then
    by folder name); every other copy is reported, with which copy runs and why. The claim is
    the key id in the copy's ``.minisig``: the integrity check verifies it before any load.
    Missing and empty dirs are fine.
    """
    result = DiscoveryResult()
    for search_dir in search_dirs:
        search_dir = Path(search_dir)
        result.searched.append(search_dir)
        if search_dir.exists() and not search_dir.is_dir():
            result.problems.append(DiscoveryProblem(search_dir, "not a folder; skipped"))
            continue
        for path, real_folder, raw in _plugin_folders(search_dir):
            try:
                if isinstance(raw, ManifestError):
                    raise raw
                manifest = parse_manifest(raw, path, real_folder=real_folder)
            except ManifestError as exc:
                result.problems.append(DiscoveryProblem(exc.path, str(exc)))
                continue
            found = DiscoveredPlugin(manifest, search_dir)
            earlier = result.plugins.get(manifest.name)
            if earlier is not None:
                result.copies.setdefault(manifest.name, [earlier]).append(found)
                continue
            result.plugins[manifest.name] = found
    if result.copies:
        _choose_copies(result, pins if pins is not None else PinStore.for_user())
    return result


def _signer_text(signer: str | None) -> str:
    if signer is None:
        return "unsigned"
    return "bundled with midimon" if signer == BUNDLED else f"signed by key {signer}"


def _choose_copies(result: DiscoveryResult, pins: PinStore) -> None:
    """For each name found more than once, keep the copy its pinned signer signed."""
    for name, copies in result.copies.items():
        try:
            pin = pins.get(name)
        except OSError as exc:
            result.problems.append(DiscoveryProblem(pins.path, str(exc)))
            pin = None
        claims = [claimed_signer(c.manifest) for c in copies]
        if pin is not None and pin.signer in claims:
            chosen = copies[claims.index(pin.signer)]
            why = f"{name} is pinned to {_signer_text(pin.signer)} ({pin.how})"
        else:
            chosen = copies[0]
            why = (
                f"{name} is pinned to {_signer_text(pin.signer)} but no copy claims that signer, "
                "so the first in the search path is taken (the integrity check refuses it)"
                if pin is not None
                else f"{name} is not pinned yet: the first in the search path is taken"
            )
        result.plugins[name] = chosen
        result.chosen_because[name] = f"{chosen.manifest.directory} runs: {why}"
        for copy, claim in zip(copies, claims, strict=True):
            if copy is chosen:
                continue
            hint = f"; to use it: {repin_command(name, claim)}" if claim is not None else ""
            result.problems.append(
                DiscoveryProblem(
                    copy.manifest.path,
                    f"duplicate plugin name {name!r}: {copy.manifest.directory} "
                    f"({_signer_text(claim)}) is not used; {chosen.manifest.directory} "
                    f"({_signer_text(claims[copies.index(chosen)])}) runs because {why}{hint}",
                    kind="duplicate",
                )
            )
