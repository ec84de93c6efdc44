"""Signing a plugin folder the way ``midimon sign`` does: the binary and its plugin.toml.

The binary's trusted comment carries ``timestamp``, ``file``, ``name``, ``version``,
``sha256`` and ``manifest_sha256`` (the integrity check enforces them), then the signer's own
text; plugin.toml gets a signature of its own. Used by the CLI, and by the tests and
benchmarks that need a plugin signed exactly as users sign theirs.
"""

from __future__ import annotations

import hashlib
import time

from midimon.plugins.description.manifest import MANIFEST_NAME, PluginManifest
from midimon.plugins.integrity.minisign import Signature, sign
from midimon.plugins.integrity.minisign_keys import SecretKey
from midimon.plugins.integrity.verify import signature_path


def sign_plugin(
    manifest: PluginManifest, binary: bytes, secret: SecretKey, comment: str | None = None
) -> tuple[Signature, Signature]:
    """Sign ``binary`` (the manifest's binary, already read) and the manifest; write both
    ``.minisig`` files next to them; return (binary signature, manifest signature).

    Raises MinisignError when signing fails (e.g. an encrypted key that was not unlocked).
    """
    assert manifest.binary is not None, "a manifest without a binary cannot be signed"
    now = int(time.time())
    fields = [
        f"timestamp:{now}",
        f"file:{manifest.binary.name}",
        f"name:{manifest.name}",
        f"version:{manifest.version}",
        f"sha256:{hashlib.sha256(binary).hexdigest()}",
        f"manifest_sha256:{manifest.manifest_sha256}",
        "hashed",
    ]
    if comment:
        fields.append(comment)
    manifest_fields = [
        f"timestamp:{now}",
        f"file:{MANIFEST_NAME}",
        f"name:{manifest.name}",
        f"version:{manifest.version}",
        f"sha256:{manifest.manifest_sha256}",
        "hashed",
    ]
    binary_sig = sign(binary, secret, "\t".join(fields))
    manifest_sig = sign(manifest.raw, secret, "\t".join(manifest_fields))
    binary_sig.save(signature_path(manifest.binary))
    manifest_sig.save(signature_path(manifest.path))
    return binary_sig, manifest_sig
