"""minisign-compatible Ed25519 keys and signatures, in pure Python on ``cryptography``.

This is the only module of midimon that imports ``cryptography``; every failure it can meet
(bad base64, wrong lengths, unknown algorithms, wrong password, bad signatures, errors from
``cryptography`` or ``hashlib``) comes out as a :class:`MinisignError` subclass. Reading a file
that does not exist or cannot be read raises ``OSError`` as usual.

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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from midimon.fsutil import atomic_write

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
    "PublicKey",
    "SecretKey",
    "Signature",
    "SignatureFormatError",
    "WrongPasswordError",
    "blake2b_prehash",
    "default_trusted_comment",
    "generate_keypair",
    "parse_trusted_comment",
    "scrypt_parameters",
    "sign",
    "verify",
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


def _where(source: str | None, line: int | None) -> str:
    parts = []
    if source:
        parts.append(str(source))
    if line is not None:
        parts.append(f"line {line}")
    return "".join(f"{p}: " for p in parts)


class MinisignError(ValueError):
    """Base of every error this module raises on purpose."""


class ArgumentError(MinisignError):
    """A value given to this module cannot be written in minisign's formats.

    For example a comment with a line break, a trusted comment longer than minisign reads back,
    a password minisign could not type, or a field of the wrong length.
    """


class KeyFormatError(MinisignError):
    """A public or secret key file (or string) is malformed or inconsistent.

    ``source`` names the file (or is None), ``line`` the 1-based line at fault (or None).
    """

    def __init__(self, source: str | None, message: str, line: int | None = None) -> None:
        self.source = None if source is None else str(source)
        self.line = line
        self.message = message
        super().__init__(_where(self.source, line) + message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.message, self.line))


class SignatureFormatError(MinisignError):
    """A signature file is malformed. ``line`` is the 1-based line at fault (or None)."""

    def __init__(self, source: str | None, line: int | None, message: str) -> None:
        self.source = None if source is None else str(source)
        self.line = line
        self.message = message
        super().__init__(_where(self.source, line) + message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.line, self.message))


class WrongPasswordError(MinisignError):
    """The secret key is encrypted and the password is wrong or was not given."""

    def __init__(self, source: str | None, message: str | None = None) -> None:
        self.source = None if source is None else str(source)
        self.message = message or (
            "wrong password for this secret key (the checksum does not match after decryption)"
        )
        super().__init__(_where(self.source, None) + self.message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.message))


class KeyIdMismatch(MinisignError):
    """The signature names a key id other than the public key's: it was made by another key.

    ``expected`` is the public key's id, ``found`` the signature's (8 raw bytes each).
    """

    def __init__(self, expected: bytes, found: bytes, source: str | None = None) -> None:
        self.expected = bytes(expected)
        self.found = bytes(found)
        self.source = None if source is None else str(source)
        super().__init__(
            f"{_where(self.source, None)}signature key id is {_key_id_hex(self.found)} "
            f"but the public key's id is {_key_id_hex(self.expected)}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.expected, self.found, self.source))


class BadSignature(MinisignError):
    """A signature does not verify.

    ``part`` says which: ``"signature"`` (the data does not match) or ``"global"`` (the global
    signature over the trusted comment does not match: the comment was altered).
    """

    def __init__(self, message: str, part: Literal["signature", "global"] = "signature") -> None:
        self.message = message
        self.part = part
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.part))


class LegacySignatureRefused(MinisignError):
    """The signature uses the legacy ``Ed`` algorithm (no prehash) and legacy was not allowed."""

    def __init__(self, source: str | None = None) -> None:
        self.source = None if source is None else str(source)
        super().__init__(
            f"{_where(self.source, None)}legacy (non-prehashed, algorithm 'Ed') signature "
            "refused; re-sign with a current minisign (algorithm 'ED') or allow legacy"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source,))


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


# --- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKey:
    """A minisign public key: an 8-byte key id and a 32-byte Ed25519 public key."""

    key_id: bytes
    raw: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.key_id, KEY_ID_BYTES, "key_id")
        _check_bytes(self.raw, PUBLIC_KEY_BYTES, "raw public key")

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it: 16 uppercase hex digits of the LE integer."""
        return _key_id_hex(self.key_id)

    @classmethod
    def from_base64(cls, text: str, source: str | None = None) -> PublicKey:
        """Parse the base64 line alone (what ``minisign -P`` takes)."""

        def error(line: int | None, message: str) -> MinisignError:
            return KeyFormatError(source, message, line)

        if not isinstance(text, str):
            raise error(None, f"expected str, got {type(text).__name__}")
        return cls._from_line(text.strip(), None, error)

    @classmethod
    def _from_line(cls, line: str, lineno: int | None, error: _ErrorFactory) -> PublicKey:
        blob = _decode_line(line, lineno, PUBLIC_KEY_BLOB_BYTES, "a public key", error)
        if blob[:2] != SIGALG_LEGACY:
            raise error(
                lineno, f"unsupported signature algorithm {blob[:2]!r}; a public key has b'Ed'"
            )
        return cls(key_id=blob[2:10], raw=blob[10:])

    @classmethod
    def parse(cls, text: str | bytes, source: str | None = None) -> PublicKey:
        """Parse a public key file's text. Raises :class:`KeyFormatError`."""

        def error(line: int | None, message: str) -> MinisignError:
            return KeyFormatError(source, message, line)

        lines = _split_lines(text, error)
        _require_lines(lines, 2, "a public key file", error)
        _untrusted_comment(lines[0], 1, error)
        return cls._from_line(lines[1], 2, error)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PublicKey:
        """Read and parse a public key file. Raises :class:`KeyFormatError` or ``OSError``."""
        return cls.parse(_read(path), source=os.fspath(path))

    def to_base64(self) -> str:
        """The base64 line alone (what ``minisign -P`` takes)."""
        return _b64encode(SIGALG_LEGACY + self.key_id + self.raw)

    def to_text(self, untrusted_comment: str | None = None) -> str:
        """The public key file, by default with minisign's comment naming the key id."""
        if untrusted_comment is None:
            untrusted_comment = f"minisign public key {self.key_id_hex}"
        _check_comment(untrusted_comment, trusted=False)
        return f"{UNTRUSTED_PREFIX}{untrusted_comment}\n{self.to_base64()}\n"

    def save(self, path: str | os.PathLike[str], untrusted_comment: str | None = None) -> None:
        """Write the public key file atomically, mode 0644."""
        atomic_write(path, self.to_text(untrusted_comment).encode("utf-8"), 0o644)

    def _ed25519(self) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(self.raw)
        except ValueError as exc:  # pragma: no cover - length is checked at construction
            raise KeyFormatError(None, f"unusable Ed25519 public key: {exc}") from None


@dataclass(frozen=True)
class SecretKey:
    """A minisign secret key: key id and libsodium's 64-byte Ed25519 key (seed || public key).

    ``secret`` is kept out of ``repr()``.
    """

    key_id: bytes
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_bytes(self.key_id, KEY_ID_BYTES, "key_id")
        _check_bytes(self.secret, SECRET_KEY_BYTES, "secret key")
        derived = self._ed25519().public_key().public_bytes_raw()
        if derived != self.secret[32:]:
            raise ArgumentError(
                "secret key is inconsistent: its last 32 bytes are not the public key of its seed"
            )

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it: 16 uppercase hex digits of the LE integer."""
        return _key_id_hex(self.key_id)

    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(key_id=self.key_id, raw=self.secret[32:])

    @classmethod
    def parse(
        cls, text: str | bytes, password: bytes | None, source: str | None = None
    ) -> SecretKey:
        """Parse (and decrypt when it has a password) a secret key file's text.

        ``password`` is ignored for a key without one. Raises :class:`KeyFormatError`, or
        :class:`WrongPasswordError` when the key is encrypted and the password is wrong or None.
        """

        def error(line: int | None, message: str) -> MinisignError:
            return KeyFormatError(source, message, line)

        lines = _split_lines(text, error)
        _require_lines(lines, 2, "a secret key file", error)
        _untrusted_comment(lines[0], 1, error)
        blob = _decode_line(lines[1], 2, SECRET_KEY_BLOB_BYTES, "a secret key", error)
        sig_alg, kdf_alg, chk_alg = blob[0:2], blob[2:4], blob[4:6]
        salt = blob[6:38]
        opslimit = int.from_bytes(blob[38:46], "little")
        memlimit = int.from_bytes(blob[46:54], "little")
        keynum_sk = blob[54:]
        if sig_alg != SIGALG_LEGACY:
            raise error(2, f"unsupported signature algorithm {sig_alg!r}; expected b'Ed'")
        if chk_alg != CHKALG_BLAKE2B:
            raise error(2, f"unsupported checksum algorithm {chk_alg!r}; expected b'B2'")
        if kdf_alg == KDFALG_SCRYPT:
            params = _scrypt_check(opslimit, memlimit)
            if isinstance(params, str):
                raise error(2, params)
            if password is None:
                raise WrongPasswordError(source, "secret key is encrypted; a password is needed")
            if not isinstance(password, (bytes, bytearray)):
                raise ArgumentError(f"password must be bytes, not {type(password).__name__}")
            try:
                stream = _scrypt_stream(bytes(password), salt, params)
            except ValueError as exc:
                raise error(2, f"scrypt key derivation failed: {exc}") from None
            keynum_sk = _xor(keynum_sk, stream)
        elif kdf_alg != KDFALG_NONE:
            raise error(
                2, f"unsupported key derivation {kdf_alg!r}; expected b'Sc' or two NUL bytes"
            )
        key_id, secret, checksum = keynum_sk[:8], keynum_sk[8:72], keynum_sk[72:]
        if checksum != _checksum(sig_alg, key_id, secret):
            if kdf_alg == KDFALG_SCRYPT:
                raise WrongPasswordError(source)
            # minisign -G -W leaves the checksum of an unencrypted key zeroed.
            if checksum != bytes(CHECKSUM_BYTES):
                raise error(2, "checksum mismatch: the secret key is corrupted")
        try:
            return cls(key_id=key_id, secret=secret)
        except ArgumentError as exc:
            raise error(2, str(exc)) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str], password: bytes | None) -> SecretKey:
        """Read and parse a secret key file. Raises like :meth:`parse`, or ``OSError``."""
        return cls.parse(_read(path), password, source=os.fspath(path))

    def to_text(
        self,
        password: bytes | None,
        *,
        untrusted_comment: str | None = None,
        opslimit: int = OPSLIMIT_SENSITIVE,
        memlimit: int = MEMLIMIT_SENSITIVE,
    ) -> str:
        """The secret key file, encrypted with ``password`` (scrypt) unless it is None.

        ``opslimit``/``memlimit`` are libsodium's scrypt limits; the defaults are minisign's
        (N=2**20, r=8, p=1: about 1 GiB and a few seconds). Without a password the salt and
        limits are zero, as ``minisign -G -W`` writes them, and the checksum is filled in.
        """
        if untrusted_comment is None:
            untrusted_comment = DEFAULT_SECRET_KEY_COMMENT
        _check_comment(untrusted_comment, trusted=False)
        checksum = _checksum(SIGALG_LEGACY, self.key_id, self.secret)
        keynum_sk = self.key_id + self.secret + checksum
        if password is None:
            header = SIGALG_LEGACY + KDFALG_NONE + CHKALG_BLAKE2B + bytes(SALT_BYTES + 16)
        else:
            password = _check_password(password)
            for name, value in (("opslimit", opslimit), ("memlimit", memlimit)):
                if not isinstance(value, int) or not 0 <= value < 1 << 64:
                    raise ArgumentError(f"{name} must be an unsigned 64-bit integer")
            params = _scrypt_check(opslimit, memlimit)
            if isinstance(params, str):
                raise ArgumentError(params)
            salt = secrets.token_bytes(SALT_BYTES)
            keynum_sk = _xor(keynum_sk, _scrypt_stream(password, salt, params))
            header = (
                SIGALG_LEGACY
                + KDFALG_SCRYPT
                + CHKALG_BLAKE2B
                + salt
                + opslimit.to_bytes(8, "little")
                + memlimit.to_bytes(8, "little")
            )
        return f"{UNTRUSTED_PREFIX}{untrusted_comment}\n{_b64encode(header + keynum_sk)}\n"

    def save(
        self,
        path: str | os.PathLike[str],
        password: bytes | None,
        *,
        untrusted_comment: str | None = None,
        opslimit: int = OPSLIMIT_SENSITIVE,
        memlimit: int = MEMLIMIT_SENSITIVE,
    ) -> None:
        """Write the secret key file atomically, mode 0600. Arguments as :meth:`to_text`."""
        text = self.to_text(
            password, untrusted_comment=untrusted_comment, opslimit=opslimit, memlimit=memlimit
        )
        atomic_write(path, text.encode("utf-8"), 0o600)

    def _ed25519(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.secret[:32])


def generate_keypair() -> tuple[PublicKey, SecretKey]:
    """Make a new Ed25519 key pair with a random 8-byte key id, as ``minisign -G`` does."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    secret_key = SecretKey(key_id=secrets.token_bytes(KEY_ID_BYTES), secret=seed + public)
    return secret_key.public_key(), secret_key


# --- signatures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """A minisign signature file.

    ``algorithm`` is ``"ED"`` (signs BLAKE2b-512 of the data) or ``"Ed"`` (legacy: signs the
    data itself). ``global_signature`` signs ``signature || trusted_comment`` (UTF-8).
    ``source`` names the file it was parsed from, for error messages; it is not compared.
    """

    algorithm: Literal["ED", "Ed"]
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes
    untrusted_comment: str = DEFAULT_SIGNATURE_COMMENT
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.algorithm not in ("ED", "Ed"):
            raise ArgumentError(f"algorithm must be 'ED' or 'Ed', not {self.algorithm!r}")
        _check_bytes(self.key_id, KEY_ID_BYTES, "key_id")
        _check_bytes(self.signature, SIGNATURE_BYTES, "signature")
        _check_bytes(self.global_signature, SIGNATURE_BYTES, "global_signature")
        _check_comment(self.trusted_comment, trusted=True)
        _check_comment(self.untrusted_comment, trusted=False)

    @property
    def key_id_hex(self) -> str:
        """The signing key's id as minisign prints it."""
        return _key_id_hex(self.key_id)

    @property
    def trusted_fields(self) -> dict[str, str]:
        """The ``key:value`` fields of the trusted comment (see :func:`parse_trusted_comment`)."""
        return parse_trusted_comment(self.trusted_comment)

    @classmethod
    def parse(cls, text: str | bytes, source: str | None = None) -> Signature:
        """Parse a signature file's text. Raises :class:`SignatureFormatError`."""

        def error(line: int | None, message: str) -> MinisignError:
            return SignatureFormatError(source, line, message)

        lines = _split_lines(text, error)
        _require_lines(lines, 4, "a signature file", error)
        untrusted = _untrusted_comment(lines[0], 1, error)
        blob = _decode_line(lines[1], 2, SIGNATURE_BLOB_BYTES, "a signature line", error)
        if blob[:2] == SIGALG_PREHASHED:
            algorithm: Literal["ED", "Ed"] = "ED"
        elif blob[:2] == SIGALG_LEGACY:
            algorithm = "Ed"
        else:
            raise error(
                2,
                f"unsupported signature algorithm {blob[:2]!r}; expected b'ED' (prehashed) "
                "or b'Ed' (legacy)",
            )
        if not lines[2].startswith(TRUSTED_PREFIX):
            raise error(3, f"expected a line starting with {TRUSTED_PREFIX!r}")
        trusted = lines[2][len(TRUSTED_PREFIX) :]
        problem = _comment_problem(trusted, trusted=True)
        if problem is not None:
            raise error(3, problem)
        global_sig = _decode_line(lines[3], 4, SIGNATURE_BYTES, "a global signature line", error)
        return cls(
            algorithm=algorithm,
            key_id=blob[2:10],
            signature=blob[10:],
            trusted_comment=trusted,
            global_signature=global_sig,
            untrusted_comment=untrusted,
            source=source,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Signature:
        """Read and parse a signature file. Raises :class:`SignatureFormatError` or ``OSError``."""
        return cls.parse(_read(path), source=os.fspath(path))

    def to_text(self) -> str:
        """The signature file's text, as minisign writes it (four LF-terminated lines)."""
        alg = SIGALG_PREHASHED if self.algorithm == "ED" else SIGALG_LEGACY
        return (
            f"{UNTRUSTED_PREFIX}{self.untrusted_comment}\n"
            f"{_b64encode(alg + self.key_id + self.signature)}\n"
            f"{TRUSTED_PREFIX}{self.trusted_comment}\n"
            f"{_b64encode(self.global_signature)}\n"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the signature file atomically, mode 0644."""
        atomic_write(path, self.to_text().encode("utf-8"), 0o644)


def default_trusted_comment(
    file_name: str | os.PathLike[str] | None = None,
    *,
    now: float | None = None,
    prehash: bool = True,
) -> str:
    """minisign's default trusted comment: ``timestamp:<unix>\\tfile:<basename>[\\thashed]``.

    ``file:`` is left out when ``file_name`` is None; ``now`` defaults to the current time.
    """
    stamp = int(time.time() if now is None else now)
    parts = [f"timestamp:{stamp}"]
    if file_name is not None:
        parts.append(f"file:{os.path.basename(os.fspath(file_name))}")
    if prehash:
        parts.append("hashed")
    return "\t".join(parts)


def sign(
    data: bytes,
    secret_key: SecretKey,
    trusted_comment: str | None = None,
    untrusted_comment: str | None = None,
    prehash: bool = True,
    *,
    file_name: str | os.PathLike[str] | None = None,
    now: float | None = None,
) -> Signature:
    """Sign ``data`` as ``minisign -S`` does (``prehash=False`` is ``minisign -S -l``).

    Without ``trusted_comment`` the comment is :func:`default_trusted_comment` of
    ``file_name`` and ``now``. Raises :class:`ArgumentError` for a comment minisign could not
    read back.
    """
    if trusted_comment is None:
        trusted_comment = default_trusted_comment(file_name, now=now, prehash=prehash)
    if untrusted_comment is None:
        untrusted_comment = DEFAULT_SIGNATURE_COMMENT
    _check_comment(trusted_comment, trusted=True)
    _check_comment(untrusted_comment, trusted=False)
    private = secret_key._ed25519()
    message = blake2b_prehash(data) if prehash else bytes(data)
    signature = private.sign(message)
    global_signature = private.sign(signature + trusted_comment.encode("utf-8"))
    return Signature(
        algorithm="ED" if prehash else "Ed",
        key_id=secret_key.key_id,
        signature=signature,
        trusted_comment=trusted_comment,
        global_signature=global_signature,
        untrusted_comment=untrusted_comment,
    )


def verify(
    data: bytes,
    signature: Signature,
    public_key: PublicKey,
    allow_legacy: bool = False,
    *,
    prehash: bytes | None = None,
) -> None:
    """Check ``signature`` over ``data`` with ``public_key``, as ``minisign -V`` does.

    ``data`` may be any bytes-like object (an ``mmap`` too). ``prehash``, when given, is
    ``blake2b_prehash(data)`` already computed by the caller over these same bytes (so a large
    binary is hashed once); it is used for ``ED`` signatures only.

    Returns None when everything verifies; raises :class:`LegacySignatureRefused` (an ``Ed``
    signature without ``allow_legacy``), :class:`KeyIdMismatch`, or :class:`BadSignature`
    (``part="signature"`` for the data, ``"global"`` for the trusted comment).
    """
    if signature.algorithm == "Ed" and not allow_legacy:
        raise LegacySignatureRefused(signature.source)
    if signature.key_id != public_key.key_id:
        raise KeyIdMismatch(public_key.key_id, signature.key_id, signature.source)
    where = _where(signature.source, None)
    if signature.algorithm == "ED":
        if prehash is not None and len(prehash) != 64:
            raise ArgumentError(f"prehash must be a 64-byte BLAKE2b-512 digest, not {len(prehash)}")
        message = prehash if prehash is not None else blake2b_prehash(data)
    else:
        message = bytes(data)
    key = public_key._ed25519()
    try:
        key.verify(signature.signature, message)
    except InvalidSignature:
        raise BadSignature(
            f"{where}signature verification failed: the data does not match the signature "
            f"of key {public_key.key_id_hex}",
            "signature",
        ) from None
    try:
        key.verify(
            signature.global_signature,
            signature.signature + signature.trusted_comment.encode("utf-8"),
        )
    except InvalidSignature:
        raise BadSignature(
            f"{where}comment signature verification failed: the trusted comment was altered",
            "global",
        ) from None


_FIELD = re.compile(r"([A-Za-z0-9_.-]+):(.*)", re.DOTALL)


def parse_trusted_comment(text: str) -> dict[str, str]:
    """Return the ``key:value`` fields of a tab-separated trusted comment.

    ``"timestamp:1700000000\\tfile:x.so\\thashed"`` gives ``{"timestamp": "1700000000",
    "file": "x.so"}``. Parts that are not ``key:value`` (free text, minisign's bare
    ``hashed`` flag) are skipped, so a comment without fields gives ``{}``. Keys are
    ``[A-Za-z0-9_.-]+``; the first occurrence of a repeated key wins.
    """
    fields: dict[str, str] = {}
    for part in text.split("\t"):
        match = _FIELD.fullmatch(part)
        if match is not None:
            fields.setdefault(match.group(1), match.group(2))
    return fields
