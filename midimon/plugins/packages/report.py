"""The verification report of a plugin folder or package, as ``midimon verify`` prints it and
the daemon's PLUGIN_VERIFY_PACKAGE returns it: manifest, binary, SHA-256, dependencies,
signature and signer trust, anti-rollback, ABI (the plugin is loaded in a sandboxed worker
only when its integrity check passed). Nothing is installed.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midimon.plugins.description.capabilities import Capability, sorted_caps
from midimon.plugins.description.manifest import MANIFEST_NAME, PluginManifest, load_manifest
from midimon.plugins.errors import LoadError, ManifestError, NoManifest
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.image import SealedImage, read_manifest_binary
from midimon.plugins.settings import PluginSettings

if TYPE_CHECKING:
    from midimon.plugins.integrity.verify import IntegrityReport
    from midimon.plugins.sandbox.probe import ProbeResult

# The modules that check signatures (cryptography), load plugins (the worker protocol, cffi)
# and read dependencies are imported by _prepare(), while the binary is read and hashed in
# other threads: most of their import time then costs no wall time.

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifySettings:
    """``run``: the settings to check with (the CLI's --allow-unsigned applied); ``config``:
    the config's own (to say when only a one-off option accepted an unsigned binary);
    ``audit_source``: the ``source`` of the audit log's verify event."""

    run: PluginSettings
    config: PluginSettings
    audit_source: str = "midimon verify"


def verify_report(
    manifest_path: Path, named_binary: Path | None, settings: VerifySettings, shown_path: str
) -> dict[str, Any]:
    """The whole report for the plugin whose plugin.toml is ``manifest_path`` (and, when the
    user named a binary, that it is the manifest's). ``report["verdict"]`` is "ok" or
    "failed"; ``ok`` and ``reason`` (the first failed check) say the same for programs.
    Raises NoManifest when there is no plugin.toml there."""
    report: dict[str, Any] = {
        "path": shown_path,
        "manifest": str(manifest_path),
        "plugin": None,
        "sha256": None,
        "trust": None,
        "signature": None,
        "reported": None,
        "dependencies": None,
    }
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        if exc.field is None and "not found" in exc.message:
            raise NoManifest(str(manifest_path)) from None
        where = f"the {exc.field} entry of " if exc.field else ""
        fix = f"correct {where}{manifest_path} (see docs/writing-a-plugin.md), then verify again"
        checks = [_check("manifest", False, str(exc), fix)]
    else:
        report.update(
            plugin=manifest.name,
            version=manifest.version,
            binary=str(manifest.binary) if manifest.binary else None,
            abi=manifest.abi_text,
            capabilities=[
                {"name": c.value, "risk": c.risk.value} for c in sorted_caps(manifest.capabilities)
            ],
            type=manifest.plugin_type,
        )
        if manifest.plugin_type == "trigger" and Capability.FILESYSTEM in manifest.capabilities:
            report["risk"] = (
                "a trigger plugin that reads files can read input devices, and log what they "
                f"send (keystrokes too): grant only the one device it needs (midimon plugins "
                f"grant {manifest.name} filesystem --read /dev/input/by-id/<device>), never "
                "/dev/input"
            )
        checks = _verify_manifest(manifest, named_binary, settings, report)
    return _verdict(report, checks)


def _verdict(report: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [c for c in checks if not c["ok"]]
    report["checks"] = checks
    report["verdict"] = "failed" if failed else "ok"
    report["ok"] = not failed
    report["reason"] = f"{failed[0]['name']}: {failed[0]['detail']}" if failed else None
    return report


def verify_package(package: Path, settings: VerifySettings, shown_path: str) -> dict[str, Any]:
    """The report for a ``.midimon-plugin`` package: unpacked (every member checked, as
    install does) into a temporary folder that is removed afterwards, then verified. A package
    that cannot be unpacked gives a failed report with a "package" check saying why."""
    from midimon.plugins.errors import PackagingError
    from midimon.plugins.integrity.packaging import unpack_into

    with tempfile.TemporaryDirectory(prefix="midimon-verify-") as temp:
        root = Path(temp) / "plugin"
        root.mkdir()
        try:
            unpack_into(package, root)
        except PackagingError as exc:
            report: dict[str, Any] = {"path": shown_path, "plugin": None, "package": shown_path}
            check = _check("package", False, str(exc), "get the package again from its author")
            return _verdict(report, [check])
        report = verify_report(root / MANIFEST_NAME, None, settings, shown_path)
        # Name the package's files ("NAME.midimon-plugin:plugin.so"), not the temporary
        # folder that is gone when this returns.
        folders = sorted({str(root.resolve()) + "/", str(root) + "/"}, key=len, reverse=True)
        report = _renamed(report, folders, f"{shown_path}:")
        report["package"] = shown_path
        report["path"] = shown_path
        return report


def _renamed(value: Any, folders: list[str], prefix: str) -> Any:
    """``value`` with every string's ``folders`` prefix (anywhere in it) replaced."""
    if isinstance(value, str):
        for folder in folders:
            value = value.replace(folder, prefix)
        return value
    if isinstance(value, dict):
        return {k: _renamed(v, folders, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, folders, prefix) for v in value]
    return value


def _check(name: str, ok: bool, detail: str, fix: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix": fix}


def _verify_manifest(
    manifest: PluginManifest,
    named_binary: Path | None,
    settings: VerifySettings,
    report: dict[str, Any],
) -> list[dict[str, Any]]:
    checks = [_check("manifest", True, f"{manifest.path} is valid")]
    checks += [_check("manifest warning", True, w) for w in manifest.warnings]
    if named_binary is not None and (
        manifest.binary is None or named_binary.resolve() != manifest.binary.resolve()
    ):
        return [
            *checks,
            _check(
                "binary",
                False,
                f"{named_binary} is not the binary {manifest.path} names for this platform "
                f"({manifest.binary or manifest.binary_error})",
                "verify the plugin folder instead, or fix plugin.binary",
            ),
        ]
    reading = _BackgroundRead(manifest)
    try:
        _prepare()
    except BaseException:
        reading.discard()
        raise
    host = abi_mod.abi()
    major, minor = manifest.abi
    abi_ok = major == host.major and minor <= host.minor
    checks.append(
        _check(
            "declared ABI",
            abi_ok,
            f"plugin.toml says ABI {manifest.abi_text}; host speaks {host.major}.{host.minor}",
            "" if abi_ok else "rebuild the plugin against this host's abi/midimon_plugin.h",
        )
    )
    try:
        image = reading.result()
    except LoadError as exc:
        fix = "build the plugin, or correct plugin.binary"
        if "SHA-256" in exc.message:
            fix = "the binary changed since plugin.toml pinned it: rebuild or re-pin plugin.sha256"
        return [*checks, _check("binary", False, str(exc), fix)]
    with image:
        return _verify_image(manifest, image, settings, report, checks)


def _prepare() -> None:
    """Import what the checks after the read need, and parse the ABI header's declarations."""
    from midimon.plugins.integrity import ed25519_verify

    ed25519_verify.backend_name()  # opens the Ed25519 backend (libcrypto or cryptography)
    import midimon.plugins.integrity.verify
    import midimon.plugins.loading.base_libraries
    import midimon.plugins.sandbox.probe
    import midimon.plugins.sandbox.runners  # noqa: F401  (the worker probe's)

    abi_mod.abi().min_plugin_size  # noqa: B018  (cffi parses the header: the ABI check uses it)


class _BackgroundRead:
    """_read_image() in a thread; result() joins it and returns the image or raises its error."""

    def __init__(self, manifest: PluginManifest) -> None:
        self._image: SealedImage | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(manifest,), daemon=True)
        self._thread.start()

    def _run(self, manifest: PluginManifest) -> None:
        try:
            self._image = _read_image(manifest)
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self) -> SealedImage:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._image is not None
        return self._image

    def discard(self) -> None:
        self._thread.join()
        if self._image is not None:
            self._image.close()


def _read_image(manifest: PluginManifest) -> SealedImage:
    """The binary read once (sealed memfd + digests), with loader.read_binary's refusals."""
    return read_manifest_binary(manifest)


def _verify_image(
    manifest: PluginManifest,
    image: SealedImage,
    settings: VerifySettings,
    report: dict[str, Any],
    checks: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    from midimon.plugins.integrity.verify import IntegrityChecker
    from midimon.plugins.sandbox.probe import probe, probe_image

    report["sha256"] = image.digests.sha256
    checks.append(_check("binary", True, f"{manifest.binary} is present"))
    checks += _dependencies(image.data, report)
    policy = settings.run.policy_for(manifest.name)
    checker = IntegrityChecker.for_user()
    integrity = checker.check(manifest, image.data, policy, image.digests)
    report["trust"] = integrity.trust
    report["signature"] = integrity.signature
    report["manifest_sha256"] = integrity.manifest_sha256
    _audit(integrity, settings.audit_source)
    for failure in integrity.failures:
        checks.append(_check(f"integrity ({failure.code})", False, failure.message, failure.fix))
    if integrity.ok:
        sig = integrity.signature
        detail = {
            "signed": "signed by a trusted key"
            + (f" ({sig['signer']})" if sig and sig.get("signer") else ""),
            "bundled": "bundled with midimon",
            "unsigned-allowed": "not signed, accepted by policy",
        }[integrity.trust]
        notes = list(integrity.notes)
        if integrity.trust == "unsigned-allowed" and not settings.config.policy_for(
            manifest.name
        ).allows_unsigned(image.digests.sha256):
            detail = "not signed, accepted by --allow-unsigned (this run only)"
            notes = [n for n in notes if not n.startswith("unsigned, allowed")]
        checks.append(_check("integrity", True, "; ".join([detail, *notes])))
        result: ProbeResult | None = None
        if image.fd is not None:  # Linux: the worker loads the very memfd just checked
            execution = settings.run.execution_for(manifest.name)
            result = probe_image(manifest, image.fd, execution, image.digests.sha256)
        if result is None:  # no worker here: a child process reads and checks it again
            result = probe(manifest.path, allow_unsigned=integrity.trust == "unsigned-allowed")
        report["reported"] = result.info
        if result.ok:
            assert result.info is not None
            checks.append(
                _check(
                    "load",
                    True,
                    f"loads; reports {result.info['name']} {result.info['version']}, ABI "
                    f"{result.info['abi']}; name and capabilities match plugin.toml",
                )
            )
        else:
            checks.append(_check("load", False, result.message, "fix what it says and rebuild"))
    else:
        checks.append(_skipped("load", "not attempted: the integrity check failed"))
    return checks


def _audit(integrity: IntegrityReport, source: str) -> None:
    """A `verify` event in the audit log, as the daemon's and `plugins exec`'s loads write."""
    from midimon.paths import state_dir
    from midimon.plugins.manager.audit import AuditLog

    try:
        AuditLog(state_dir() / "audit.jsonl").record(
            "verify",
            integrity.plugin,
            ok=integrity.ok,
            trust=integrity.trust,
            sha256=integrity.sha256,
            failures=[f.message for f in integrity.failures],
            key_id=(integrity.signature or {}).get("key_id"),
            source=source,
        )
    except OSError as exc:  # a read-only state dir must not stop a check
        log.warning("audit log not written: %s", exc)


def _skipped(name: str, detail: str) -> dict[str, Any]:
    """A check that did not run: shown as [skip]; ``ok`` stays true (it failed nothing) so
    scripts counting failures by ``ok`` keep working, and ``skipped`` says it did not run."""
    return {**_check(name, True, detail), "skipped": True}


def _dependencies(data: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The libraries the binary asks the dynamic loader for, and warnings about them."""
    from midimon.plugins.errors import BinaryFormatError
    from midimon.plugins.loading.base_libraries import classify
    from midimon.plugins.loading.binary_deps import parse_dependencies

    try:
        deps = parse_dependencies(data)
    except BinaryFormatError as exc:
        report["dependencies"] = {"error": str(exc)}
        return [
            _check(
                "dependencies",
                False,
                f"cannot read the binary's library list: {exc}",
                "rebuild the plugin as a shared library with a standard toolchain",
            )
        ]
    notes = classify(deps)
    report["dependencies"] = {
        **deps.as_dict(),
        "warnings": [{"library": n.library, "kind": n.kind, "reason": n.reason} for n in notes],
    }
    return [_check("dependency warning", True, f"{n.library}: {n.reason}") for n in notes]


