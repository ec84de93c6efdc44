"""Signer continuity inside the integrity check: the copy's signer must be the name's pinned
signer, or reached from it by the old key's rotation statements (see pins.py, rotation.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import MinisignError, RotationError, TrustStoreError
from midimon.plugins.integrity.minisign_keys import PublicKey
from midimon.plugins.integrity.pins import BUNDLED, Pin, PinStore, repin_command
from midimon.plugins.integrity.rotation import find_chain
from midimon.plugins.integrity.trust import TrustStore
from midimon.plugins.settings import SignaturePolicy

if TYPE_CHECKING:
    from midimon.plugins.integrity.verify import IntegrityReport


def check_signer(
    report: IntegrityReport,
    manifest: PluginManifest,
    policy: SignaturePolicy,
    pins: PinStore,
    trust_store: TrustStore,
) -> None:
    """Signer continuity: the name's pinned signer must have signed this copy."""
    try:
        pin = pins.get(manifest.name)
    except OSError as exc:
        report.fail("signer_pins", str(exc))
        return
    signer = report.signer_id
    if pin is None:
        if signer is not None and signer != BUNDLED:
            public = _public_key(trust_store, signer)
            report.pin_update = Pin(manifest.name, signer, "first use", public)
            report.notes.append(
                f"first signer of {manifest.name}: pinned to {signer} once it loads"
            )
        return
    report.pinned = pin.signer
    if signer == pin.signer:
        report.notes.append(f"signed by the name's pinned signer {signer} ({pin.how})")
        return
    if signer is None and (policy.dev_mode or report.sha256 in policy.allowed_unsigned):
        report.notes.append(
            f"{manifest.name} is pinned to {pin.signer}; this unsigned copy is allowed by "
            "dev_mode or allowed_unsigned"
        )
        return
    if signer not in (None, BUNDLED) and pin.signer != BUNDLED:
        if _rotated(report, manifest, pin, signer, trust_store):
            return
        if report.failures:
            return
    this = "unsigned" if signer is None else f"signed by {_signer_text(signer)}"
    fix = (
        f"to hand {manifest.name} to that signer on purpose: {repin_command(manifest.name, signer)}"
        if signer is not None
        else f"sign it with the pinned key, or allow this exact binary: "
        f'allowed_unsigned = ["{report.sha256}"]'
    )
    report.fail(
        "signer_changed",
        f"{manifest.name} belongs to {_signer_text(pin.signer)} (pinned: {pin.how}), but "
        f"this copy is {this}: a plugin name does not change hands silently",
        fix,
    )


def _public_key(trust_store: TrustStore, key_id: str) -> str | None:
    try:
        trusted = trust_store.get(key_id)
    except TrustStoreError:
        return None
    return trusted.key.to_base64() if trusted is not None else None


def _rotated(
    report: IntegrityReport,
    manifest: PluginManifest,
    pin: Pin,
    signer: str,
    trust_store: TrustStore,
) -> bool:
    """Whether rotation statements in the plugin's folder hand the name from the pinned
    key to ``signer``. An invalid statement fails the report."""
    old_text = pin.public_key or _public_key(trust_store, pin.signer)
    if old_text is None:
        return False
    try:
        old_key = PublicKey.from_base64(old_text)
        chain = find_chain(manifest.directory, manifest.name, old_key, signer)
    except (MinisignError, RotationError) as exc:
        report.fail("rotation", f"key rotation statement refused: {exc}", "ask the author")
        return False
    if not chain:
        return False
    steps = " -> ".join([chain[0].old, *(r.new for r in chain)])
    report.notes.append(
        f"signer rotated {steps} by the old key's statement{'s' if len(chain) > 1 else ''} "
        + ", ".join(r.file.name for r in chain)
    )
    report.pin_update = Pin(manifest.name, signer, "rotation", chain[-1].new_key.to_base64())
    return True


def _signer_text(signer: str) -> str:
    return "this midimon installation (bundled)" if signer == BUNDLED else f"key {signer}"
