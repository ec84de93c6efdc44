"""Integrity: is this exact binary (and its manifest) what a trusted signer published?

One check, used by ``midimon verify`` and by every load: the binary's minisign signature
(``<binary>.minisig``) against the trust store, the trusted comment's fields against the
manifest and the bytes, the manifest's own coverage, signer continuity (the name's pinned
signer, see pins.py and continuity.py), anti-rollback, and the signature policy for unsigned
plugins. Plugins bundled with midimon are checked against the package's RECORD.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from midimon.paths import bundled_plugins_dir, state_dir
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import MANIFEST_NAME, PluginManifest
from midimon.plugins.errors import (
    BadSignature,
    IntegrityError,
    KeyIdMismatch,
    LegacySignatureRefused,
    MinisignError,
    RollbackRefused,
    TrustStoreError,
)
from midimon.plugins.hazmat import load_image  # the safe path: called after the check
from midimon.plugins.integrity.continuity import check_signer
from midimon.plugins.integrity.minisign import Signature, verify
from midimon.plugins.integrity.pins import BUNDLED, Pin, PinStore
from midimon.plugins.integrity.rollback import Accepted, RollbackStore
from midimon.plugins.integrity.trust import TrustStore
from midimon.plugins.loading.image import (
    ImageBytes,
    ImageDigests,
    keep_sealed,
    read_manifest_binary,
)
from midimon.plugins.loading.loader import HostServices, NativePlugin, read_binary
from midimon.plugins.settings import SignaturePolicy

SIGNATURE_SUFFIX = ".minisig"


def signature_path(file: Path) -> Path:
    """Where the signature of ``file`` lives: ``<file>.minisig`` beside it."""
    return file.with_name(file.name + SIGNATURE_SUFFIX)


@dataclass(frozen=True)
class Failure:
    """One reason a plugin is refused, and what to do about it."""

    code: str  # unsigned, bad_signature, untrusted_key, out_of_scope, signer_changed, ...
    message: str
    fix: str = ""


@dataclass
class IntegrityReport:
    """The result of checking one plugin's bytes. ``trust`` says why it is (or isn't) accepted.

    trust: ``signed`` (a trusted key signed it), ``bundled`` (shipped in this midimon install,
    hashes match the package RECORD), ``unsigned-allowed`` (policy lets it in), or ``refused``.
    """

    plugin: str
    version: str
    binary: Path
    sha256: str
    manifest_sha256: str
    trust: str = "refused"
    signature: dict[str, Any] | None = None
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    accepted: Accepted | None = None
    signer_id: str | None = None  # who signed this copy: a key id, "bundled", or None (unsigned)
    pinned: str | None = None  # the signer the name belongs to, when it is pinned
    pin_update: Pin | None = None  # the pin to record when this copy is accepted

    @property
    def ok(self) -> bool:
        """Whether the plugin may load."""
        return not self.failures and self.trust != "refused"

    def fail(self, code: str, message: str, fix: str = "") -> IntegrityReport:
        """Record a failure and return self."""
        self.failures.append(Failure(code, message, fix))
        self.trust = "refused"
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        data = dataclasses.asdict(self)
        data["binary"] = str(self.binary)
        data["ok"] = self.ok
        data["accepted"] = dataclasses.asdict(self.accepted) if self.accepted else None
        return data


@cache
def _bundled_record() -> dict[str, str]:
    """Relative path -> SHA-256 hex of each file the installed package's RECORD lists."""
    from importlib import metadata  # slow to import; only bundled plugins need it

    try:
        files = metadata.files("midimon") or []
    except metadata.PackageNotFoundError:
        return {}
    record = {}
    for entry in files:
        if entry.hash is not None and entry.hash.mode == "sha256":
            padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
            digest = base64.urlsafe_b64decode(padded).hex()
            record[str(Path(entry.locate()).resolve())] = digest
    return record


def _bundled_status(manifest: PluginManifest, sha256: str) -> str | None:
    """None if not a bundled plugin; else "ok" or what differs from the package RECORD."""
    bundled = bundled_plugins_dir().resolve()
    if not manifest.directory.resolve().is_relative_to(bundled):
        return None
    record = _bundled_record()
    assert manifest.binary is not None
    expected = {
        manifest.binary.resolve(): sha256,
        manifest.path.resolve(): manifest.manifest_sha256,
    }
    for path, digest in expected.items():
        if record.get(str(path)) is None:
            return f"{path.name} is not in the midimon package's RECORD"
        if record[str(path)] != digest:
            return f"{path.name} was modified after midimon was installed"
    return "ok"


class IntegrityChecker:
    """Checks plugins against a trust store, a policy and the anti-rollback records."""

    def __init__(
        self,
        trust_store: TrustStore,
        rollback: RollbackStore | None = None,
        pins: PinStore | None = None,
    ) -> None:
        self.trust_store = trust_store
        self.rollback = rollback
        self.pins = pins

    @classmethod
    def for_user(cls) -> IntegrityChecker:
        """The checker over the user's trust store and anti-rollback records."""
        from midimon.paths import config_dir

        return cls(
            TrustStore(config_dir() / "trusted_keys"),
            RollbackStore(rollback_path()),
            PinStore.for_user(),
        )

    def check(
        self,
        manifest: PluginManifest,
        data: bytes,
        policy: SignaturePolicy,
        digests: ImageDigests | None = None,
    ) -> IntegrityReport:
        """Check ``data`` (the binary's bytes, read once) and ``manifest`` under ``policy``.

        ``data`` may be any bytes-like object. ``digests``, when given, are the digests of
        these same bytes (image.read_sealed computes them while reading), so nothing is hashed
        twice; otherwise they are computed here.
        """
        assert manifest.binary is not None
        sha256 = digests.sha256 if digests is not None else hashlib.sha256(data).hexdigest()
        report = IntegrityReport(
            plugin=manifest.name,
            version=manifest.version,
            binary=manifest.binary,
            sha256=sha256,
            manifest_sha256=manifest.manifest_sha256,
        )
        if manifest.sha256 is not None and manifest.sha256 != sha256:
            return report.fail(
                "modified",
                f"the binary hashes to {sha256} but plugin.toml pins {manifest.sha256}",
                "rebuild the plugin or fix plugin.sha256",
            )
        sig_path = signature_path(manifest.binary)
        try:
            sig_bytes = sig_path.read_bytes()
        except FileNotFoundError:
            sig_bytes = None
        except OSError as exc:
            return report.fail("unreadable", f"{sig_path}: {exc.strerror or exc}")
        if sig_bytes is not None:
            prehash = digests.blake2b512 if digests is not None else None
            self._check_signed(report, manifest, data, sig_path, sig_bytes, policy, prehash)
        else:
            self._check_unsigned(report, manifest, sha256, policy)
        if not report.failures and self.pins is not None:
            check_signer(report, manifest, policy, self.pins, self.trust_store)
        if report.failures or self.rollback is None:
            return report
        timestamp = _timestamp(report.signature)
        report.accepted = Accepted(manifest.version, timestamp, report.signer_id)
        if policy.allow_downgrade:
            return report
        try:
            self.rollback.check(manifest.name, report.accepted)
        except RollbackRefused as exc:
            report.fail(
                "rollback",
                str(exc),
                f"to accept the older one, set allow_downgrade = true under "
                f"[plugins.overrides.{manifest.name}] in config.toml",
            )
        except (OSError, ValueError) as exc:
            report.fail("rollback", f"anti-rollback check failed: {exc}")
        return report

    def check_binary(
        self, manifest: PluginManifest, policy: SignaturePolicy
    ) -> tuple[IntegrityReport, ImageBytes]:
        """Read ``manifest``'s binary once and check it: (report, the bytes to load).

        The read is image.read_manifest_binary's (the kernel copies the file into a sealed
        memfd while SHA-256 and BLAKE2b follow the copy), so nothing is read or hashed twice;
        the bytes are the view of that memfd (image.keep_sealed), whose runners get duplicates
        of it rather than copies, or ``b""`` when the report refuses the plugin. Raises the
        loader's LoadError when the binary cannot be read or differs from its pinned SHA-256.
        """
        with read_manifest_binary(manifest) as image:
            report = self.check(manifest, image.data, policy, image.digests)
            return report, (keep_sealed(image) if report.ok else b"")

    def record_accepted(self, report: IntegrityReport) -> None:
        """Remember an accepted plugin's version for anti-rollback, and pin its name to its
        signer on first use or rotation (on load and install, not on verify)."""
        if not report.ok:
            return
        if self.pins is not None and report.pin_update is not None:
            self.pins.set(report.pin_update)
            report.pinned, report.pin_update = report.pin_update.signer, None
        if self.rollback is not None and report.accepted is not None:
            self.rollback.record(report.plugin, report.accepted)

    def _check_unsigned(
        self,
        report: IntegrityReport,
        manifest: PluginManifest,
        sha256: str,
        policy: SignaturePolicy,
    ) -> None:
        bundled = _bundled_status(manifest, sha256)
        if bundled == "ok":
            report.trust = "bundled"
            report.signer_id = BUNDLED
            report.notes.append("bundled with midimon; hashes match the installed package RECORD")
            return
        if bundled is not None:
            report.fail(
                "modified",
                f"bundled plugin changed since install: {bundled}",
                "reinstall midimon",
            )
            return
        if policy.allows_unsigned(sha256):
            why = (
                "dev mode"
                if policy.dev_mode
                else "its SHA-256 in allowed_unsigned"
                if sha256 in policy.allowed_unsigned
                else "require_signatures = false"
            )
            report.trust = "unsigned-allowed"
            report.notes.append(f"unsigned, allowed because of {why}")
            return
        report.fail(
            "unsigned",
            f"no signature: {signature_path(report.binary)} does not exist",
            "sign it (midimon sign PLUGIN_DIR -s KEY), or allow it unsigned "
            f'(--allow-unsigned, dev_mode, or allowed_unsigned = ["{sha256}"])',
        )

    def _check_signed(
        self,
        report: IntegrityReport,
        manifest: PluginManifest,
        data: bytes,
        sig_path: Path,
        sig_bytes: bytes,
        policy: SignaturePolicy,
        prehash: bytes | None = None,
    ) -> None:
        try:
            signature = Signature.parse(sig_bytes, source=str(sig_path))
        except MinisignError as exc:
            report.fail("bad_signature", str(exc), "re-sign the plugin")
            return
        fields = signature.trusted_fields
        report.signature = {
            "file": str(sig_path),
            "algorithm": signature.algorithm,
            "key_id": signature.key_id_hex,
            "signer": None,
            "trusted_comment": signature.trusted_comment,
            "timestamp": fields.get("timestamp"),
        }
        try:
            trusted = self.trust_store.get(signature.key_id_hex)
        except TrustStoreError as exc:
            report.fail("trust_store", str(exc))
            return
        if trusted is None:
            report.fail(
                "untrusted_key",
                f"signed by key {signature.key_id_hex}, which is not in the trust store",
                "if you trust its author for this plugin: midimon trust add THEIR_KEY.pub "
                f"--plugins {manifest.name}",
            )
            return
        report.signature["signer"] = trusted.name or None
        if not trusted.allows(manifest.name):
            scope = ", ".join(trusted.plugins)
            report.fail(
                "out_of_scope",
                f"key {trusted.key_id} ({trusted.name or 'unnamed'}) may only sign plugins "
                f"matching {scope}, not {manifest.name!r}",
                "widen the key's scope with midimon trust add KEY.pub --plugins ...",
            )
            return
        try:
            verify(
                data,
                signature,
                trusted.key,
                allow_legacy=policy.allow_legacy_signatures,
                prehash=prehash,
            )
        except LegacySignatureRefused:
            report.fail(
                "legacy",
                "legacy (non-prehashed 'Ed') signature refused by policy",
                "re-sign without -l, or set allow_legacy_signatures = true",
            )
            return
        except (BadSignature, KeyIdMismatch) as exc:
            report.fail(
                "bad_signature",
                f"{exc} (the binary or its signature was modified)",
                "get an unmodified copy from the author",
            )
            return
        self._check_fields(report, manifest, fields)
        if not report.failures and "manifest_sha256" not in fields:
            self._check_manifest_signature(report, manifest, trusted.key, policy)
        if not report.failures:
            report.trust = "signed"
            report.signer_id = trusted.key_id

    def _check_fields(
        self, report: IntegrityReport, manifest: PluginManifest, fields: dict[str, str]
    ) -> None:
        assert manifest.binary is not None
        expected = {
            "file": manifest.binary.name,
            "name": manifest.name,
            "version": manifest.version,
            "sha256": report.sha256,
            "manifest_sha256": report.manifest_sha256,
        }
        for key, value in expected.items():
            if key in fields and fields[key] != value:
                what = {"file": "file name", "manifest_sha256": "manifest SHA-256"}.get(key, key)
                report.fail(
                    "mismatch",
                    f"trusted comment {key} is {fields[key]!r} but the plugin's {what} is "
                    f"{value!r}: this signature belongs to something else",
                    "use the plugin.toml and binary the author signed together",
                )
        if "timestamp" in fields and not fields["timestamp"].isdigit():
            report.fail("mismatch", f"trusted comment timestamp {fields['timestamp']!r} is invalid")

    def _check_manifest_signature(
        self,
        report: IntegrityReport,
        manifest: PluginManifest,
        key: Any,
        policy: SignaturePolicy,
    ) -> None:
        """Without manifest_sha256 in the binary's comment, plugin.toml needs its own signature."""
        sig_path = signature_path(manifest.path)
        try:
            signature = Signature.parse(sig_path.read_bytes(), source=str(sig_path))
            verify(manifest.raw, signature, key, allow_legacy=policy.allow_legacy_signatures)
        except FileNotFoundError:
            report.fail(
                "manifest_unsigned",
                "plugin.toml is not covered: the binary's trusted comment has no manifest_sha256 "
                f"and {sig_path.name} does not exist",
                "sign with midimon sign (binds both), or minisign -S plugin.toml with the same key",
            )
            return
        except (MinisignError, OSError) as exc:
            report.fail("manifest_signature", f"plugin.toml signature: {exc}")
            return
        file_field = signature.trusted_fields.get("file")
        if file_field is not None and file_field != MANIFEST_NAME:
            report.fail("mismatch", f"{sig_path.name} signs {file_field!r}, not {MANIFEST_NAME}")
        report.notes.append(f"plugin.toml covered by its own signature {sig_path.name}")


def _timestamp(signature: dict[str, Any] | None) -> int | None:
    if not signature or not signature.get("timestamp"):
        return None
    text = signature["timestamp"]
    return int(text) if text.isdigit() else None


def rollback_path() -> Path:
    """The anti-rollback records file in the state dir."""
    return state_dir() / "rollback.json"


def load_verified(
    manifest: PluginManifest,
    policy: SignaturePolicy,
    checker: IntegrityChecker,
    host: HostServices | None = None,
    *,
    granted: frozenset[Capability] | None = None,
) -> NativePlugin:
    """The safe way to load a plugin: read the binary once, check those bytes, load them.

    Raises IntegrityError (with the full report) when the check refuses the plugin, or another
    LoadError when the binary itself cannot be loaded. On success the accepted version is
    recorded for anti-rollback and the report is kept on ``plugin.integrity``.
    """
    data, _ = read_binary(manifest)
    report = checker.check(manifest, data, policy)
    if not report.ok:
        raise IntegrityError(report)
    plugin = load_image(manifest, data, report.sha256, host, granted=granted)
    checker.record_accepted(report)
    plugin.integrity = report
    return plugin
