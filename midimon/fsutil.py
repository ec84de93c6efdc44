"""Small filesystem helpers: crash-safe file replacement."""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["atomic_write"]


def _fsync_directory(directory: str) -> None:
    """Flush a directory entry change (a rename) to disk where the platform allows it."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:  # Windows cannot open directories; nothing more to do there.
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that readers see either the old or the new file.

    The data goes to a temporary file in the same directory, created with mode 0600 and
    switched to ``mode`` (exactly, the umask is not applied) before any byte is written; it is
    fsynced, renamed over ``path`` and the directory is fsynced. On any error the temporary file
    is removed and the original file, if any, is left untouched. Raises ``OSError``.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            else:  # pragma: no cover - Windows before 3.13
                os.chmod(tmp, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
