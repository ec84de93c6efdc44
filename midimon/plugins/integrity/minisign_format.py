"""The minisign formats: constants, errors and the text/bytes helpers keys and signatures share.

minisign-compatible Ed25519 keys (:mod:`.minisign_keys`) and signatures (:mod:`.minisign`) are
pure Python on ``cryptography`` (signatures are checked through :mod:`.ed25519_verify`,
OpenSSL's libcrypto where it can, so a daemon need not load ``cryptography``), and every
failure they can meet (bad base64, wrong lengths, unknown algorithms, wrong password, bad
signatures, errors from ``cryptography`` or ``hashlib``) comes out as a :class:`MinisignError`
subclass. Reading a file that does not exist or cannot be read raises ``OSError`` as usual.

The formats are those of minisign (https://jedisct1.github.io/minisign/), as written by its
``src/minisign.c`` (``PubkeyStruct``, ``SeckeyStruct``, ``SigStruct`` in ``src/minisign.h``):

* public key file: ``untrusted comment: minisign public key <KEYID>`` then
  base64(``Ed`` || key id (8 bytes) || Ed25519 public key (32 bytes));
* secret key file: an untrusted comment then base64(``Ed`` || kdf ``Sc`` or two NUL bytes ||
  ``B2`` || scrypt salt (32) || opslimit (u64 LE) || memlimit (u64 LE) || key id (8) ||
  Ed25519 secret key (64: seed || public key) || BLAKE2b-256 checksum (32)), the last 104 bytes
  XORed with a scrypt-derived stream when the key has a password;
* signature file: an untrusted comment, base64(``ED`` or legacy ``Ed`` || key id || signature),
  ``trusted comment: <text>``, base64(global signature over signature || trusted comment).

``ED`` signs the BLAKE2b-512 hash of the message, ``Ed`` (legacy) the message itself. The key
id is stored as 8 bytes; minisign prints it as the little-endian 64-bit integer they encode, in
16 uppercase hex digits (:attr:`PublicKey.key_id_hex`).

Text given as ``bytes`` must be UTF-8. Lines end in LF or CRLF. Comments may not contain CR, LF
or NUL, and are limited to the lengths minisign itself reads back (1003 bytes for an untrusted
comment, 8173 for a trusted one).

The underscore helpers here are shared with ``minisign_keys`` and ``minisign`` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from midimon.plugins.errors import (  # defined there; importable from here as before
    ArgumentError,
    BadSignature,
    KeyFormatError,
    KeyIdMismatch,
    LegacySignatureRefused,
    MinisignError,
    SignatureFormatError,
    WrongPasswordError,
)

__all__ = [
    "MEMLIMIT_INTERACTIVE",
    "MEMLIMIT_SENSITIVE",
    "OPSLIMIT_INTERACTIVE",
    "OPSLIMIT_SENSITIVE",
    "ArgumentError",
    "BadSignature",
    "KeyFormatError",
    "KeyIdMismatch",
    "LegacySignatureRefused",
    "MinisignError",
    "SignatureFormatError",
    "WrongPasswordError",
    "blake2b_prehash",
    "scrypt_parameters",
]

# --- format constants (src/minisign.h) -------------------------------------------------------

SIGALG_LEGACY = b"Ed"
SIGALG_PREHASHED = b"ED"
KDFALG_SCRYPT = b"Sc"
KDFALG_NONE = b"\0\0"
CHKALG_BLAKE2B = b"B2"

KEY_ID_BYTES = 8
PUBLIC_KEY_BYTES = 32
SECRET_KEY_BYTES = 64
SIGNATURE_BYTES = 64
CHECKSUM_BYTES = 32
SALT_BYTES = 32

#: sig_alg (2) + key id (8) + public key (32)
PUBLIC_KEY_BLOB_BYTES = 2 + KEY_ID_BYTES + PUBLIC_KEY_BYTES
#: key id (8) + secret key (64) + checksum (32): the part that the password encrypts
_KEYNUM_SK_BYTES = KEY_ID_BYTES + SECRET_KEY_BYTES + CHECKSUM_BYTES
#: sig_alg, kdf_alg, chk_alg (2 each) + salt (32) + opslimit (8) + memlimit (8) + keynum_sk
SECRET_KEY_BLOB_BYTES = 6 + SALT_BYTES + 8 + 8 + _KEYNUM_SK_BYTES
#: sig_alg (2) + key id (8) + signature (64)
SIGNATURE_BLOB_BYTES = 2 + KEY_ID_BYTES + SIGNATURE_BYTES

UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
#: minisign reads comment lines with fgets() into 1024 bytes (COMMENTMAXBYTES): prefix (19) +
#: comment + "\n" must fit in 1023.
UNTRUSTED_COMMENT_MAX_BYTES = 1024 - 1 - len(UNTRUSTED_PREFIX) - 1
#: TRUSTEDCOMMENTMAXBYTES is 8192; sign() refuses len >= 8192 - sizeof "trusted comment: ".
TRUSTED_COMMENT_MAX_BYTES = 8192 - (len(TRUSTED_PREFIX) + 1) - 1
#: minisign reads the password with fgets() into PASSWORDMAXBYTES (1024) and cuts it at CR/LF.
PASSWORD_MAX_BYTES = 1023

DEFAULT_SIGNATURE_COMMENT = "signature from minisign secret key"
DEFAULT_SECRET_KEY_COMMENT = "minisign encrypted secret key"

# libsodium's crypto_pwhash_scryptsalsa208sha256 limits; minisign encrypts with SENSITIVE.
OPSLIMIT_INTERACTIVE = 524_288
MEMLIMIT_INTERACTIVE = 16_777_216
OPSLIMIT_SENSITIVE = 33_554_432
MEMLIMIT_SENSITIVE = 1_073_741_824

#: Refuse scrypt work above 8x minisign's default (N*r*p = 2**23) so that a hostile key file
#: cannot pin the CPU, and memory above what hashlib.scrypt accepts (maxmem <= INT_MAX).
SCRYPT_MAX_COST = 1 << 26
SCRYPT_MAX_MEMORY = (1 << 31) - 1


# --- exceptions -------------------------------------------------------------------------------


# --- helpers ----------------------------------------------------------------------------------


def _key_id_hex(key_id: bytes) -> str:
    """minisign prints le64_load(keynum) with %016" PRIX64 ": the bytes reversed, in hex."""
    return key_id[::-1].hex().upper()


def blake2b_prehash(data: bytes) -> bytes:
    """Return BLAKE2b-512 of ``data``: what an ``ED`` signature signs."""
    return hashlib.blake2b(data, digest_size=64).digest()


def _checksum(sig_alg: bytes, key_id: bytes, secret: bytes) -> bytes:
    """BLAKE2b-256(sig_alg || key id || secret key), as minisign's seckey_compute_chk()."""
    h = hashlib.blake2b(digest_size=CHECKSUM_BYTES)
    h.update(sig_alg)
    h.update(key_id)
    h.update(secret)
    return h.digest()


def scrypt_parameters(opslimit: int, memlimit: int) -> tuple[int, int, int]:
    """Return scrypt's ``(N, r, p)`` for libsodium's opslimit/memlimit.

    This is ``pickparams()`` of libsodium's ``crypto_pwhash_scryptsalsa208sha256``, which
    minisign calls with the limits stored in the secret key.
    """
    opslimit = max(opslimit, 32768)
    r = 8
    if opslimit < memlimit // 32:
        p = 1
        max_n = opslimit // (r * 4)
        n_log2 = _first_n_log2_above(max_n // 2)
    else:
        max_n = memlimit // (r * 128)
        n_log2 = _first_n_log2_above(max_n // 2)
        max_rp = min((opslimit // 4) // (1 << n_log2), 0x3FFFFFFF)
        p = max_rp // r
    return 1 << n_log2, r, p


def _first_n_log2_above(limit: int) -> int:
    n_log2 = 1
    while n_log2 < 63 and (1 << n_log2) <= limit:
        n_log2 += 1
    return n_log2


def _scrypt_check(opslimit: int, memlimit: int) -> tuple[int, int, int, int] | str:
    """Return ``(N, r, p, maxmem)`` or a sentence saying why these limits are refused."""
    n, r, p = scrypt_parameters(opslimit, memlimit)
    if p < 1:
        return f"scrypt parameters N={n}, r={r}, p={p} are invalid (p must be at least 1)"
    if n * r * p > SCRYPT_MAX_COST:
        return (
            f"scrypt parameters N={n}, r={r}, p={p} cost {n * r * p} block operations; "
            f"refusing more than {SCRYPT_MAX_COST}"
        )
    # OpenSSL's EVP_PBE_scrypt needs 128*r*p + 128*r*(N+2) bytes; leave a little slack.
    maxmem = 128 * r * (n + p + 2) + (1 << 16)
    if maxmem > SCRYPT_MAX_MEMORY:
        return (
            f"scrypt parameters N={n}, r={r}, p={p} need {maxmem >> 20} MiB of memory; "
            f"refusing more than {SCRYPT_MAX_MEMORY >> 20} MiB"
        )
    return n, r, p, maxmem


def _scrypt_stream(password: bytes, salt: bytes, params: tuple[int, int, int, int]) -> bytes:
    n, r, p, maxmem = params
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=_KEYNUM_SK_BYTES)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | str:
    """Decode canonical standard base64 with padding; return the bytes or why it is not."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except UnicodeEncodeError:
        return "not valid base64 (non-ASCII characters)"
    except (binascii.Error, ValueError) as exc:
        return f"not valid base64 ({exc})"
    if _b64encode(raw) != text:
        return "not canonical base64 (unused bits set or wrong padding)"
    return raw


def _comment_problem(text: object, *, trusted: bool) -> str | None:
    """Return why ``text`` cannot be a comment line, or None if it can."""
    kind = "trusted comment" if trusted else "untrusted comment"
    if not isinstance(text, str):
        return f"{kind} must be a str, not {type(text).__name__}"
    if "\n" in text or "\r" in text:
        return f"{kind} contains a line break"
    if "\0" in text:
        return f"{kind} contains a NUL character"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{kind} cannot be encoded as UTF-8"
    limit = TRUSTED_COMMENT_MAX_BYTES if trusted else UNTRUSTED_COMMENT_MAX_BYTES
    if size > limit:
        return f"{kind} is {size} bytes long; minisign reads at most {limit}"
    return None


def _check_comment(text: object, *, trusted: bool) -> None:
    problem = _comment_problem(text, trusted=trusted)
    if problem is not None:
        raise ArgumentError(problem)


def _check_bytes(value: object, length: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        found = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ArgumentError(f"{what} must be {length} bytes, got {found}")


def _check_password(password: object) -> bytes:
    if not isinstance(password, (bytes, bytearray)):
        raise ArgumentError(f"password must be bytes, not {type(password).__name__}")
    password = bytes(password)
    if any(c in password for c in (b"\0", b"\r", b"\n")):
        raise ArgumentError("password contains NUL, CR or LF, which minisign cannot read")
    if len(password) > PASSWORD_MAX_BYTES:
        raise ArgumentError(
            f"password is {len(password)} bytes long; minisign reads at most {PASSWORD_MAX_BYTES}"
        )
    return password


_ErrorFactory = Callable[[int | None, str], MinisignError]


def _split_lines(text: str | bytes, error: _ErrorFactory) -> list[str]:
    """Split a file into lines (LF or CRLF), decoding bytes as UTF-8."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise error(line, f"not valid UTF-8 (byte {exc.start} of the file)") from None
    elif not isinstance(text, str):
        raise error(None, f"expected str or bytes, got {type(text).__name__}")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _require_lines(lines: list[str], count: int, what: str, error: _ErrorFactory) -> None:
    if len(lines) < count:
        raise error(
            len(lines) + 1 if lines else None,
            f"file ends after {len(lines)} line(s); {what} has {count}",
        )
    for index in range(count, len(lines)):
        if lines[index].strip():
            raise error(index + 1, f"unexpected content after the last line of {what}")


def _untrusted_comment(line: str, lineno: int, error: _ErrorFactory) -> str:
    if not line.startswith(UNTRUSTED_PREFIX):
        raise error(lineno, f"expected a line starting with {UNTRUSTED_PREFIX!r}")
    comment = line[len(UNTRUSTED_PREFIX) :]
    problem = _comment_problem(comment, trusted=False)
    if problem is not None:
        raise error(lineno, problem)
    return comment


def _decode_line(
    line: str, lineno: int | None, expected: int, what: str, error: _ErrorFactory
) -> bytes:
    raw = _b64decode(line)
    if isinstance(raw, str):
        raise error(lineno, f"{raw}; {what} is base64 of {expected} bytes")
    if len(raw) != expected:
        raise error(lineno, f"base64 decodes to {len(raw)} bytes; {what} has {expected}")
    return raw


def _read(path: str | os.PathLike[str]) -> bytes:
    return Path(path).read_bytes()
