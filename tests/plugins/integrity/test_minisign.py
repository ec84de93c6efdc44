"""midimon.plugins.integrity.minisign: sign and verify with real crypto, refusals, bit flips, and
interop with the minisign binary."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from minisign_samples import (
    FAST,
    LEGACY_SIG,
    MESSAGE,
    OTHER_PK,
    PASSWORD,
    PK,
    SIG,
    SK,
    sig_fields,
    sig_from_fields,
    sk_blob,
)

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
    KeyIdMismatch,
    LegacySignatureRefused,
    MinisignError,
    blake2b_prehash,
)
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey, generate_keypair

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
