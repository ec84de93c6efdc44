"""Minisign key files: public and secret keys round-trip, passwords and scrypt limits are checked,
damaged keys are refused."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from minisign_samples import (
    FAST,
    PASSWORD,
    PK,
    SIG,
    SK,
    SK_ENCRYPTED_TEXT,
    SK_PLAIN_TEXT,
    sk_blob,
    sk_text,
)

from midimon.plugins.integrity.minisign import (
    Signature,
)
from midimon.plugins.integrity.minisign_format import (
    ArgumentError,
    KeyFormatError,
    WrongPasswordError,
)
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey


def test_public_key_text_round_trip() -> None:
    """Public key files and bare base64 strings parse back to the same key."""
    text = PK.to_text()
    assert text.startswith(f"untrusted comment: minisign public key {PK.key_id_hex}\n")
    assert PublicKey.parse(text) == PK
    assert PublicKey.parse(PK.to_text("my key")) == PK
    assert PublicKey.from_base64(PK.to_base64()) == PK


def test_secret_key_round_trip_without_password() -> None:
    """A secret key without password round-trips and keeps its public key."""
    loaded = SecretKey.parse(SK_PLAIN_TEXT, None)
    assert loaded == SK
    assert loaded.public_key() == PK
    assert sk_blob(SK_PLAIN_TEXT)[2:4] == b"\0\0"


def test_secret_key_round_trip_with_password() -> None:
    """A password-protected secret key decrypts with its password."""
    assert sk_blob(SK_ENCRYPTED_TEXT)[2:4] == b"Sc"
    assert SecretKey.parse(SK_ENCRYPTED_TEXT, PASSWORD) == SK
    assert SecretKey.parse(SK.to_text(b"", **FAST), b"") == SK


def test_wrong_password_raises() -> None:
    """A wrong password raises WrongPasswordError naming the source."""
    with pytest.raises(WrongPasswordError, match=r"^k\.key: wrong password"):
        SecretKey.parse(SK_ENCRYPTED_TEXT, b"wrong", source="k.key")


def test_missing_password_raises() -> None:
    """An encrypted key without a password raises WrongPasswordError."""
    with pytest.raises(WrongPasswordError, match="password is needed"):
        SecretKey.parse(SK_ENCRYPTED_TEXT, None)


def test_password_ignored_for_unencrypted_key() -> None:
    """A password given for an unencrypted key is ignored."""
    assert SecretKey.parse(SK_PLAIN_TEXT, b"anything") == SK


def test_secret_key_repr_hides_secret() -> None:
    """The secret bytes never appear in repr()."""
    assert SK.secret.hex() not in repr(SK).encode().hex()
    assert "secret" not in repr(SK)


def test_passwords_minisign_cannot_type_are_refused() -> None:
    """Passwords with NUL/CR/LF or over 1023 bytes are refused when writing."""
    for bad in (b"a\nb", b"a\rb", b"a\0b", b"x" * 1024):
        with pytest.raises(ArgumentError):
            SK.to_text(bad, **FAST)


def test_files_saved_atomically_with_modes(tmp_path: Path) -> None:
    """save() writes files with 0600 for secret keys, 0644 otherwise, leaving no temp files."""
    SK.save(tmp_path / "k.key", None)
    PK.save(tmp_path / "k.pub")
    SIG.save(tmp_path / "m.minisig")
    SK.save(tmp_path / "k.key", PASSWORD, **FAST)  # replaces the existing file
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k.pub").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "m.minisig").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "k.pub", "m.minisig"]
    assert SecretKey.load(tmp_path / "k.key", PASSWORD) == SK
    assert PublicKey.load(tmp_path / "k.pub") == PK
    assert Signature.load(tmp_path / "m.minisig") == SIG


def test_key_id_hex_is_little_endian() -> None:
    """key_id_hex prints the stored bytes as minisign's little-endian integer."""
    key = PublicKey(key_id=bytes.fromhex("0b1d3504cc01008a"), raw=PK.raw)
    assert key.key_id_hex == "8A0001CC04351D0B"


def test_hostile_scrypt_parameters_refused_quickly() -> None:
    """A key demanding absurd scrypt work is refused before any derivation."""
    blob = bytearray(sk_blob(SK_ENCRYPTED_TEXT))
    blob[38:46] = (2**63).to_bytes(8, "little")
    blob[46:54] = (2**40).to_bytes(8, "little")
    start = time.monotonic()
    with pytest.raises(KeyFormatError, match="scrypt"):
        SecretKey.parse(sk_text(bytes(blob)), PASSWORD)
    assert time.monotonic() - start < 1.0
    with pytest.raises(ArgumentError, match="scrypt"):
        SK.to_text(PASSWORD, opslimit=2**40, memlimit=2**30)


def test_corrupt_unencrypted_secret_key_refused() -> None:
    """A damaged secret key (checksum or embedded public key) is refused."""
    blob = bytearray(sk_blob(SK_PLAIN_TEXT))
    blob[70] ^= 1  # inside the seed
    with pytest.raises(KeyFormatError, match="checksum"):
        SecretKey.parse(sk_text(bytes(blob)), None)
    blob[-32:] = bytes(32)  # zero checksum, as minisign -G -W writes: not checked
    with pytest.raises(KeyFormatError, match="inconsistent"):
        SecretKey.parse(sk_text(bytes(blob)), None)


ENCRYPTED_BLOB = sk_blob(SK_ENCRYPTED_TEXT)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, len(ENCRYPTED_BLOB) - 1).filter(lambda i: not 38 <= i < 54),
    st.integers(1, 255),
)
def test_encrypted_key_byte_flip_is_refused(position: int, mask: int) -> None:
    """A changed byte in an encrypted key (outside the scrypt limits) is refused."""
    blob = bytearray(ENCRYPTED_BLOB)
    blob[position] ^= mask
    with pytest.raises((WrongPasswordError, KeyFormatError)):
        SecretKey.parse(sk_text(bytes(blob)), PASSWORD)
