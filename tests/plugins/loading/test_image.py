"""image.read_sealed: one read into a sealed memfd, hashed while it is copied."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import sys
from pathlib import Path

import pytest

from midimon.plugins.loading.image import ImageDigests, hash_buffer, read_sealed

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memfd is Linux")


@pytest.mark.parametrize("size", [0, 1, 4095, 4 * 1024 * 1024 + 17, 9 * 1024 * 1024])
@pytest.mark.parametrize("blake2b", [True, False])
def test_digests_and_bytes_match_the_file(tmp_path: Path, size: int, blake2b: bool) -> None:
    """SHA-256, BLAKE2b-512 and the bytes are exactly the file's, across chunk boundaries."""
    data = os.urandom(size)
    path = tmp_path / "plugin.so"
    path.write_bytes(data)
    with read_sealed(path, "t", blake2b=blake2b) as image:
        assert image.size == size
        assert bytes(image.data[:]) == data
        assert image.digests.sha256 == hashlib.sha256(data).hexdigest()
        expected_b2 = hashlib.blake2b(data, digest_size=64).digest() if blake2b else None
        assert image.digests.blake2b512 == expected_b2
        assert hash_buffer(data, blake2b=blake2b) == image.digests


@linux_only
def test_the_memfd_is_sealed_and_holds_the_same_bytes(tmp_path: Path) -> None:
    """The fd a worker gets is sealed against writes and changes; its content is the file's."""
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = tmp_path / "plugin.so"
    path.write_bytes(data)
    with read_sealed(path, "t", blake2b=True) as image:
        assert image.fd is not None
        seals = fcntl.fcntl(image.fd, fcntl.F_GET_SEALS)
        for seal in (fcntl.F_SEAL_WRITE, fcntl.F_SEAL_GROW, fcntl.F_SEAL_SHRINK, fcntl.F_SEAL_SEAL):
            assert seals & seal
        assert os.pread(image.fd, len(data) + 10, 0) == data
        with pytest.raises(PermissionError):
            os.pwrite(image.fd, b"x", 0)
        path.write_bytes(b"replaced after the read")  # changes nothing already read
        assert os.pread(image.fd, 16, 0) == data[:16]


def test_missing_file_and_folder_raise_oserror(tmp_path: Path) -> None:
    """Reading errors are the usual OSErrors (the caller words them)."""
    with pytest.raises(FileNotFoundError):
        read_sealed(tmp_path / "nope.so", "t", blake2b=False)
    with pytest.raises(OSError) as info:
        read_sealed(tmp_path, "t", blake2b=False)
    assert info.value.errno == errno.EISDIR


def test_hash_buffer_without_blake2b() -> None:
    """Only SHA-256 when no signature needs the prehash."""
    assert hash_buffer(b"abc", blake2b=False) == ImageDigests(hashlib.sha256(b"abc").hexdigest())


@linux_only
def test_a_kept_view_reuses_its_sealed_memfd_and_closes_it_when_collected(tmp_path: Path) -> None:
    """keep_sealed: the loaded plugin's bytes are the view of the memfd the check hashed;
    sealed_image_fd of that view is a duplicate of that very memfd (same inode, sealed, no new
    copy), and the memfd is closed once the view is gone."""
    import gc

    from midimon.plugins.loading.image import keep_sealed, sealed_image_fd

    data = os.urandom(2 * 1024 * 1024 + 3)
    path = tmp_path / "plugin.so"
    path.write_bytes(data)
    image = read_sealed(path, "t", blake2b=False)
    original = image.fd
    assert original is not None
    view = keep_sealed(image)
    assert image.fd is None and image.data == b""  # the image owns nothing any more
    image.close()  # and closing it does not close the kept memfd
    given = sealed_image_fd(view, "t")
    try:
        assert given != original
        assert os.fstat(given).st_ino == os.fstat(original).st_ino
        seals = fcntl.fcntl(given, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_GROW
        assert os.pread(given, len(data) + 1, 0) == data
    finally:
        os.close(given)
    other = sealed_image_fd(data, "t")  # plain bytes: a new memfd, as before
    try:
        assert os.fstat(other).st_ino != os.fstat(original).st_ino
    finally:
        os.close(other)
    del view
    gc.collect()
    with pytest.raises(OSError) as closed:
        os.fstat(original)
    assert closed.value.errno == errno.EBADF
