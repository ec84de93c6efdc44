"""The minisign file format: the prehash, scrypt parameters, errors that name file and line,
canonical base64, comment limits, and parsers that raise only MinisignError."""

from __future__ import annotations

import base64
import contextlib
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from minisign_samples import (
    LEGACY_SIG,
    MESSAGE,
    OTHER_PK,
    PK,
    SIG,
    SK,
    SK_ENCRYPTED_TEXT,
    SK_PLAIN_TEXT,
    TRUSTED,
    sk_blob,
    sk_text,
)

from midimon.plugins.integrity import minisign_format as ms
from midimon.plugins.integrity.minisign import (
    Signature,
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
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey


def test_prehash_is_blake2b_512() -> None:
    """An ED signature is a plain Ed25519 signature of BLAKE2b-512 of the data."""
    legacy_over_hash = sign(blake2b_prehash(MESSAGE), SK, trusted_comment=TRUSTED, prehash=False)
    assert legacy_over_hash.signature == SIG.signature
    assert len(blake2b_prehash(b"")) == 64


def test_scrypt_parameters_match_libsodium() -> None:
    """opslimit/memlimit map to N, r, p as libsodium's pickparams() does."""
    assert scrypt_parameters(ms.OPSLIMIT_SENSITIVE, ms.MEMLIMIT_SENSITIVE) == (2**20, 8, 1)
    assert scrypt_parameters(ms.OPSLIMIT_INTERACTIVE, ms.MEMLIMIT_INTERACTIVE) == (2**14, 8, 1)
    assert scrypt_parameters(32768, 2**24) == (1024, 8, 1)
    assert scrypt_parameters(0, 0) == (2, 8, 512)
    assert scrypt_parameters(2**26, 2**30) == (2**20, 8, 2)


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
