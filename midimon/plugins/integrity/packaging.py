"""Plugin packages: ``pack`` a plugin folder into one file, unpack and install it safely.

A package (``NAME-VERSION-PLATFORM.midimon-plugin``) is a gzip'd tar holding only plugin.toml,
this platform's binary (at the path plugin.toml names), their ``.minisig`` files and a README.
Unpacking never uses tarfile's extraction: every member is checked first (no absolute paths,
no ``..``, regular files only, only the expected names) and then written by hand into a fresh
temporary folder beside the user plugins dir, so the final move is a rename on one filesystem.
This is the only module that imports tarfile.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import platform
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from midimon.plugins.description.manifest import (
    MANIFEST_NAME,
    PluginManifest,
    current_platform,
    parse_manifest,
)
from midimon.plugins.errors import ManifestError
from midimon.plugins.integrity.rotation import is_rotation_file
from midimon.plugins.integrity.verify import SIGNATURE_SUFFIX, IntegrityChecker, IntegrityReport
from midimon.plugins.settings import SignaturePolicy

PACKAGE_SUFFIX = ".midimon-plugin"
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # refuse absurd members (a gzip bomb) before writing them
TEMP_PREFIX = ".midimon-install-"


class PackagingError(Exception):
    """A package or plugin folder was refused; the message says which file and why."""


def platform_tag() -> str:
    """This platform as packages name it: ``linux-x86_64``, ``macos-arm64``, ..."""
    machine = platform.machine().lower() or "unknown"
    machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{current_platform()}-{machine}"


def _is_readme(relative: str) -> bool:
    return "/" not in relative and relative.upper().startswith("README")


def _is_extra(relative: str) -> bool:
    """A README, or a signer rotation statement (rotate-OLD-NEW.txt and its .minisig)."""
    return _is_readme(relative) or is_rotation_file(relative)


def _binary_relative(manifest: PluginManifest) -> str:
    if manifest.binary is None:
        raise PackagingError(f"{manifest.path}: {manifest.binary_error}")
    # The manifest's binary sits under its folder's real path, while manifest.directory is the
    # folder as given (relative for `pack .`): resolve the folder, never the binary (a symlinked
    # binary must keep its own name, so that _folder_files refuses it).
    return manifest.binary.relative_to(manifest.directory.resolve()).as_posix()


def expected_files(manifest: PluginManifest) -> tuple[str, ...]:
    """Relative paths (besides README*) a package of this plugin may hold."""
    binary = _binary_relative(manifest)
    return (
        MANIFEST_NAME,
        MANIFEST_NAME + SIGNATURE_SUFFIX,
        binary,
        binary + SIGNATURE_SUFFIX,
    )


# -- pack ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackResult:
    """What ``pack`` wrote."""

    file: Path
    sha256: str
    name: str
    version: str
    platform: str
    members: tuple[str, ...]


def _load_folder_manifest(folder: Path) -> PluginManifest:
    try:
        raw = (folder / MANIFEST_NAME).read_bytes()
    except FileNotFoundError:
        raise PackagingError(f"{folder}: no {MANIFEST_NAME}; not a plugin folder") from None
    except OSError as exc:
        raise PackagingError(f"{folder / MANIFEST_NAME}: cannot read: {exc}") from None
    try:
        return parse_manifest(raw, folder / MANIFEST_NAME)
    except ManifestError as exc:
        raise PackagingError(str(exc)) from None


def _folder_files(folder: Path, manifest: PluginManifest) -> list[tuple[str, Path]]:
    """(relative name, path) of each file to take from a plugin folder, in package order."""
    binary = _binary_relative(manifest)
    if (folder / binary).is_symlink():
        raise PackagingError(f"{folder / binary}: is a symlink; only regular files are packed")
    if not (folder / binary).is_file():
        raise PackagingError(f"{folder / binary}: the binary plugin.toml names is missing")
    chosen = []
    for relative in expected_files(manifest):
        path = folder / relative
        if path.is_symlink():
            raise PackagingError(f"{path}: is a symlink; only regular files are packed")
        if path.is_file():
            chosen.append((relative, path))
    extras = sorted(
        p.name for p in folder.iterdir() if _is_extra(p.name) and p.is_file() and not p.is_symlink()
    )
    chosen += [(name, folder / name) for name in extras]
    return chosen


def pack(folder: Path, out: Path | None = None) -> PackResult:
    """Write the package of a plugin folder; ``out`` is a file or a folder (default: cwd)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PackagingError(f"{folder}: not a folder")
    manifest = _load_folder_manifest(folder)
    files = _folder_files(folder, manifest)
    tag = platform_tag()
    file_name = f"{manifest.name}-{manifest.version}-{tag}{PACKAGE_SUFFIX}"
    if out is None:
        target = Path.cwd() / file_name
    elif out.is_dir():
        target = out / file_name
    else:
        target = out
    buffer = io.BytesIO()
    binary = _binary_relative(manifest)
    # Reproducible: fixed order, mtime 0, no owner names; gzip header mtime 0 too.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relative, path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(relative)
            info.size = len(data)
            info.mode = 0o755 if relative == binary else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return PackResult(
        file=target,
        sha256=hashlib.sha256(data).hexdigest(),
        name=manifest.name,
        version=manifest.version,
        platform=tag,
        members=tuple(relative for relative, _ in files),
    )


# -- unpack -------------------------------------------------------------------------------------
def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if not name or "\x00" in name or "\\" in name:
        return "has an invalid name"
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in pure.parts:
        return "contains '..' (path traversal)"
    if member.issym():
        return f"is a symlink (to {member.linkname!r})"
    if member.islnk():
        return f"is a hardlink (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a fifo"
    if not (member.isfile() or member.isdir()):
        return "is not a regular file"
    if member.isfile() and member.size > MAX_MEMBER_BYTES:
        return f"is too large ({member.size} bytes)"
    return None


def _normal(name: str) -> str:
    return PurePosixPath(name).as_posix().removeprefix("./")


def _write_file(root: Path, relative: str, data: bytes, mode: int) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def unpack_into(package: Path, root: Path) -> PluginManifest:
    """Check every member of ``package`` and write the plugin's files into the empty ``root``.

    Raises PackagingError naming the first bad member; ``root`` may then hold partial files
    (the caller removes it).
    """
    try:
        with tarfile.open(package, mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                problem = _member_problem(member)
                if problem is not None:
                    raise PackagingError(f"{package}: member {member.name!r} {problem}; refused")
            files = {}
            for member in members:
                if member.isdir():
                    continue
                name = _normal(member.name)
                if name in files:
                    raise PackagingError(f"{package}: member {name!r} appears twice; refused")
                files[name] = member
            if MANIFEST_NAME not in files:
                raise PackagingError(f"{package}: no {MANIFEST_NAME} in the package")
            manifest_raw = _read_member(tar, files[MANIFEST_NAME], package)
            try:
                manifest = parse_manifest(manifest_raw, root / MANIFEST_NAME)
            except ManifestError as exc:
                raise PackagingError(f"{package}: {exc}") from None
            expected = set(expected_files(manifest))
            binary = _binary_relative(manifest)
            allowed_dirs = {p.as_posix() for p in PurePosixPath(binary).parents} - {"."}
            for member in members:
                name = _normal(member.name)
                if member.isdir():
                    if name.rstrip("/") not in allowed_dirs and name not in ("", "."):
                        raise PackagingError(
                            f"{package}: member {member.name!r} is an unexpected folder; refused"
                        )
                elif name not in expected and not _is_extra(name):
                    raise PackagingError(
                        f"{package}: member {member.name!r} is not part of a plugin package "
                        f"(expected only {', '.join(sorted(expected))}, README*, "
                        "rotate-*.txt); refused"
                    )
            if binary not in files:
                raise PackagingError(
                    f"{package}: the binary {binary!r} that plugin.toml names is missing"
                )
            for name, member in sorted(files.items()):
                data = manifest_raw if name == MANIFEST_NAME else _read_member(tar, member, package)
                _write_file(root, name, data, 0o755 if name == binary else 0o644)
    except PackagingError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise PackagingError(f"{package}: not a readable plugin package ({exc})") from None
    return manifest


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, package: Path) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise PackagingError(f"{package}: member {member.name!r} cannot be read")
    data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) != member.size:
        raise PackagingError(f"{package}: member {member.name!r} is truncated")
    return data


def copy_folder_into(folder: Path, root: Path) -> PluginManifest:
    """Copy a plugin folder's package files (the same set ``pack`` takes) into ``root``."""
    manifest = _load_folder_manifest(folder)
    binary = _binary_relative(manifest)
    for relative, path in _folder_files(folder, manifest):
        _write_file(root, relative, path.read_bytes(), 0o755 if relative == binary else 0o644)
    return parse_manifest(manifest.raw, root / MANIFEST_NAME)


# -- install ------------------------------------------------------------------------------------
@dataclass
class Staged:
    """A verified plugin waiting in its temporary folder for ``commit``."""

    manifest: PluginManifest
    report: IntegrityReport
    folder: Path


@contextlib.contextmanager
def staged(
    source: Path,
    plugins_dir: Path,
    checker: IntegrityChecker,
    policy_for: Callable[[str], SignaturePolicy],
) -> Iterator[Staged]:
    """Unpack (or copy) ``source`` into a temp folder beside ``plugins_dir`` and verify it.

    ``policy_for(name)`` gives the SignaturePolicy to check with. The temp folder is removed
    when the block ends, unless ``commit`` moved it into place. Raises PackagingError.
    """
    parent = plugins_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent))
    try:
        root = temp / "plugin"
        root.mkdir()
        if source.is_dir():
            manifest = copy_folder_into(source, root)
        elif source.is_file():
            manifest = unpack_into(source, root)
        else:
            raise PackagingError(f"{source}: no such file or folder")
        assert manifest.binary is not None
        data = manifest.binary.read_bytes()
        policy: SignaturePolicy = policy_for(manifest.name)
        report = checker.check(manifest, data, policy)
        if not report.ok:
            lines = [f"{manifest.name} {manifest.version} refused by the integrity check:"]
            for failure in report.failures:
                lines.append(
                    f"  {failure.message}" + (f" (fix: {failure.fix})" if failure.fix else "")
                )
            raise PackagingError("\n".join(lines))
        yield Staged(manifest, report, root)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def commit(stage: Staged, plugins_dir: Path) -> Path | None:
    """Move the verified folder to ``plugins_dir/NAME``; an existing one is swapped out.

    Returns None for a fresh install, else the path the old version had (now removed). On any
    failure the old version is put back.
    """
    plugins_dir.mkdir(parents=True, exist_ok=True)
    target = plugins_dir / stage.manifest.name
    if not os.path.lexists(target):
        os.rename(stage.folder, target)
        return None
    aside = stage.folder.parent / "old"
    os.rename(target, aside)
    try:
        os.rename(stage.folder, target)
    except BaseException:
        os.rename(aside, target)
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)
    return target


def remove_folder(target: Path) -> None:
    """Remove an installed plugin folder: renamed aside first, so it vanishes at once."""
    temp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=target.parent.parent))
    try:
        os.rename(target, temp / "old")
    finally:
        shutil.rmtree(temp, ignore_errors=True)
