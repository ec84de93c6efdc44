"""``midimon pack``, ``midimon install`` and ``midimon uninstall``: plugin packages."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from midimon.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_allow_unsigned_option,
    add_json_option,
    plugin_settings,
    print_json,
)
from midimon.paths import plugin_search_path, state_dir, user_plugins_dir
from midimon.plugins.description.capabilities import Capability, RiskLevel, from_name, sorted_caps
from midimon.plugins.description.discovery import discover
from midimon.plugins.integrity.packaging import PackagingError, commit, pack, remove_folder, staged
from midimon.plugins.integrity.verify import IntegrityChecker
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grants import Grant, PluginStateStore


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pack``, ``install`` and ``uninstall``."""
    p_pack = commands.add_parser(
        "pack",
        help="pack a plugin folder into one NAME-VERSION-PLATFORM.midimon-plugin file",
        description=(
            "Pack plugin.toml, this platform's binary, their .minisig signatures, and the "
            "folder's rotate-*.txt key rotation statements and README* files if it has any, "
            "into a .midimon-plugin file (a gzip'd tar), and print its SHA-256."
        ),
    )
    p_pack.add_argument("folder", type=Path, metavar="DIR", help="the plugin folder")
    p_pack.add_argument(
        "-o", dest="out", type=Path, default=None, metavar="OUT", help="output file or folder"
    )
    add_json_option(p_pack)
    p_pack.set_defaults(handler=cmd_pack)

    p_install = commands.add_parser(
        "install",
        help="verify and install a plugin package (or folder) into the user plugins dir",
        description=(
            f"Unpack, verify (signature, trust, anti-rollback) and install a plugin into "
            f"{user_plugins_dir()}. Medium and high risk capabilities are granted only when "
            "you say so: at the prompt, or with --grant/--yes. A plugin name stays with the "
            "signer it was first accepted from (see midimon trust pin)."
        ),
    )
    p_install.add_argument("source", type=Path, metavar="FILE|DIR", help="package or folder")
    p_install.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="CAP",
        help="grant this requested capability without asking (repeatable); the only way to "
        "grant a high-risk one (subprocess) at install. Filesystem is never granted here: it "
        "needs paths (midimon plugins grant NAME filesystem --write DIR)",
    )
    p_install.add_argument("--yes", action="store_true", help=YES_HELP)
    add_allow_unsigned_option(p_install)
    add_json_option(p_install)
    p_install.set_defaults(handler=cmd_install)

    p_uninstall = commands.add_parser(
        "uninstall",
        help="remove a plugin from the user plugins dir, with its grants",
        description=f"Remove {user_plugins_dir()}/NAME and its grants and disabled flag.",
    )
    p_uninstall.add_argument("name", metavar="NAME", help="the plugin's name")
    p_uninstall.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_json_option(p_uninstall)
    p_uninstall.set_defaults(handler=cmd_uninstall)


def cmd_pack(args: argparse.Namespace) -> int:
    """``pack DIR [-o OUT]``."""
    try:
        result = pack(args.folder, args.out)
    except PackagingError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(
            {
                "file": str(result.file),
                "sha256": result.sha256,
                "name": result.name,
                "version": result.version,
                "platform": result.platform,
                "members": list(result.members),
            }
        )
    else:
        print(f"wrote {result.file}")
        print(f"sha256 {result.sha256}")
    return EXIT_OK


YES_HELP = (
    "answer yes to every question: this grants the medium-risk capabilities the plugin "
    "requests (e.g. network) and nothing high-risk (filesystem, subprocess: name those with "
    "--grant CAP); low-risk ones follow the auto_grant setting as always"
)


def _wanted_grants(names: list[str]) -> set[Capability]:
    """The capabilities named with --grant; Filesystem is refused (it needs paths)."""
    try:
        wanted = {from_name(name) for name in names}
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if Capability.FILESYSTEM in wanted:
        raise CliError(
            "--grant filesystem: install does not grant Filesystem, which needs the folders it "
            "may write; after installing: midimon plugins grant NAME filesystem --write DIR"
        )
    return wanted


def _install_grants(
    requested: list[Capability], wanted: set[Capability], yes: bool, interactive: bool
) -> list[Capability]:
    """What install grants: each capability named with --grant; with --yes the medium-risk
    ones too (never a high-risk one); else, on a terminal, what the user says yes to."""
    granted: list[Capability] = []
    for cap in requested:
        if cap in wanted:
            granted.append(cap)
        elif cap.risk is RiskLevel.LOW:
            continue  # low risk: the auto_grant setting decides, as for any plugin
        elif yes:
            if cap.risk is RiskLevel.MEDIUM:
                granted.append(cap)
        elif (
            interactive
            and cap is not Capability.FILESYSTEM
            and _ask(
                f"Grant {cap.value} ({cap.risk.name.lower()} risk: {cap.info.description})? [y/N] "
            )
        ):
            granted.append(cap)
    return granted


def _ask(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_install(args: argparse.Namespace) -> int:
    """``install FILE|DIR``."""
    wanted = _wanted_grants(args.grant)
    settings = plugin_settings(args)
    checker = IntegrityChecker.for_user()
    plugins_dir = user_plugins_dir()
    interactive = sys.stdin.isatty() and not args.json
    try:
        with staged(args.source, plugins_dir, checker, settings.policy_for) as stage:
            manifest, report = stage.manifest, stage.report
            requested = sorted_caps(manifest.capabilities)
            extra = wanted - set(requested)
            if extra:
                raise CliError(
                    f"--grant {', '.join(c.value for c in sorted_caps(extra))}: {manifest.name} "
                    "does not request it; it requests: "
                    + (", ".join(c.value for c in requested) or "nothing")
                )
            signer = (report.signature or {}).get("signer") or (
                (report.signature or {}).get("key_id") or report.trust
            )
            if not args.json:
                print(f"{manifest.name} {manifest.version} ({report.trust}, signer {signer})")
                for cap in requested:
                    print(
                        f"  capability {cap.value:15} risk {cap.risk.name.lower():7}"
                        f"{cap.info.description}"
                    )
            granted = _install_grants(requested, wanted, args.yes, interactive)
            target = plugins_dir / manifest.name
            previous = _installed_version(target)
            commit(stage, plugins_dir)
    except PackagingError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    checker.record_accepted(report)
    store = PluginStateStore(state_dir() / "plugin_state.json")
    audit = AuditLog(state_dir() / "audit.jsonl")
    audit.record(
        "install", manifest.name, version=manifest.version, sha256=report.sha256,
        path=str(target), replaced=previous, trust=report.trust,
    )  # fmt: skip
    for cap in granted:
        store.grant(manifest.name, report.sha256, Grant(cap, (), time.time()), report.signer_id)
        audit.record("grant", manifest.name, capability=cap.value, paths=[], sha256=report.sha256)
    ungranted = [c for c in requested if c not in granted and c not in settings.auto_grant]
    if args.json:
        print_json(
            {
                "installed": manifest.name,
                "version": manifest.version,
                "path": str(target),
                "replaced": previous,
                "trust": report.trust,
                "signer": (report.signature or {}).get("signer"),
                "key_id": (report.signature or {}).get("key_id"),
                "sha256": report.sha256,
                "capabilities": [
                    {
                        "name": c.value,
                        "risk": c.risk.name.lower(),
                        "granted": c in granted or c in settings.auto_grant,
                    }
                    for c in requested
                ],
            }
        )
    else:
        replaced = f" (replaced {previous})" if previous else ""
        print(f"installed {manifest.name} {manifest.version} into {target}{replaced}")
        if report.trust == "unsigned-allowed":
            print(
                "note: it is unsigned; to load it add its SHA-256 to [plugins] allowed_unsigned: "
                f'"{report.sha256}"'
            )
        if granted:
            print(f"granted: {', '.join(c.value for c in granted)}")
        for cap in ungranted:  # one runnable command each (Filesystem names its folders)
            paths = " --write DIR" if cap is Capability.FILESYSTEM else ""
            print(
                f"not granted: {cap.value}; grant it with: "
                f"midimon plugins grant {manifest.name} {cap.value}{paths}"
            )
    return EXIT_OK


def _installed_version(target: Path) -> str | None:
    from midimon.plugins.description.manifest import load_manifest

    if not target.exists():
        return None
    try:
        return load_manifest(target).version
    except Exception:  # a broken old install is still replaced
        return "unknown"


def cmd_uninstall(args: argparse.Namespace) -> int:
    """``uninstall NAME``."""
    name = args.name
    plugins_dir = user_plugins_dir()
    target = plugins_dir / name
    if "/" in name or name in ("", ".", "..") or not target.is_dir():
        found = discover(plugin_search_path()).plugins.get(name)
        if found is not None:
            raise CliError(
                f"{name} is not installed in {plugins_dir} but in {found.search_dir} "
                "(bundled or system-wide); midimon uninstall only removes plugins you installed"
            )
        raise CliError(f"no plugin {name!r} installed in {plugins_dir}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"remove {target}? not a terminal: add --yes")
        if not _ask(f"Remove {target} and its grants? [y/N] "):
            raise CliError("not removed", EXIT_FAILED)
    remove_folder(target)
    forgot = PluginStateStore(state_dir() / "plugin_state.json").forget(name)
    AuditLog(state_dir() / "audit.jsonl").record(
        "uninstall", name, path=str(target), state_removed=forgot
    )
    if args.json:
        print_json({"uninstalled": name, "path": str(target), "state_removed": forgot})
    else:
        print(f"removed {target}")
        if forgot:
            print(f"removed {name}'s grants and disabled flag")
        print("its anti-rollback record is kept: an older version still will not install")
    return EXIT_OK
