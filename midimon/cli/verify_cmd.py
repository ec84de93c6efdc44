"""``midimon verify PATH``: check a plugin folder, manifest or binary and say what is wrong."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.cli.common import EXIT_FAILED, EXIT_OK, CliError, add_json_option, print_json
from midimon.plugins import abi as abi_mod
from midimon.plugins.capabilities import sorted_caps
from midimon.plugins.errors import LoadError, ManifestError
from midimon.plugins.loader import read_binary
from midimon.plugins.manifest import MANIFEST_NAME, PluginManifest, load_manifest
from midimon.plugins.probe import probe


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``verify``."""
    parser = commands.add_parser(
        "verify",
        help="check a plugin: manifest, binary, SHA-256, ABI",
        description=(
            "Check a plugin folder, its plugin.toml, or its binary. Exit 0 when every check "
            "passes, 1 when one fails, 2 on usage or I/O errors."
        ),
    )
    parser.add_argument("path", type=Path, help="plugin folder, plugin.toml, or plugin binary")
    add_json_option(parser)
    parser.set_defaults(handler=cmd_verify)


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def resolve_manifest_path(path: Path) -> tuple[Path, Path | None]:
    """(plugin.toml path, binary the user named or None) for a folder, manifest or binary."""
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    if path.is_dir():
        return path / MANIFEST_NAME, None
    if path.suffix == ".toml":
        return path, None
    return path.parent / MANIFEST_NAME, path


def _checks(manifest: PluginManifest, named_binary: Path | None) -> tuple[list[Check], dict]:
    checks = [Check("manifest", True, f"{manifest.path} is valid")]
    extra: dict[str, Any] = {"sha256": None, "reported": None}
    for warning in manifest.warnings:
        checks.append(Check("manifest warning", True, warning))
    if named_binary is not None and (
        manifest.binary is None or named_binary.resolve() != manifest.binary.resolve()
    ):
        checks.append(
            Check(
                "binary",
                False,
                f"{named_binary} is not the binary {manifest.path} names for this platform "
                f"({manifest.binary or manifest.binary_error})",
                "verify the plugin folder instead, or fix plugin.binary",
            )
        )
        return checks, extra
    host = abi_mod.abi()
    major, minor = manifest.abi
    abi_ok = major == host.major and minor <= host.minor
    checks.append(
        Check(
            "declared ABI",
            abi_ok,
            f"plugin.toml says ABI {manifest.abi_text}; host speaks {host.major}.{host.minor}",
            "" if abi_ok else "rebuild the plugin against this host's abi/midimon_plugin.h",
        )
    )
    try:
        _, digest = read_binary(manifest)
    except LoadError as exc:
        fix = "build the plugin, or correct plugin.binary"
        if "SHA-256" in exc.message:
            fix = "the binary changed since plugin.toml pinned it: rebuild or re-pin plugin.sha256"
        checks.append(Check("binary", False, str(exc), fix))
        return checks, extra
    extra["sha256"] = digest
    checks.append(Check("binary", True, f"{manifest.binary} is present"))
    if manifest.sha256:
        checks.append(Check("SHA-256", True, "matches the hash pinned in plugin.toml"))
    result = probe(manifest.path)
    extra["reported"] = result.info
    if result.ok:
        assert result.info is not None
        checks.append(
            Check(
                "load",
                True,
                f"loads; reports {result.info['name']} {result.info['version']}, "
                f"ABI {result.info['abi']}, name and capabilities match plugin.toml",
            )
        )
    else:
        checks.append(Check("load", False, result.message, "fix what the message says and rebuild"))
    return checks, extra


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify PATH``."""
    manifest_path, named_binary = resolve_manifest_path(args.path)
    report: dict[str, Any] = {"path": str(args.path), "manifest": str(manifest_path)}
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        if exc.field is None and "not found" in exc.message:
            raise CliError(
                f"{manifest_path}: no plugin.toml here; is this a plugin folder?"
            ) from None
        checks = [Check("manifest", False, str(exc), "fix the field named in the message")]
        report.update(plugin=None)
    else:
        checks, extra = _checks(manifest, named_binary)
        report.update(
            plugin=manifest.name,
            version=manifest.version,
            binary=str(manifest.binary) if manifest.binary else None,
            sha256=extra["sha256"],
            abi=manifest.abi_text,
            reported=extra["reported"],
            capabilities=[
                {"name": c.value, "risk": c.risk.value} for c in sorted_caps(manifest.capabilities)
            ],
            signature={"status": "not checked", "detail": "signature checks are not built yet"},
        )
    failed = [c for c in checks if not c.ok]
    report["checks"] = [c.__dict__ for c in checks]
    report["verdict"] = "failed" if failed else "ok"
    if args.json:
        print_json(report)
        return EXIT_FAILED if failed else EXIT_OK
    if report.get("plugin"):
        print(f"{report['plugin']} {report['version']}")
        print(f"  binary:  {report['binary']}")
        print(f"  SHA-256: {report['sha256'] or '-'}")
        print(f"  ABI:     {report['abi']}")
        caps = ", ".join(f"{c['name']} ({c['risk']} risk)" for c in report["capabilities"])
        print(f"  capabilities: {caps or 'none'}")
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        print(f"  [{mark}] {check.name}: {check.detail}")
        if check.fix:
            print(f"         fix: {check.fix}")
    print(f"verdict: {'FAILED' if failed else 'OK'}")
    return EXIT_FAILED if failed else EXIT_OK
