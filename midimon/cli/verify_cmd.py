"""``midimon verify PATH``: check a plugin folder, manifest or binary and say what is wrong."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_allow_unsigned_option,
    add_json_option,
    plugin_settings,
    print_json,
)
from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.description.manifest import MANIFEST_NAME, PluginManifest, load_manifest
from midimon.plugins.errors import LoadError, ManifestError
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.image import SealedImage, read_manifest_binary

if TYPE_CHECKING:
    from midimon.plugins.integrity.verify import IntegrityReport
    from midimon.plugins.sandbox.probe import ProbeResult

# The modules that check signatures (cryptography), load plugins (the worker protocol, cffi)
# and read dependencies are imported by _prepare(), while the binary is read and hashed in
# other threads: most of their import time then costs no wall time.


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify``."""
    parser = commands.add_parser(
        "verify",
        help="check a plugin: manifest, binary, SHA-256, signature, trust, ABI",
        description=(
            "Check a plugin folder, its plugin.toml, or its binary: manifest, binary, SHA-256, "
            "signature and signer trust, anti-rollback, then ABI (by loading it in a child "
            "process). Exit 0 when verified and trusted, 1 when a check fails, 2 on usage or "
            "I/O errors."
        ),
    )
    parser.add_argument("path", type=Path, help="plugin folder, plugin.toml, or plugin binary")
    add_allow_unsigned_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=cmd_verify)


def _check(name: str, ok: bool, detail: str, fix: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix": fix}


def resolve_manifest_path(path: Path) -> tuple[Path, Path | None]:
    """(plugin.toml path, binary the user named or None) for a folder, manifest or binary."""
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    if path.is_dir():
        return path / MANIFEST_NAME, None
    if path.suffix == ".toml":
        return path, None
    # A binary: its plugin.toml is beside it, or above a build folder (C's build/, Rust's
    # target/release/); _verify then checks that the manifest's binary is this very file.
    for folder in list(path.resolve().parents)[:BUILD_DEPTH]:
        if (folder / MANIFEST_NAME).is_file():
            return folder / MANIFEST_NAME, path
    raise CliError(
        f"{path}: no {MANIFEST_NAME} beside it or in the {BUILD_DEPTH - 1} folders above; "
        "pass the plugin folder (the one with plugin.toml)"
    )


BUILD_DEPTH = 3  # the binary's folder and two above: target/release/ is two deep


def _verify(
    manifest: PluginManifest,
    named_binary: Path | None,
    args: argparse.Namespace,
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
        return _verify_image(manifest, image, args, report, checks)


def _prepare() -> None:
    """Import what the checks after the read need, and parse the ABI header's declarations."""
    import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401  (minisign's, lazy)

    import midimon.plugins.integrity.verify
    import midimon.plugins.loading.binary_deps
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
    args: argparse.Namespace,
    report: dict[str, Any],
    checks: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    from midimon.plugins.integrity.verify import IntegrityChecker
    from midimon.plugins.sandbox.probe import probe, probe_image

    report["sha256"] = image.digests.sha256
    checks.append(_check("binary", True, f"{manifest.binary} is present"))
    checks += _dependencies(image.data, report)
    settings = plugin_settings(args)
    policy = settings.policy_for(manifest.name)
    checker = IntegrityChecker.for_user()
    integrity = checker.check(manifest, image.data, policy, image.digests)
    report["trust"] = integrity.trust
    report["signature"] = integrity.signature
    report["manifest_sha256"] = integrity.manifest_sha256
    _audit(integrity)
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
        if integrity.trust == "unsigned-allowed" and not _config_allows_unsigned(manifest, image):
            detail = "not signed, accepted by --allow-unsigned (this run only)"
            notes = [n for n in notes if not n.startswith("unsigned, allowed")]
        checks.append(_check("integrity", True, "; ".join([detail, *notes])))
        result: ProbeResult | None = None
        if image.fd is not None:  # Linux: the worker loads the very memfd just checked
            execution = settings.execution_for(manifest.name)
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


def _audit(integrity: IntegrityReport) -> None:
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
            source="midimon verify",
        )
    except OSError as exc:  # a read-only state dir must not stop a check
        print(f"warning: audit log not written: {exc}", file=sys.stderr)


def _skipped(name: str, detail: str) -> dict[str, Any]:
    """A check that did not run: shown as [skip]; ``ok`` stays true (it failed nothing) so
    scripts counting failures by ``ok`` keep working, and ``skipped`` says it did not run."""
    return {**_check(name, True, detail), "skipped": True}


def _config_allows_unsigned(manifest: PluginManifest, image: SealedImage) -> bool:
    """Whether config.toml alone (no --allow-unsigned) accepts this unsigned binary."""
    from midimon.plugins.errors import SettingsError
    from midimon.plugins.settings import load_plugin_settings

    try:
        policy = load_plugin_settings().policy_for(manifest.name)
    except SettingsError:
        return False
    return policy.allows_unsigned(image.digests.sha256)


def _dependencies(data: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The libraries the binary asks the dynamic loader for, and warnings about them."""
    from midimon.plugins.errors import BinaryFormatError
    from midimon.plugins.loading.binary_deps import classify, parse_dependencies

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


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify PATH``."""
    manifest_path, named_binary = resolve_manifest_path(args.path)
    report: dict[str, Any] = {
        "path": str(args.path),
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
            raise CliError(
                f"{manifest_path}: no plugin.toml here; pass a plugin folder (the one with "
                "plugin.toml), its plugin.toml or its binary"
            ) from None
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
        )
        checks = _verify(manifest, named_binary, args, report)
    failed = [c for c in checks if not c["ok"]]
    report["checks"] = checks
    report["verdict"] = "failed" if failed else "ok"
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return EXIT_FAILED if failed else EXIT_OK


def _print_report(report: dict[str, Any]) -> None:
    if report.get("plugin"):
        print(f"{report['plugin']} {report['version']}")
        print(f"  binary:       {report['binary']}")
        print(f"  SHA-256:      {report['sha256'] or '-'}")
        print(f"  ABI:          {report['abi']}")
        caps = ", ".join(f"{c['name']} ({c['risk']} risk)" for c in report["capabilities"])
        print(f"  capabilities: {caps or 'none'}")
        deps = report.get("dependencies")
        if deps and "needed" in deps:
            print(f"  libraries:    {', '.join(deps['needed']) or 'none'} ({deps['format']})")
            for label in ("runpath", "rpath"):
                if deps[label]:
                    print(f"  {label + ':':13} {':'.join(deps[label])}")
        sig = report.get("signature")
        if sig:
            print(
                f"  signature:    {sig['file']} ({sig['algorithm']}, key {sig['key_id']}, "
                f"signer {sig['signer'] or 'unknown'})"
            )
            print(f"  trusted comment: {sig['trusted_comment']}")
            if sig.get("timestamp"):
                print(f"  timestamp:    {sig['timestamp']}")
        if report.get("trust"):
            print(f"  trust:        {report['trust']}")
    for check in report["checks"]:
        mark = "skip" if check.get("skipped") else "ok  " if check["ok"] else "FAIL"
        print(f"  [{mark}] {check['name']}: {check['detail']}")
        if check["fix"]:
            print(f"         fix: {check['fix']}")
    print(f"verdict: {'FAILED' if report['verdict'] == 'failed' else 'OK'}")
