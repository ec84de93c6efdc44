"""Turn verified plugin bytes into a path the dynamic loader can open, without re-reading disk.

The loader reads a binary once, checks that buffer, then loads exactly that buffer: on Linux
from a sealed memfd (``/proc/self/fd/N``), elsewhere from a private copy in a 0700 folder. The
original path is never opened again, so replacing the file after the check changes nothing.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path

_MFD_EXEC = getattr(os, "MFD_EXEC", 0x0010)

# Never closed: the library stays mapped for the life of the process (we never dlclose), and
# keeping the fd also keeps its number, so glibc's "already loaded?" check, which compares
# path strings, can never mistake a later plugin for this one.
_OPEN_IMAGES: list[int] = []


def sealed_image_fd(data: bytes, name: str) -> int:
    """A new sealed memfd holding exactly ``data`` (Linux). The caller owns the fd.

    Sealed against writes, growth and shrinking, so whoever receives the fd (this process's
    dynamic loader, or an isolated worker via SCM_RIGHTS) sees these bytes and no others.
    """
    import fcntl

    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        # Kernels with vm.memfd_noexec=1 make memfds non-executable unless MFD_EXEC is asked
        # for; kernels before 6.3 do not know the flag and answer EINVAL.
        fd = os.memfd_create(f"midimon-plugin:{name}", flags | _MFD_EXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        fd = os.memfd_create(f"midimon-plugin:{name}", flags)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _sealed_memfd(data: bytes, name: str) -> Path:
    fd = sealed_image_fd(data, name)
    _OPEN_IMAGES.append(fd)
    return Path(f"/proc/self/fd/{fd}")


def _private_copy(data: bytes, name: str, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="midimon-plugin-"))  # mkdtemp makes it 0700
    path = folder / f"{name}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o500)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def materialize(data: bytes, name: str, suffix: str) -> Path:
    """A loader path whose contents are exactly ``data`` and cannot change afterwards."""
    if sys.platform.startswith("linux") and hasattr(os, "memfd_create"):
        return _sealed_memfd(data, name)
    return _private_copy(data, name, suffix)
