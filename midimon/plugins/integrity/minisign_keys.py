"""minisign key pairs: public and secret key files (scrypt-protected), and new key pairs.

The file formats are described in :mod:`.minisign_format`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from midimon.fsutil import atomic_write
from midimon.plugins.errors import ArgumentError, KeyFormatError, MinisignError, WrongPasswordError
from midimon.plugins.integrity.minisign_format import (
    CHECKSUM_BYTES,
    CHKALG_BLAKE2B,
    DEFAULT_SECRET_KEY_COMMENT,
    KDFALG_NONE,
    KDFALG_SCRYPT,
    KEY_ID_BYTES,
    MEMLIMIT_SENSITIVE,
    OPSLIMIT_SENSITIVE,
    PUBLIC_KEY_BLOB_BYTES,
    PUBLIC_KEY_BYTES,
    SALT_BYTES,
    SECRET_KEY_BLOB_BYTES,
    SECRET_KEY_BYTES,
    SIGALG_LEGACY,
    UNTRUSTED_PREFIX,
    _b64encode,
    _check_bytes,
    _check_comment,
    _check_password,
    _checksum,
    _decode_line,
    _ErrorFactory,
    _key_id_hex,
    _read,
    _require_lines,
    _scrypt_check,
    _scrypt_stream,
    _split_lines,
    _untrusted_comment,
    _xor,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

# cryptography (its Rust module and OpenSSL: ~10 MiB resident) is imported where a key is used,
# not with this module: the daemon imports the integrity code at start but signs or checks
# nothing until a plugin loads.

__all__ = [
    "PublicKey",
    "SecretKey",
    "generate_keypair",
]

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

    def ed25519(self) -> Ed25519PublicKey:
        """This key as a ``cryptography`` object (``minisign.verify`` checks through
        :mod:`.ed25519_verify` on the raw bytes instead)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
        derived = self.ed25519().public_key().public_bytes_raw()
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

    def ed25519(self) -> Ed25519PrivateKey:
        """This key as a ``cryptography`` object (what minisign.sign signs with)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.secret[:32])


def generate_keypair() -> tuple[PublicKey, SecretKey]:
    """Make a new Ed25519 key pair with a random 8-byte key id, as ``minisign -G`` does."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    secret_key = SecretKey(key_id=secrets.token_bytes(KEY_ID_BYTES), secret=seed + public)
    return secret_key.public_key(), secret_key
