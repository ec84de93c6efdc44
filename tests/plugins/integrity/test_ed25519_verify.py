"""midimon.plugins.integrity.ed25519_verify: the libcrypto backend against ``cryptography``,
on real keys and signatures: both accept the same and refuse the same (bit flips, wrong keys,
non-canonical scalars, keys that are not points, wrong lengths), and a daemon-like process
verifies a minisign signature without importing ``cryptography``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from midimon.plugins.errors import ArgumentError
from midimon.plugins.integrity import ed25519_verify

BACKENDS = ("libcrypto", "cryptography")
#: The order of Ed25519's group (RFC 8032): a signature whose scalar S is >= L is malleable
#: and must be refused.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


def test_the_mapped_libcrypto_is_used_here() -> None:
    # CPython on Linux links hashlib to OpenSSL: the daemon's checks must take that path.
    assert ed25519_verify.mapped_libcrypto() is not None
    assert ed25519_verify.backend_name() == "libcrypto"


def test_mapped_libcrypto_reads_the_maps_line() -> None:
    maps = (
        "7f0000000000-7f0000001000 r--p 00000000 fd:01 42 /usr/lib/libssl.so.3\n"
        "7f0000002000-7f0000003000 r-xp 00000000 fd:01 43 /opt/py/lib/libcrypto.so.3\n"
    )
    assert ed25519_verify.mapped_libcrypto(maps) == "/opt/py/lib/libcrypto.so.3"
    assert ed25519_verify.mapped_libcrypto("7f00-7f01 rw-p 00000000 00:00 0 [heap]\n") is None


@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=8 * 96 - 1))
def test_backends_agree_on_real_and_altered_signatures(message: bytes, flip: int) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    signature = key.sign(message)
    for backend in BACKENDS:
        assert ed25519_verify.verify(public, signature, message, backend=backend)
    # One bit flipped anywhere in the signature or the key: refused by both.
    blob = bytearray(signature + public)
    blob[flip // 8] ^= 1 << (flip % 8)
    altered_sig, altered_key = bytes(blob[:64]), bytes(blob[64:])
    results = {
        backend: ed25519_verify.verify(altered_key, altered_sig, message, backend=backend)
        for backend in BACKENDS
    }
    assert results == {"libcrypto": False, "cryptography": False}


@pytest.mark.parametrize("backend", BACKENDS)
def test_altered_message_and_wrong_key_are_refused(backend: str) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signature = key.sign(b"note on 36")
    public = key.public_key().public_bytes_raw()
    assert not ed25519_verify.verify(public, signature, b"note on 37", backend=backend)
    wrong = other.public_key().public_bytes_raw()
    assert not ed25519_verify.verify(wrong, signature, b"note on 36", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_canonical_scalar_is_refused(backend: str) -> None:
    # S + L verifies in a lax implementation (same point); RFC 8032 and OpenSSL refuse it.
    key = Ed25519PrivateKey.generate()
    signature = key.sign(b"pad")
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    malleated = signature[:32] + s.to_bytes(32, "little")
    public = key.public_key().public_bytes_raw()
    assert not ed25519_verify.verify(public, malleated, b"pad", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (b"\x00" * 31, b"\x00" * 64),  # short key
        (b"\x01" + b"\x00" * 31, b"\x00" * 63),  # short signature
        (b"\xff" * 32, b"\x00" * 64),  # not a point on the curve
        (b"\x01" + b"\x00" * 31, b"\x00" * 64),  # the identity: a small-order key
    ],
)
def test_malformed_input_is_refused_without_error(
    backend: str, public: bytes, signature: bytes
) -> None:
    assert ed25519_verify.verify(public, signature, b"", backend=backend) is False


def test_unknown_backend_is_an_argument_error() -> None:
    with pytest.raises(ArgumentError, match="unknown Ed25519 backend 'sodium'"):
        ed25519_verify.verify(b"\x00" * 32, b"\x00" * 64, b"", backend="sodium")


def test_a_daemon_checks_a_minisign_signature_without_cryptography(tmp_path: Path) -> None:
    # The reason for this module: verifying must not load cryptography's ~7 MiB Rust module.
    from midimon.plugins.integrity.minisign import sign
    from midimon.plugins.integrity.minisign_keys import generate_keypair

    public, secret = generate_keypair()
    data = os.urandom(4096)
    (tmp_path / "data").write_bytes(data)
    (tmp_path / "data.minisig").write_text(sign(data, secret).to_text())
    (tmp_path / "key.pub").write_text(public.to_text())
    script = f"""
import sys
from pathlib import Path
from pathlib import Path
from midimon.plugins.integrity.minisign import Signature, verify
from midimon.plugins.integrity.minisign_keys import PublicKey
tmp = Path({str(tmp_path)!r})
key = PublicKey.load(tmp / "key.pub")
verify((tmp / "data").read_bytes(), Signature.load(tmp / "data.minisig"), key)
print(sorted(m for m in sys.modules if m.startswith("cryptography")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
