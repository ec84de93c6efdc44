"""Tests for midimon.plugins.integrity.minisign*: real crypto, and minisign binary interop."""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midimon.plugins.integrity import minisign_format as ms
from midimon.plugins.integrity.minisign import (
    Signature,
    default_trusted_comment,
    parse_trusted_comment,
    sign,
    verify,
)
from midimon.plugins.integrity.minisign_format import (
    ArgumentError,
    BadSignature,
    KeyFormatError,
    KeyIdMismatch,
    LegacySignatureRefused,
    MinisignError,
    SignatureFormatError,
    WrongPasswordError,
    blake2b_prehash,
    scrypt_parameters,
)
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey, generate_keypair

#: Cheap scrypt limits (N=2**14, r=8, p=1: 16 MiB) so tests with passwords stay fast.
FAST = {"opslimit": ms.OPSLIMIT_INTERACTIVE, "memlimit": ms.MEMLIMIT_INTERACTIVE}
PASSWORD = b"correct horse battery staple"

PK, SK = generate_keypair()
OTHER_PK, OTHER_SK = generate_keypair()
MESSAGE = b"midimon plugin image\x00\x01\x02 with some bytes\n"
TRUSTED = "timestamp:1700000000\tfile:plugin.so\thashed"
SIG = sign(MESSAGE, SK, trusted_comment=TRUSTED)
LEGACY_SIG = sign(MESSAGE, SK, trusted_comment=TRUSTED, prehash=False)
SK_PLAIN_TEXT = SK.to_text(None)
SK_ENCRYPTED_TEXT = SK.to_text(PASSWORD, **FAST)


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def minisign_bin() -> str:
    """Path of the minisign binary; missing is a failure under CI=true, else a skip."""
    found = shutil.which("minisign")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the minisign binary is required under CI=true: apt-get install minisign")
        pytest.skip("minisign binary not installed")
    return found


def run(binary: str, *args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run minisign with ``stdin`` piped in (not a tty), capturing text output."""
    return subprocess.run(
        [binary, *map(str, args)],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sig_fields(sig: Signature) -> bytes:
    """The decoded bytes a signature file carries: blob, global signature, trusted comment."""
    alg = sig.algorithm.encode()
    return alg + sig.key_id + sig.signature + sig.global_signature + sig.trusted_comment.encode()


def sig_from_fields(fields: bytes, template: Signature) -> str:
    """Re-encode ``fields`` (as from :func:`sig_fields`) into signature file text."""
    blob, global_sig, comment = fields[:74], fields[74:138], fields[138:]
    return (
        f"untrusted comment: {template.untrusted_comment}\n"
        f"{base64.b64encode(blob).decode()}\n"
        + "trusted comment: "
        + comment.decode("utf-8", "surrogateescape")
        + f"\n{base64.b64encode(global_sig).decode()}\n"
    )


def sk_blob(text: str) -> bytes:
    """The decoded second line of a secret key file."""
    return base64.b64decode(text.splitlines()[1])


def sk_text(blob: bytes) -> str:
    """A secret key file around ``blob``."""
    return f"untrusted comment: k\n{base64.b64encode(blob).decode()}\n"


# --- round trips ------------------------------------------------------------------------------


def test_sign_verify_prehashed_round_trip() -> None:
    """An ED signature of the data verifies with the matching public key."""
    assert SIG.algorithm == "ED"
    verify(MESSAGE, SIG, PK)
    verify(MESSAGE, Signature.parse(SIG.to_text()), PK)


def test_sign_verify_legacy_round_trip() -> None:
    """A legacy Ed signature verifies when legacy signatures are allowed."""
    assert LEGACY_SIG.algorithm == "Ed"
    verify(MESSAGE, Signature.parse(LEGACY_SIG.to_text()), PK, allow_legacy=True)


def test_legacy_refused_unless_allowed() -> None:
    """A legacy Ed signature is refused by default."""
    with pytest.raises(LegacySignatureRefused):
        verify(MESSAGE, LEGACY_SIG, PK)


def test_prehash_is_blake2b_512() -> None:
    """An ED signature is a plain Ed25519 signature of BLAKE2b-512 of the data."""
    legacy_over_hash = sign(blake2b_prehash(MESSAGE), SK, trusted_comment=TRUSTED, prehash=False)
    assert legacy_over_hash.signature == SIG.signature
    assert len(blake2b_prehash(b"")) == 64


def test_verify_with_a_precomputed_prehash() -> None:
    """A caller that hashed the data already passes the BLAKE2b-512; a wrong one fails."""
    verify(memoryview(MESSAGE), SIG, PK, prehash=blake2b_prehash(MESSAGE))
    with pytest.raises(BadSignature):
        verify(MESSAGE, SIG, PK, prehash=blake2b_prehash(MESSAGE + b"x"))
    with pytest.raises(ArgumentError, match="64-byte"):
        verify(MESSAGE, SIG, PK, prehash=b"short")


def test_signature_text_round_trip() -> None:
    """Signature files parse back to equal objects, with LF or CRLF line ends."""
    for sig in (SIG, LEGACY_SIG):
        text = sig.to_text()
        assert text.count("\n") == 4
        assert Signature.parse(text) == sig
        assert Signature.parse(text.encode()) == sig
        assert Signature.parse(text.replace("\n", "\r\n")) == sig
        assert Signature.parse(text.rstrip("\n")) == sig


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


def test_default_trusted_comment() -> None:
    """The default trusted comment is minisign's timestamp/file/hashed form."""
    sig = sign(MESSAGE, SK, file_name="/some/dir/plugin.so", now=1700000000.7)
    assert sig.trusted_comment == "timestamp:1700000000\tfile:plugin.so\thashed"
    legacy = default_trusted_comment("x.so", now=5, prehash=False)
    assert legacy == "timestamp:5\tfile:x.so"
    before = int(time.time())
    assert int(parse_trusted_comment(sign(MESSAGE, SK).trusted_comment)["timestamp"]) >= before


def test_parse_trusted_comment() -> None:
    """Trusted comments give their key:value fields; free text gives none."""
    assert parse_trusted_comment("timestamp:1700000000\tfile:x.so\thashed") == {
        "timestamp": "1700000000",
        "file": "x.so",
    }
    assert parse_trusted_comment("just some free text") == {}
    assert parse_trusted_comment("") == {}
    assert parse_trusted_comment("a:1\ta:2\turl:http://x:y") == {"a": "1", "url": "http://x:y"}
    assert SIG.trusted_fields == {"timestamp": "1700000000", "file": "plugin.so"}


def test_key_id_hex_is_little_endian() -> None:
    """key_id_hex prints the stored bytes as minisign's little-endian integer."""
    key = PublicKey(key_id=bytes.fromhex("0b1d3504cc01008a"), raw=PK.raw)
    assert key.key_id_hex == "8A0001CC04351D0B"


def test_scrypt_parameters_match_libsodium() -> None:
    """opslimit/memlimit map to N, r, p as libsodium's pickparams() does."""
    assert scrypt_parameters(ms.OPSLIMIT_SENSITIVE, ms.MEMLIMIT_SENSITIVE) == (2**20, 8, 1)
    assert scrypt_parameters(ms.OPSLIMIT_INTERACTIVE, ms.MEMLIMIT_INTERACTIVE) == (2**14, 8, 1)
    assert scrypt_parameters(32768, 2**24) == (1024, 8, 1)
    assert scrypt_parameters(0, 0) == (2, 8, 512)
    assert scrypt_parameters(2**26, 2**30) == (2**20, 8, 2)


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


def test_exceptions_pickle_and_carry_fields() -> None:
    """Exceptions keep their fields through pickling and are ValueErrors."""
    errors: list[MinisignError] = [
        KeyFormatError("k.pub", "bad", 2),
        SignatureFormatError("m.minisig", 3, "bad"),
        WrongPasswordError("k.key"),
        KeyIdMismatch(PK.key_id, OTHER_PK.key_id, "m.minisig"),
        BadSignature("bad global", "global"),
        LegacySignatureRefused("m.minisig"),
        ArgumentError("bad argument"),
    ]
    for err in errors:
        assert isinstance(err, ValueError)
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err)
        assert str(copy) == str(err)
    assert str(errors[0]) == "k.pub: line 2: bad"


# --- refusals ---------------------------------------------------------------------------------


def test_wrong_key_raises_key_id_mismatch() -> None:
    """Verifying with another key pair's public key raises KeyIdMismatch."""
    with pytest.raises(KeyIdMismatch) as info:
        verify(MESSAGE, SIG, OTHER_PK)
    assert info.value.expected == OTHER_PK.key_id
    assert info.value.found == SK.key_id
    assert PK.key_id_hex in str(info.value)


def test_same_key_id_other_key_raises_bad_signature() -> None:
    """A public key with the right id but other key bytes raises BadSignature."""
    impostor = PublicKey(key_id=PK.key_id, raw=OTHER_PK.raw)
    with pytest.raises(BadSignature) as info:
        verify(MESSAGE, SIG, impostor)
    assert info.value.part == "signature"


def test_tampered_message_raises_bad_signature() -> None:
    """Changed data raises BadSignature for the signature part."""
    with pytest.raises(BadSignature, match="signature verification failed") as info:
        verify(MESSAGE + b"!", SIG, PK)
    assert info.value.part == "signature"


def test_tampered_trusted_comment_raises_bad_global_signature() -> None:
    """An edited trusted comment fails the global signature."""
    text = SIG.to_text().replace("file:plugin.so", "file:evil.so")
    tampered = Signature.parse(text, source="m.minisig")
    with pytest.raises(BadSignature, match=r"^m\.minisig: comment signature") as info:
        verify(MESSAGE, tampered, PK)
    assert info.value.part == "global"


def test_format_errors_name_file_line_and_expectation() -> None:
    """Format errors say which file, which line and what was expected."""
    lines = SIG.to_text().splitlines()
    short = base64.b64encode(base64.b64decode(lines[1])[:73]).decode()
    text = "\n".join([lines[0], short, *lines[2:]])
    with pytest.raises(SignatureFormatError) as info:
        Signature.parse(text, source="m.minisig")
    assert str(info.value) == (
        "m.minisig: line 2: base64 decodes to 73 bytes; a signature line has 74"
    )
    assert (info.value.source, info.value.line) == ("m.minisig", 2)
    with pytest.raises(SignatureFormatError, match="line 3: expected a line starting with"):
        Signature.parse("\n".join([lines[0], lines[1], "comment", lines[3]]))
    with pytest.raises(SignatureFormatError, match="ends after 2 line"):
        Signature.parse("\n".join(lines[:2]))
    with pytest.raises(SignatureFormatError, match="line 5: unexpected content"):
        Signature.parse(SIG.to_text() + "extra\n")
    with pytest.raises(KeyFormatError, match=r"^k\.pub: line 2: .*public key is base64 of 42"):
        PublicKey.parse("untrusted comment: x\nnot base64!\n", source="k.pub")
    with pytest.raises(KeyFormatError, match="line 1: expected a line starting with"):
        PublicKey.parse("hello\n" + PK.to_base64())
    blob = bytearray(sk_blob(SK_PLAIN_TEXT))
    blob[2:4] = b"Xy"
    with pytest.raises(KeyFormatError, match="unsupported key derivation"):
        SecretKey.parse(sk_text(bytes(blob)), None)


def test_non_canonical_base64_refused() -> None:
    """Base64 with unused bits set is refused, so one file has one spelling."""
    lines = SIG.to_text().splitlines()
    assert lines[3].endswith("==")
    last = lines[3][-3]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    bumped = alphabet[alphabet.index(last) ^ 1]  # flips a bit the decoder drops
    lines[3] = lines[3][:-3] + bumped + "=="
    assert base64.b64decode(lines[3]) == SIG.global_signature
    with pytest.raises(SignatureFormatError, match="canonical"):
        Signature.parse("\n".join(lines))


def test_comment_limits_and_characters() -> None:
    """Comments are limited to what minisign reads back and may not break lines."""
    longest = "x" * ms.TRUSTED_COMMENT_MAX_BYTES
    verify(MESSAGE, sign(MESSAGE, SK, trusted_comment=longest), PK)
    for bad in ("a\nb", "a\rb", "a\0b", longest + "x", "\ud800"):
        with pytest.raises(ArgumentError):
            sign(MESSAGE, SK, trusted_comment=bad)
    with pytest.raises(ArgumentError):
        sign(MESSAGE, SK, untrusted_comment="u" * (ms.UNTRUSTED_COMMENT_MAX_BYTES + 1))
    with pytest.raises(SignatureFormatError, match="line 3: trusted comment contains a line"):
        Signature.parse(SIG.to_text().replace("plugin.so", "plug\rin.so"))


# --- bit flips and fuzzing --------------------------------------------------------------------

FLIP_FIELDS = sig_fields(SIG)
FLIP_SPACE = len(FLIP_FIELDS) + len(MESSAGE)


def assert_flip_refused(position: int, mask: int) -> None:
    """Flipping bits ``mask`` at ``position`` (signature fields, then message) is refused."""
    fields, message = bytearray(FLIP_FIELDS), bytearray(MESSAGE)
    if position < len(fields):
        fields[position] ^= mask
    else:
        message[position - len(fields)] ^= mask
    with pytest.raises(MinisignError):
        sig = Signature.parse(sig_from_fields(bytes(fields), SIG))
        verify(bytes(message), sig, PK, allow_legacy=True)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, FLIP_SPACE - 1), st.integers(1, 255))
def test_any_byte_flip_is_refused(position: int, mask: int) -> None:
    """Any single-byte change in the signature fields or the message is refused."""
    assert_flip_refused(position, mask)


def test_every_position_flip_is_refused() -> None:
    """Each position of the signature fields and message, flipped low and high bit, fails."""
    for position in range(FLIP_SPACE):
        for mask in (0x01, 0x80):
            assert_flip_refused(position, mask)


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


def parse_everything(text: str | bytes) -> None:
    """Feed ``text`` to every parser (and verify what parses); only MinisignError may escape."""
    for parser in (
        lambda: PublicKey.parse(text),
        lambda: SecretKey.parse(text, None),
        lambda: SecretKey.parse(text, b"pw"),
        lambda: verify(MESSAGE, Signature.parse(text), PK, allow_legacy=True),
        lambda: PublicKey.from_base64(text) if isinstance(text, str) else None,
    ):
        with contextlib.suppress(MinisignError):
            parser()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_arbitrary_text_raises_only_minisign_errors(text: str | bytes) -> None:
    """Arbitrary text or bytes never raise anything but MinisignError."""
    parse_everything(text)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            PK.to_text(),
            SK_PLAIN_TEXT,
            SK_ENCRYPTED_TEXT,
            SIG.to_text(),
            LEGACY_SIG.to_text(),
        ]
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["replace", "insert", "delete", "dup-line", "truncate"]),
            st.integers(0, 400),
            st.integers(0, 40),
            st.text(max_size=8),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_valid_files_raise_only_minisign_errors(
    original: str, mutations: list[tuple[str, int, int, str]]
) -> None:
    """Valid files with random edits never raise anything but MinisignError."""
    text = original
    for kind, at, length, piece in mutations:
        at %= max(len(text), 1)
        if kind == "replace":
            text = text[:at] + piece + text[at + max(len(piece), 1) :]
        elif kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + length :]
        elif kind == "dup-line":
            lines = text.split("\n")
            index = at % len(lines)
            text = "\n".join([*lines[: index + 1], lines[index], *lines[index + 1 :]])
        else:
            text = text[:at]
    parse_everything(text)
    parse_everything(text.encode("utf-8", "surrogatepass"))


# --- interop with the real minisign binary ----------------------------------------------------


def write_message(tmp_path: Path, size: int = 3000) -> tuple[Path, bytes]:
    """A message file with varied bytes."""
    data = bytes((i * 7 + i // 256) % 256 for i in range(size))
    path = tmp_path / "plugin.so"
    path.write_bytes(data)
    return path, data


def test_minisign_unencrypted_keys_work_in_ours(minisign_bin: str, tmp_path: Path) -> None:
    """Keys from `minisign -G -W` load in ours and sign files `minisign -Vm` accepts."""
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    result = run(minisign_bin, "-G", "-W", "-p", pub, "-s", key)
    assert result.returncode == 0, result.stderr
    public_key = PublicKey.load(pub)
    secret_key = SecretKey.load(key, None)
    assert secret_key.public_key() == public_key
    # minisign 0.11 prints the key id with %PRIX64 (a leading zero is dropped, 1 key in 16),
    # 0.12 with %016PRIX64 as we do: compare the number, and the file with its own comment.
    comment = pub.read_text().splitlines()[0].removeprefix("untrusted comment: ")
    assert int(comment.rsplit(" ", 1)[1], 16) == int(public_key.key_id_hex, 16)
    assert public_key.to_text(comment) == pub.read_text()
    message, data = write_message(tmp_path)
    sig = sign(data, secret_key, file_name=message)
    sig.save(tmp_path / "plugin.so.minisig")
    for extra in ([], ["-H"]):
        result = run(minisign_bin, *extra, "-Vm", message, "-p", pub)
        assert result.returncode == 0, result.stderr
        assert f"Trusted comment: {sig.trusted_comment}" in result.stdout


def test_minisign_signatures_verify_in_ours(minisign_bin: str, tmp_path: Path) -> None:
    """`minisign -S -t` signatures verify in ours and match ours byte for byte."""
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    assert run(minisign_bin, "-G", "-W", "-p", pub, "-s", key).returncode == 0
    message, data = write_message(tmp_path)
    trusted = "timestamp:1700000000\tfile:plugin.so\tmidimon: ünïcode ok"
    result = run(minisign_bin, "-S", "-s", key, "-m", message, "-t", trusted, "-c", "from test")
    assert result.returncode == 0, result.stderr
    sig_path = tmp_path / "plugin.so.minisig"
    sig = Signature.load(sig_path)
    assert (sig.algorithm, sig.trusted_comment, sig.untrusted_comment) == (
        "ED",
        trusted,
        "from test",
    )
    public_key = PublicKey.load(pub)
    verify(data, sig, public_key)
    ours = sign(data, SecretKey.load(key, None), trusted, "from test")
    assert ours.to_text() == sig_path.read_text()  # Ed25519 is deterministic
    with pytest.raises(BadSignature):
        verify(data[:-1], sig, public_key)
    # Default trusted comment: minisign 0.11 writes timestamp, file and "hashed".
    assert run(minisign_bin, "-S", "-s", key, "-m", message).returncode == 0
    fields = Signature.load(sig_path).trusted_fields
    assert fields["file"] == "plugin.so" and fields["timestamp"].isdigit()


def test_minisign_legacy_signatures(minisign_bin: str, tmp_path: Path) -> None:
    """Legacy signatures interoperate: refused by default here and under `minisign -H`."""
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    assert run(minisign_bin, "-G", "-W", "-p", pub, "-s", key).returncode == 0
    message, data = write_message(tmp_path)
    assert run(minisign_bin, "-S", "-l", "-s", key, "-m", message).returncode == 0
    sig = Signature.load(tmp_path / "plugin.so.minisig")
    assert sig.algorithm == "Ed"
    with pytest.raises(LegacySignatureRefused):
        verify(data, sig, PublicKey.load(pub))
    verify(data, sig, PublicKey.load(pub), allow_legacy=True)
    sign(data, SecretKey.load(key, None), prehash=False).save(tmp_path / "ours.minisig")
    result = run(minisign_bin, "-Vm", message, "-p", pub, "-x", tmp_path / "ours.minisig")
    assert result.returncode == 0, result.stderr
    result = run(minisign_bin, "-H", "-Vm", message, "-p", pub, "-x", tmp_path / "ours.minisig")
    assert result.returncode != 0
    assert "Legacy" in result.stderr


@pytest.mark.slow
def test_minisign_password_key_works_in_ours(minisign_bin: str, tmp_path: Path) -> None:
    """A `minisign -G` password key (full-strength scrypt) decrypts in ours and signs."""
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    result = run(minisign_bin, "-G", "-p", pub, "-s", key, stdin=b"s3cret pw\ns3cret pw\n")
    assert result.returncode == 0, result.stderr
    assert sk_blob(key.read_text())[2:4] == b"Sc"
    secret_key = SecretKey.load(key, b"s3cret pw")
    assert secret_key.public_key() == PublicKey.load(pub)
    message, data = write_message(tmp_path)
    sign(data, secret_key, file_name=message).save(tmp_path / "plugin.so.minisig")
    result = run(minisign_bin, "-Vm", message, "-p", pub)
    assert result.returncode == 0, result.stderr


def test_our_unencrypted_keys_work_in_minisign(minisign_bin: str, tmp_path: Path) -> None:
    """Our keys without password sign with `minisign -S`; both sides verify."""
    public_key, secret_key = generate_keypair()
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    public_key.save(pub)
    secret_key.save(key, None)
    message, data = write_message(tmp_path)
    # With -p, minisign also checks that the public key verifies what it signed.
    result = run(minisign_bin, "-S", "-s", key, "-p", pub, "-m", message, "-t", "t")
    assert result.returncode == 0, result.stderr
    verify(data, Signature.load(tmp_path / "plugin.so.minisig"), public_key)
    assert run(minisign_bin, "-Vm", message, "-p", pub).returncode == 0
    result = run(minisign_bin, "-R", "-s", key, "-p", tmp_path / "again.pub")
    assert result.returncode == 0, result.stderr
    # Compare the key, not the untrusted comment: minisign 0.11's -R prints the key id
    # without leading zeros there (-G pads it to 16 digits), and the comment is unsigned.
    again = (tmp_path / "again.pub").read_text().splitlines()
    assert again[1] == pub.read_text().splitlines()[1]


@pytest.mark.parametrize(
    "limits",
    [FAST, {"opslimit": 32768, "memlimit": 2**24}],
    ids=["interactive", "opslimit-bound"],
)
def test_our_password_keys_work_in_minisign(
    minisign_bin: str, tmp_path: Path, limits: dict[str, int]
) -> None:
    """Our password keys open in `minisign -S` (password on stdin); wrong ones fail there."""
    public_key, secret_key = generate_keypair()
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    public_key.save(pub)
    secret_key.save(key, PASSWORD, **limits)
    message, data = write_message(tmp_path)
    result = run(minisign_bin, "-S", "-s", key, "-m", message, stdin=b"wrong\n")
    assert result.returncode != 0
    assert "Wrong password" in result.stderr
    result = run(minisign_bin, "-S", "-s", key, "-p", pub, "-m", message, stdin=PASSWORD + b"\n")
    assert result.returncode == 0, result.stderr
    verify(data, Signature.load(tmp_path / "plugin.so.minisig"), public_key)


def test_minisign_accepts_our_signature_files(minisign_bin: str, tmp_path: Path) -> None:
    """`minisign -Vm` accepts our signatures, up to the longest comments it reads back."""
    pub = tmp_path / "k.pub"
    PK.save(pub)
    message, data = write_message(tmp_path)
    trusted = "t" * ms.TRUSTED_COMMENT_MAX_BYTES
    untrusted = "u" * ms.UNTRUSTED_COMMENT_MAX_BYTES
    sign(data, SK, trusted, untrusted).save(tmp_path / "plugin.so.minisig")
    result = run(minisign_bin, "-Vm", message, "-p", pub, "-Q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == trusted + "\n"
    # One byte more is refused by us and by minisign -S (which, writing the line through a
    # 4096-byte buffer, already stops at 4077 bytes, though its -V reads up to 8173).
    with pytest.raises(ArgumentError):
        sign(data, SK, trusted + "t")
    key = tmp_path / "k.key"
    SK.save(key, None)
    result = run(minisign_bin, "-S", "-s", key, "-m", message, "-t", trusted + "t")
    assert result.returncode != 0


def test_minisign_rejects_what_we_reject(minisign_bin: str, tmp_path: Path) -> None:
    """A tampered trusted comment fails in both implementations, for the same reason."""
    pub = tmp_path / "k.pub"
    PK.save(pub)
    message, data = write_message(tmp_path)
    text = sign(data, SK, "file:plugin.so").to_text().replace("plugin.so", "plugin.sx")
    (tmp_path / "plugin.so.minisig").write_text(text)
    result = run(minisign_bin, "-Vm", message, "-p", pub)
    assert result.returncode != 0
    assert "Comment signature verification failed" in result.stderr
    with pytest.raises(BadSignature) as info:
        verify(data, Signature.load(tmp_path / "plugin.so.minisig"), PK)
    assert info.value.part == "global"
