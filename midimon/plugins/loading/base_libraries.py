"""Which of a plugin binary's dependencies a user's system may lack: the platform's base
libraries (always present), compiler runtimes (usually present) and everything else, plus
search paths that reach outside the plugin's verified bytes.

Works on what :func:`~midimon.plugins.loading.binary_deps.parse_dependencies` read; the tables
below are the knowledge, :func:`classify` the one check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from midimon.plugins.loading.binary_deps import BinaryDependencies

__all__ = ["DependencyNote", "classify"]


@dataclass(frozen=True)
class DependencyNote:
    """A warning about one dependency (or search path) and why it matters."""

    library: str
    kind: str  # "not-base", "runtime", "search-path"
    reason: str = field(compare=False)


# Linux: glibc's own libraries and loaders, musl's, and the kernel's vDSO. Always present.
_LINUX_BASE = re.compile(
    r"(libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libmvec)\.so\.\d+"
    r"|ld-linux(-[a-z0-9_-]+)?\.so\.\d+|ld64\.so\.\d+|ld-musl-[a-z0-9_]+\.so\.1"
    r"|libc\.musl-[a-z0-9_]+\.so\.1|linux-(vdso|gate)\.so\.1"
)
# Compiler runtimes: on almost every desktop Linux, but not part of the C library, so absent
# on minimal or musl systems (and libstdc++ must be at least as new as the one built against).
# Rust cdylibs and C++ plugins need them; a note, not an alarm.
_LINUX_RUNTIME = re.compile(r"libgcc_s\.so\.1|libstdc\+\+\.so\.6|libatomic\.so\.1")
_MACOS_BASE = re.compile(
    r"/usr/lib/(libSystem\.B|libc\+\+\.1|libc\+\+abi|libobjc\.A|libresolv\.9|libz\.1"
    r"|libiconv\.2)\.dylib|/System/Library/Frameworks/[^/]+\.framework/.+"
)
_WINDOWS_BASE = re.compile(
    r"(kernel32|ntdll|user32|gdi32|advapi32|shell32|ole32|oleaut32|ws2_32|bcrypt|crypt32"
    r"|winmm|ucrtbase|msvcrt|shlwapi|secur32|userenv|kernelbase)\.dll|api-ms-win-[a-z0-9-]+\.dll",
    re.IGNORECASE,
)
_WINDOWS_RUNTIME = re.compile(r"(vcruntime|msvcp)\d+(_\d+)?\.dll", re.IGNORECASE)

_BASE: dict[str, tuple[Callable[[str], Any], Callable[[str], Any] | None]] = {
    "linux": (_LINUX_BASE.fullmatch, _LINUX_RUNTIME.fullmatch),
    "macos": (_MACOS_BASE.fullmatch, None),
    "windows": (_WINDOWS_BASE.fullmatch, _WINDOWS_RUNTIME.fullmatch),
}
_RUNTIME_REASON = {
    "linux": "the GCC runtime: on most Linux systems but not part of the C library (missing "
    "on minimal and musl systems; libstdc++ must be at least as new as at build time)",
    "windows": "the Visual C++ runtime: users without the redistributable cannot load it",
}


def classify(deps: BinaryDependencies) -> list[DependencyNote]:
    """Warnings for ``deps``: libraries outside the platform's base set, and search paths.

    Base (no warning) on Linux: glibc's libraries (libc, libm, libpthread, libdl, librt,
    libresolv, libutil, libanl, libmvec), its ld-linux loaders, musl's libc and loader, the
    vDSO. ``libgcc_s.so.1``, ``libstdc++.so.6`` and ``libatomic.so.1`` get a ``runtime`` note.
    Anything else is ``not-base``: the user must have it installed, in a compatible version.
    """
    base, runtime = _BASE.get(deps.platform, (lambda _name: False, None))
    notes = []
    for name in deps.needed:
        if base(name):
            continue
        if runtime is not None and runtime(name):
            notes.append(DependencyNote(name, "runtime", _RUNTIME_REASON[deps.platform]))
            continue
        notes.append(
            DependencyNote(
                name,
                "not-base",
                f"not a base {deps.platform} library: users must install it (a compatible "
                "version) for the plugin to load; prefer linking it statically",
            )
        )
    for label, paths in (("RUNPATH", deps.runpath), ("RPATH", deps.rpath)):
        for path in paths:
            notes.append(
                DependencyNote(
                    path,
                    "search-path",
                    f"{label} entry: the loader also searches here, outside the plugin's "
                    "verified bytes (and midimon loads plugins from a sealed memory image, "
                    "where $ORIGIN / @loader_path do not point at the plugin folder)",
                )
            )
    return notes
