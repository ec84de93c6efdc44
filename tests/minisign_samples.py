"""Sample minisign material for the minisign tests: two key pairs, a message, its signatures
(prehashed and legacy), the secret key as text with and without a password, and helpers that
take signature and key files apart and put them back together."""

from __future__ import annotations

import base64

from midimon.plugins.integrity import minisign_format as ms
from midimon.plugins.integrity.minisign import Signature, sign
from midimon.plugins.integrity.minisign_keys import generate_keypair

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
