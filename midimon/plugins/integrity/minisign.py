"""minisign signatures: sign data with a secret key, verify it against a public key.

minisign-compatible (https://jedisct1.github.io/minisign/): the formats are described in
:mod:`.minisign_format`, keys are in :mod:`.minisign_keys`. Every failure comes out as a
:class:`~.minisign_format.MinisignError` subclass; a file that cannot be read raises ``OSError``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from midimon.fsutil import atomic_write
from midimon.plugins.errors import (
    ArgumentError,
    BadSignature,
    KeyIdMismatch,
    LegacySignatureRefused,
    MinisignError,
    SignatureFormatError,
    where_prefix,
)
from midimon.plugins.integrity import ed25519_verify
from midimon.plugins.integrity.minisign_format import (
    DEFAULT_SIGNATURE_COMMENT,
    KEY_ID_BYTES,
    SIGALG_LEGACY,
    SIGALG_PREHASHED,
    SIGNATURE_BLOB_BYTES,
    SIGNATURE_BYTES,
    TRUSTED_PREFIX,
    UNTRUSTED_PREFIX,
    _b64encode,
    _check_bytes,
    _check_comment,
    _comment_problem,
    _decode_line,
    _key_id_hex,
    _read,
    _require_lines,
    _split_lines,
    _untrusted_comment,
    blake2b_prehash,
)
from midimon.plugins.integrity.minisign_keys import (
    PublicKey,
    SecretKey,
)

__all__ = [
    "Signature",
    "default_trusted_comment",
    "parse_trusted_comment",
    "sign",
    "verify",
]

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
    private = secret_key.ed25519()
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
    where = where_prefix(signature.source, None)
    if signature.algorithm == "ED":
        if prehash is not None and len(prehash) != 64:
            raise ArgumentError(f"prehash must be a 64-byte BLAKE2b-512 digest, not {len(prehash)}")
        message = prehash if prehash is not None else blake2b_prehash(data)
    else:
        message = bytes(data)
    if not ed25519_verify.verify(public_key.raw, signature.signature, message):
        raise BadSignature(
            f"{where}signature verification failed: the data does not match the signature "
            f"of key {public_key.key_id_hex}",
            "signature",
        )
    global_message = signature.signature + signature.trusted_comment.encode("utf-8")
    if not ed25519_verify.verify(public_key.raw, signature.global_signature, global_message):
        raise BadSignature(
            f"{where}comment signature verification failed: the trusted comment was altered",
            "global",
        )


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
