"""Read a plugin binary once, and turn verified bytes into something the loader can open.

The loader reads a binary once, checks that buffer, then loads exactly that buffer: on Linux
from a sealed memfd (``/proc/self/fd/N``), elsewhere from a private copy in a 0700 folder. The
original path is never opened again, so replacing the file after the check changes nothing.

:func:`read_sealed` does the reading for ``midimon verify``, the daemon's plugin loads and its
readiness check (:func:`read_manifest_binary`): on Linux it copies the file into a
new memfd inside the kernel (no copy through Python), hashes the memfd's pages with SHA-256 and
BLAKE2b-512 in two threads while the copy is still running (each hasher only reads the part
already copied), and seals the memfd. The digests are of exactly the sealed bytes that a worker
is later handed: a loaded plugin keeps that memfd (:func:`keep_sealed`), and its runners get
duplicates of it rather than copies.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import sys
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midimon.plugins.errors import ChecksumMismatch, NotASharedObject

if TYPE_CHECKING:
    from midimon.plugins.description.manifest import PluginManifest

from midimon.plugins.errors import ImageChanged  # defined there; importable here too

_MFD_EXEC = getattr(os, "MFD_EXEC", 0x0010)

# Never closed: the library stays mapped for the life of the process (we never dlclose), and
# keeping the fd also keeps its number, so glibc's "already loaded?" check, which compares
# path strings, can never mistake a later plugin for this one.
_OPEN_IMAGES: list[int] = []

#: A verified binary's bytes: ``bytes``, or the read-only view of its sealed memfd that
#: :func:`keep_sealed` hands out (then :func:`sealed_image_fd` reuses the memfd, no copy).
ImageBytes = bytes | mmap.mmap

# Views from keep_sealed() -> their sealed memfd, open while the view lives.
_VIEW_FDS: weakref.WeakKeyDictionary[mmap.mmap, int] = weakref.WeakKeyDictionary()


def sealed_image_fd(data: ImageBytes, name: str) -> int:
    """A new sealed memfd holding exactly ``data`` (Linux). The caller owns the fd.

    Sealed against writes, growth and shrinking, so whoever receives the fd (this process's
    dynamic loader, or an isolated worker via SCM_RIGHTS) sees these bytes and no others.
    For a view from :func:`keep_sealed` it is a duplicate of that view's own sealed memfd:
    the same bytes, without copying 50 MB again.
    """
    reused = _VIEW_FDS.get(data) if isinstance(data, mmap.mmap) else None
    if reused is not None:
        return os.dup(reused)  # (non-inheritable, as Python makes every fd)
    fd = _new_memfd(name)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        _seal(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _new_memfd(name: str) -> int:
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        # Kernels with vm.memfd_noexec=1 make memfds non-executable unless MFD_EXEC is asked
        # for; kernels before 6.3 do not know the flag and answer EINVAL.
        return os.memfd_create(f"midimon-plugin:{name}", flags | _MFD_EXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.memfd_create(f"midimon-plugin:{name}", flags)


def _seal(fd: int) -> None:
    import fcntl

    seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)


def _sealed_memfd(data: ImageBytes, name: str) -> Path:
    fd = sealed_image_fd(data, name)
    _OPEN_IMAGES.append(fd)
    return Path(f"/proc/self/fd/{fd}")


def _private_copy(data: ImageBytes, name: str, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="midimon-plugin-"))  # mkdtemp makes it 0700
    path = folder / f"{name}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o500)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def materialize(data: ImageBytes, name: str, suffix: str) -> Path:
    """A loader path whose contents are exactly ``data`` and cannot change afterwards."""
    if sys.platform.startswith("linux") and hasattr(os, "memfd_create"):
        return _sealed_memfd(data, name)
    return _private_copy(data, name, suffix)


# -- read once, hash while copying ------------------------------------------------------------

_CHUNK = 4 * 1024 * 1024  # bytes copied per step; the hashers follow one step behind at most


@dataclass(frozen=True)
class ImageDigests:
    """Digests of one buffer: SHA-256 (hex), and BLAKE2b-512 (minisign's prehash) if asked."""

    sha256: str
    blake2b512: bytes | None = None


class SealedImage:
    """A plugin binary read once: its bytes (``data``), their digests, and a sealed memfd.

    ``data`` is a read-only view of exactly the bytes in ``fd`` (a sealed memfd on Linux), or
    plain ``bytes`` with ``fd`` None elsewhere. Close it (or use ``with``) when done; the fd is
    owned by the image until then.
    """

    def __init__(self, data: Any, size: int, digests: ImageDigests, fd: int | None) -> None:
        self.data = data
        self.size = size
        self.digests = digests
        self.fd = fd

    def close(self) -> None:
        """Unmap the view and close the memfd."""
        if isinstance(self.data, mmap.mmap):
            self.data.close()
        self.data = b""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> SealedImage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def keep_sealed(image: SealedImage) -> ImageBytes:
    """Take the bytes out of ``image`` to keep as a loaded plugin's verified bytes.

    Returns the read-only view of the sealed memfd (or the plain ``bytes`` off Linux); the memfd
    stays open as long as the view lives (closed when it is collected), and
    :func:`sealed_image_fd` / :func:`materialize` of the view reuse it instead of copying the
    bytes into a new memfd. ``image`` owns nothing afterwards.
    """
    view, fd = image.data, image.fd
    image.data, image.fd = b"", None
    if fd is None:
        return view  # type: ignore[no-any-return]
    if not isinstance(view, mmap.mmap):  # an empty file: nothing mapped, nothing to reuse
        os.close(fd)
        return bytes(view)
    _VIEW_FDS[view] = fd
    weakref.finalize(view, os.close, fd)
    return view


def hash_buffer(data: Any, *, blake2b: bool) -> ImageDigests:
    """SHA-256 of ``data`` and, if ``blake2b``, its BLAKE2b-512, the two in parallel.

    hashlib releases the GIL while it hashes a large buffer, so on two cores this takes as long
    as the slower hash (BLAKE2b) rather than the sum of both.
    """
    if not blake2b:
        return ImageDigests(hashlib.sha256(data).hexdigest())
    done = _Progress(len(data))
    done.advance(len(data))
    return _hash_following(data, done, blake2b=True)


class _Progress:
    """How much of the image has been copied so far, for the hashers that follow the copy."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.copied = 0
        self.failed = False
        self._cond = threading.Condition()

    def advance(self, copied: int) -> None:
        with self._cond:
            self.copied = copied
            self._cond.notify_all()

    def fail(self) -> None:
        with self._cond:
            self.failed = True
            self._cond.notify_all()

    def wait_past(self, position: int) -> int:
        """The copied length once it exceeds ``position`` (or -1 if the copy failed)."""
        with self._cond:
            while self.copied <= position and not self.failed:
                self._cond.wait()
            return -1 if self.failed else self.copied


def _follow(data: Any, progress: _Progress, hasher: Any) -> None:
    view = memoryview(data)
    try:
        position = 0
        while position < progress.size:
            end = progress.wait_past(position)
            if end < 0:
                return
            hasher.update(view[position:end])
            position = end
    finally:
        view.release()


def _hash_following(data: Any, progress: _Progress, *, blake2b: bool) -> ImageDigests:
    """Hash ``data`` as ``progress`` says it fills up; SHA-256 here, BLAKE2b in a thread."""
    sha256 = hashlib.sha256()
    b2 = hashlib.blake2b(digest_size=64) if blake2b else None
    thread = None
    if b2 is not None:
        thread = threading.Thread(target=_follow, args=(data, progress, b2), daemon=True)
        thread.start()
    try:
        _follow(data, progress, sha256)
    finally:
        if thread is not None:
            thread.join()
    return ImageDigests(sha256.hexdigest(), b2.digest() if b2 is not None else None)


def _copy_into(src: int, dst: int, size: int, progress: _Progress) -> None:
    """Copy ``size`` bytes of ``src`` into ``dst`` from offset 0, inside the kernel if it can."""
    offset = 0
    use_sendfile = True
    while offset < size:
        want = min(_CHUNK, size - offset)
        if use_sendfile:
            try:
                count = os.sendfile(dst, src, offset, want)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                use_sendfile = False
                continue
        else:
            chunk = os.pread(src, want, offset)
            count = len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.pwrite(dst, view, offset + count - len(view)) :]
        if count == 0:
            raise ImageChanged(
                errno.EIO, f"the file shrank from {size} bytes while it was being read"
            )
        offset += count
        progress.advance(offset)


def read_sealed(path: Path, name: str, *, blake2b: bool) -> SealedImage:
    """Read ``path`` once into a sealed memfd and hash it; a SealedImage of exactly those bytes.

    The SHA-256 is always computed, the BLAKE2b-512 when ``blake2b`` (a ``.minisig`` exists).
    On systems without memfd the file is read into ``bytes`` and hashed; ``fd`` is then None.
    Raises OSError as reading the file would (FileNotFoundError, IsADirectoryError, ...).
    """
    if not (sys.platform.startswith("linux") and hasattr(os, "memfd_create")):
        data = Path(path).read_bytes()
        return SealedImage(data, len(data), hash_buffer(data, blake2b=blake2b), None)
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(src).st_size
        if size == 0:  # nothing to map; also what a directory or an empty file gives
            data = os.read(src, 1)  # raises IsADirectoryError for a folder, as read_bytes did
            if data:
                raise ImageChanged(errno.EIO, "the file grew while it was being read")
            fd = _new_memfd(name)
            _seal(fd)
            return SealedImage(b"", 0, hash_buffer(b"", blake2b=blake2b), fd)
        fd = _new_memfd(name)
        try:
            os.ftruncate(fd, size)
            # MAP_PRIVATE and read-only: it does not count as a writable mapping for the write
            # seal, and the hashers only touch pages the copy has already filled.
            view = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
            progress = _Progress(size)
            result: dict[str, ImageDigests] = {}

            def hash_it() -> None:
                result["digests"] = _hash_following(view, progress, blake2b=blake2b)

            hasher = threading.Thread(target=hash_it, daemon=True)
            hasher.start()
            try:
                _copy_into(src, fd, size, progress)
            except BaseException:
                progress.fail()
                hasher.join()
                view.close()
                raise
            hasher.join()
            _seal(fd)
        except BaseException:
            os.close(fd)
            raise
    finally:
        os.close(src)
    return SealedImage(view, size, result["digests"], fd)


def read_manifest_binary(manifest: PluginManifest) -> SealedImage:
    """``manifest``'s binary read once into a sealed memfd and hashed while it is copied
    (:func:`read_sealed`), with loader.read_binary's refusals (missing binary, pinned SHA-256).

    BLAKE2b-512 (minisign's prehash) is computed only when a signature sits next to the binary
    (integrity.signature_path, spelled out here so this module imports nothing more).
    """
    binary = manifest.binary
    if binary is None:
        raise NotASharedObject(
            manifest.path, manifest.binary_error or "no binary for this platform"
        )
    want_blake2b = binary.with_name(binary.name + ".minisig").exists()
    try:
        image = read_sealed(binary, manifest.name, blake2b=want_blake2b)
    except FileNotFoundError:
        raise NotASharedObject(binary, "binary not found; build the plugin first") from None
    except OSError as exc:
        raise NotASharedObject(binary, f"cannot read binary: {exc.strerror or exc}") from None
    digest = image.digests.sha256
    if manifest.sha256 is not None and manifest.sha256 != digest:
        image.close()
        raise ChecksumMismatch(binary, manifest.sha256, digest)
    return image
