"""``midimon verify PATH``: check a plugin folder, manifest, binary or package and say what is
wrong (the report itself is midimon.plugins.packages.report's, shared with the daemon)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_allow_unsigned_option,
    add_json_option,
    plugin_settings,
    print_json,
)
from midimon.plugins.description.manifest import MANIFEST_NAME
from midimon.plugins.errors import NoManifest, SettingsError
from midimon.plugins.packages.report import VerifySettings, verify_report
from midimon.plugins.settings import load_plugin_settings

PACKAGE_SUFFIX = ".midimon-plugin"  # packaging.PACKAGE_SUFFIX (not imported: it loads tarfile)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``verify``."""
    parser = commands.add_parser(
        "verify",
        help="check a plugin: manifest, binary, SHA-256, signature, trust, ABI",
        description=(
            "Check a plugin folder, its plugin.toml, its binary, or a .midimon-plugin package: "
            "manifest, binary, SHA-256, signature and signer trust, anti-rollback, then ABI "
            "(by loading it in a child "
            "process). Exit 0 when verified and trusted, 1 when a check fails, 2 on usage or "
            "I/O errors."
        ),
    )
    parser.add_argument(
        "path", type=Path, help="plugin folder, plugin.toml, plugin binary or .midimon-plugin file"
    )
    add_allow_unsigned_option(parser)
    add_json_option(parser)
    parser.set_defaults(handler=cmd_verify)


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


def _settings(args: argparse.Namespace) -> VerifySettings:
    try:
        config = load_plugin_settings()
    except SettingsError:
        config = None
    run = plugin_settings(args)  # raises the settings error for the user
    return VerifySettings(run, config if config is not None else run)


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify PATH``."""
    path: Path = args.path
    if path.is_file() and path.name.endswith(PACKAGE_SUFFIX):
        from midimon.plugins.packages.report import verify_package

        report = verify_package(path, _settings(args), str(path))
    else:
        manifest_path, named_binary = resolve_manifest_path(path)
        try:
            report = verify_report(manifest_path, named_binary, _settings(args), str(path))
        except NoManifest:
            raise CliError(
                f"{manifest_path}: no plugin.toml here; pass a plugin folder (the one with "
                "plugin.toml), its plugin.toml, its binary or a .midimon-plugin package"
            ) from None
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _print_report(report: dict[str, Any]) -> None:
    if report.get("plugin"):
        print(f"{report['plugin']} {report['version']}")
        print(f"  binary:       {report['binary']}")
        print(f"  SHA-256:      {report['sha256'] or '-'}")
        print(f"  ABI:          {report['abi']}")
        caps = ", ".join(f"{c['name']} ({c['risk']} risk)" for c in report["capabilities"])
        print(f"  capabilities: {caps or 'none'}")
        if report.get("risk"):
            print(f"  RISK:         {report['risk']}")
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
