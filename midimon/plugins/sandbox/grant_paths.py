"""Which paths a Filesystem grant may name: never ``/``, never midimon's own folders.

Landlock only adds access: it cannot carve midimon's state out of a granted parent folder. So
the rule holds when a grant is made and again when a worker starts: a granted path is resolved
(``~``, relative, ``..``, symlinks) and refused when it is ``/``, or is, contains or is inside
one of midimon's protected folders (config, data, state, cache, runtime, the trust store, the
signing keys, the plugin folders midimon loads from, the plugin's own folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from midimon import paths
from midimon.plugins.errors import (  # importable here as before
    FilesystemPathMissing,
    UnsafeGrantPath,
)

SAFER_CHOICE = "a dedicated folder such as ~/midimon-files (mkdir -p ~/midimon-files)"


@dataclass(frozen=True)
class ProtectedPath:
    """One folder (or file) no Filesystem grant may reach, and what it would expose."""

    path: Path  # resolved
    exposes: str  # "the grants file, anti-rollback records and audit log"
    risk: str  # what a plugin could do with it, said plainly


def resolve_grant_path(path: os.PathLike[str] | str, base: Path | None = None) -> Path:
    """``path`` with ``~`` expanded, made absolute against ``base`` (default: this process's
    working directory, which for the CLI is where the user typed it), ``..`` and every symlink
    resolved."""
    expanded = Path(path).expanduser()
    if not expanded.is_absolute():
        expanded = (base or Path.cwd()) / expanded
    return expanded.resolve()


def _cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(paths.APP_NAME, appauthor=False))


def protected_paths(
    search_dirs: Iterable[Path] = (),
    plugin_dir: Path | None = None,
    extra: Iterable[ProtectedPath] = (),
) -> list[ProtectedPath]:
    """midimon's own folders for a plugin loaded from ``plugin_dir`` by a manager searching
    ``search_dirs``; ``extra`` adds the files a manager actually uses when they live elsewhere
    (its grants file, audit log, trust store)."""
    config = paths.config_dir()
    state = paths.state_dir()
    entries = [
        ProtectedPath(
            config,
            f"midimon's config in {config} (config.toml, trusted_keys/, signing/)",
            "it could trust its author's key, change settings, or read your signing key",
        ),
        ProtectedPath(
            config / "trusted_keys",
            "the trust store (trusted_keys/)",
            "it could add its author's key, so any plugin they sign is trusted",
        ),
        ProtectedPath(
            config / "signing",
            "your secret signing keys (midimon keygen)",
            "it could read your secret key and sign plugins as you",
        ),
        ProtectedPath(
            Path.home() / ".minisign",
            "minisign's secret key folder (~/.minisign)",
            "it could read your secret key and sign plugins as you",
        ),
        ProtectedPath(
            paths.data_dir(),
            f"midimon's data in {paths.data_dir()} (installed plugins)",
            "it could replace the plugins midimon loads",
        ),
        ProtectedPath(
            state,
            f"the grants file, anti-rollback records and audit log in {state}",
            "it could grant itself any capability and erase its audit trail",
        ),
        ProtectedPath(_cache_dir(), f"midimon's cache in {_cache_dir()}", "it could poison it"),
        ProtectedPath(
            paths.runtime_dir(),
            f"the daemon's control socket in {paths.runtime_dir()}",
            "it could reach the daemon's control socket",
        ),
    ]
    for folder in search_dirs:
        entries.append(
            ProtectedPath(
                Path(folder),
                f"a plugin folder midimon loads plugins from ({folder})",
                "it could change what other plugins are",
            )
        )
    if plugin_dir is not None:
        entries.append(
            ProtectedPath(
                Path(plugin_dir),
                f"the plugin's own folder ({plugin_dir})",
                "it could rewrite its own files",
            )
        )
    entries += list(extra)
    return [
        ProtectedPath(Path(os.path.abspath(e.path.expanduser())).resolve(), e.exposes, e.risk)
        for e in entries
    ]


def _relation(resolved: Path, protected: Path) -> str | None:
    if resolved == protected:
        return "is"
    if resolved in protected.parents:
        return "contains"
    if protected in resolved.parents:
        return "is inside"
    return None


def unsafe_reason(resolved: Path, protected: Iterable[ProtectedPath]) -> str | None:
    """Why ``resolved`` (an absolute resolved path) may not be granted, or None when it may."""
    if resolved == Path(resolved.anchor):
        return "it is / (every file on this computer, midimon's own state included)"
    matches = [(e, r) for e in protected if (r := _relation(resolved, e.path)) is not None]
    # The most specific first: the folder itself, else the deepest one it is inside (the
    # trust store rather than the config dir holding it), else the first one it holds.
    rank = {"is": 0, "is inside": 1, "contains": 2}
    matches.sort(key=lambda m: (rank[m[1]], -len(m[0].path.parts) if m[1] == "is inside" else 0))
    for entry, relation in matches[:1]:
        if resolved == Path.home().resolve():
            what = f"your whole home folder, which holds {entry.exposes}"
        elif relation == "is":
            what = entry.exposes
        elif relation == "contains":
            what = f"a folder that holds {entry.exposes}"
        else:
            what = f"in the folder of {entry.exposes}"
        return f"it is {what}: {entry.risk}"
    try:
        info = resolved.stat()
    except OSError:
        return None
    if not resolved.is_dir() and info.st_nlink > 1:
        return (
            f"it is a file with {info.st_nlink} hard links: another name of it could be one of "
            "midimon's own files"
        )
    return None


def check_grant_path(
    path: os.PathLike[str] | str,
    protected: Iterable[ProtectedPath],
    base: Path | None = None,
    must_exist: bool = True,
) -> Path:
    """The resolved path, or UnsafeGrantPath saying what it would expose and what to grant
    instead; FilesystemPathMissing when it does not exist (Landlock cannot grant a path that
    is not there, so the grant would silently do nothing)."""
    resolved = resolve_grant_path(path, base)
    reason = unsafe_reason(resolved, protected)
    if reason is not None:
        raise UnsafeGrantPath(str(path), resolved, reason)
    if must_exist and not resolved.exists():
        raise FilesystemPathMissing(
            f"filesystem path {path} ({resolved}) does not exist: create it first "
            f"(mkdir -p {resolved} for a folder, touch {resolved} for one file), then grant it"
        )
    return resolved


# -- folders worth a plain warning (allowed, but the user should know) ---------------------------

SENSITIVE_FOLDERS: tuple[tuple[str, str], ...] = (
    (".ssh", "your SSH keys: it could log in to every server they open"),
    (".gnupg", "your GnuPG keys: it could decrypt your mail and sign as you"),
    (".mozilla", "your Firefox profile: saved passwords, cookies (logged-in sessions), history"),
    (".config/google-chrome", "your Chrome profile: cookies (logged-in sessions), history"),
    (".config/chromium", "your Chromium profile: cookies (logged-in sessions), history"),
    (".local/share/keyrings", "your desktop keyring: saved passwords and secrets"),
    (".password-store", "your pass password store"),
    (".aws", "your AWS credentials"),
    (".kube", "your Kubernetes credentials"),
    (".docker", "your Docker registry credentials"),
    (".netrc", "passwords for FTP/HTTP logins"),
)


def sensitive_folders_covered(granted: Iterable[Path]) -> list[str]:
    """Plain warnings for each sensitive folder under ``~`` that a granted path covers."""
    home = Path.home().resolve()
    lines = []
    for relative, risk in SENSITIVE_FOLDERS:
        target = home / relative
        for path in granted:
            path = Path(path)
            if path == target or path in target.parents or target in path.parents:
                lines.append(f"{path} covers ~/{relative}, {risk}")
                break
    return lines


# -- applying stored grants when a worker starts ------------------------------------------------


@dataclass(frozen=True)
class RefusedPath:
    """A stored Filesystem path not applied, and why."""

    path: str
    mode: str  # "read" or "write"
    reason: str

    def as_dict(self) -> dict[str, str]:
        """For JSON output and the audit log."""
        return {"path": self.path, "mode": self.mode, "reason": self.reason}


@dataclass(frozen=True)
class FilesystemAccess:
    """What Filesystem grants give a worker once every path is resolved and checked again."""

    read_paths: tuple[Path, ...] = ()
    write_paths: tuple[Path, ...] = ()
    refused: tuple[RefusedPath, ...] = ()
    missing: tuple[Path, ...] = ()  # granted, safe, but absent now (a device not plugged in)

    @property
    def any_path(self) -> bool:
        """Whether at least one path is applied."""
        return bool(self.read_paths or self.write_paths)


NO_PATH_REASON = (
    "granted without a path under older rules (it meant: read your whole home folder); "
    "a Filesystem grant now names its folders"
)


def apply_filesystem_grants(
    read: Iterable[str], write: Iterable[str], protected: list[ProtectedPath]
) -> FilesystemAccess:
    """Resolve each granted path again (a symlink may have been swapped in since the grant)
    and keep only those still safe; a missing path is not applied (Landlock would skip it
    too) but listed in ``missing``, an unsafe one is returned in ``refused``."""
    reads: list[Path] = []
    writes: list[Path] = []
    refused: list[RefusedPath] = []
    missing: list[Path] = []
    for mode, given, into in (
        *(("read", p, reads) for p in read),
        *(("write", p, writes) for p in write),
    ):
        resolved = resolve_grant_path(given, Path("/"))
        reason = unsafe_reason(resolved, protected)
        if reason is not None:
            shown = "" if str(resolved) == given else f" (now resolves to {resolved})"
            refused.append(RefusedPath(given, mode, reason + shown))
        elif resolved.exists():
            into.append(resolved)
        else:
            missing.append(resolved)
    return FilesystemAccess(
        tuple(dict.fromkeys(reads)),
        tuple(dict.fromkeys(writes)),
        tuple(refused),
        tuple(dict.fromkeys(missing)),
    )
