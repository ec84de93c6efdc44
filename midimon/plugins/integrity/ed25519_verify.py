"""Ed25519 signature checks through the OpenSSL that ``hashlib`` has already mapped.

Checking a signature is all the daemon needs of Ed25519, and ``cryptography`` costs a daemon
~7 MiB resident (its Rust module) for it. CPython's ``_hashlib`` links OpenSSL's libcrypto,
which midimon loads anyway (SHA-256 of every binary), and libcrypto has Ed25519 since 1.1.1:
this module calls ``EVP_DigestVerify`` there through ctypes (cffi's ``cdef`` would load
pycparser, a few MiB more), on the very library
file already in the process (read from ``/proc/self/maps``, so nothing new is searched for on
disk or mapped). Where that is not possible (no ``/proc``, a Python whose hashlib is not on
OpenSSL, an OpenSSL without Ed25519) the check goes through ``cryptography`` as before.
Signing stays on ``cryptography`` (the CLI's job, not the daemon's).

Both backends are OpenSSL's Ed25519 (``cryptography``'s wheel carries its own build), so
they accept and refuse the same signatures; ``tests/plugins/integrity/test_ed25519_verify.py``
holds them to it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from midimon.plugins.errors import ArgumentError

__all__ = ["PUBLIC_KEY_BYTES", "SIGNATURE_BYTES", "backend_name", "verify"]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

_NID_ED25519 = 1087  # EVP_PKEY_ED25519 (obj_mac.h), stable since OpenSSL 1.1.1

_lock = threading.Lock()
_libcrypto: Any | None = None
_libcrypto_tried = False


def mapped_libcrypto(maps: str | None = None) -> str | None:
    """The path of the libcrypto ``_hashlib`` mapped into this process, or None.

    ``maps`` is the text of ``/proc/self/maps`` (read when not given).
    """
    if maps is None:
        try:
            import _hashlib  # noqa: F401  (maps libcrypto; hashlib has imported it already)

            maps = Path("/proc/self/maps").read_text()
        except (ImportError, OSError):
            return None
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and Path(fields[5]).name.startswith("libcrypto.so"):
            return fields[5]
    return None


def _open_libcrypto() -> Any | None:
    """The mapped libcrypto with its Ed25519 functions typed, or None when it has none."""
    path = mapped_libcrypto()
    if path is None:
        return None
    import ctypes

    try:
        lib = ctypes.CDLL(path)
        pointer, size, char_p = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
        lib.EVP_PKEY_new_raw_public_key.restype = pointer
        lib.EVP_PKEY_new_raw_public_key.argtypes = [ctypes.c_int, pointer, char_p, size]
        lib.EVP_PKEY_free.argtypes = [pointer]
        lib.EVP_MD_CTX_new.restype = pointer
        lib.EVP_MD_CTX_free.argtypes = [pointer]
        lib.EVP_DigestVerifyInit.argtypes = [pointer, pointer, pointer, pointer, pointer]
        lib.EVP_DigestVerify.argtypes = [pointer, char_p, size, char_p, size]
        lib.ERR_clear_error.argtypes = []
    except (OSError, AttributeError):  # AttributeError: an OpenSSL before 1.1.1
        return None
    return lib


def _openssl() -> Any | None:
    global _libcrypto, _libcrypto_tried
    if not _libcrypto_tried:
        with _lock:
            if not _libcrypto_tried:
                _libcrypto = _open_libcrypto()
                _libcrypto_tried = True
    return _libcrypto


def backend_name() -> str:
    """Which backend :func:`verify` uses here: ``"libcrypto"`` or ``"cryptography"``."""
    return "libcrypto" if _openssl() is not None else "cryptography"


def _verify_libcrypto(lib: Any, public_key: bytes, signature: bytes, message: bytes) -> bool:
    pkey = lib.EVP_PKEY_new_raw_public_key(_NID_ED25519, None, public_key, len(public_key))
    if not pkey:
        lib.ERR_clear_error()
        return False
    ctx = lib.EVP_MD_CTX_new()
    try:
        if not ctx:
            raise MemoryError("EVP_MD_CTX_new failed")
        if lib.EVP_DigestVerifyInit(ctx, None, None, None, pkey) != 1:
            lib.ERR_clear_error()
            return False
        ok = bool(lib.EVP_DigestVerify(ctx, signature, len(signature), message, len(message)) == 1)
        if not ok:
            lib.ERR_clear_error()  # leave no refusal queued for the next OpenSSL user
        return ok
    finally:
        lib.EVP_MD_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)


def _verify_cryptography(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(
    public_key: bytes, signature: bytes, message: bytes, *, backend: str | None = None
) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``.

    Wrong lengths, keys that are not points and altered bytes all give False. ``backend``
    (``"libcrypto"`` or ``"cryptography"``) forces one; by default libcrypto where it works.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    if backend not in (None, "libcrypto", "cryptography"):
        raise ArgumentError(f"unknown Ed25519 backend {backend!r}")
    openssl = _openssl() if backend != "cryptography" else None
    if openssl is None:
        if backend == "libcrypto":
            raise ArgumentError("the mapped libcrypto cannot check Ed25519 here")
        return _verify_cryptography(public_key, signature, message)
    return _verify_libcrypto(openssl, public_key, signature, message)
