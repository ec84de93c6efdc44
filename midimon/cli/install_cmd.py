"""``midimon pack``, ``midimon install`` and ``midimon uninstall``: plugin packages."""

from __future__ import annotations

import argparse
import sys
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
from midimon.plugins.description.capabilities import Capability, sorted_caps
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import InstallRefused, PackagingError
from midimon.plugins.integrity.packaging import pack
from midimon.plugins.integrity.verify import IntegrityReport
from midimon.plugins.packages.install import (
    install,
    uninstall,
    uninstall_target,
    wanted_grants,
)


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
    result = pack(args.folder, args.out)  # a PackagingError is printed by main (status 2)
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


def _ask(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _wanted_grants(names: list[str]) -> set[Capability]:
    try:
        return wanted_grants(names)
    except InstallRefused as exc:
        raise CliError(str(exc)) from None


def cmd_install(args: argparse.Namespace) -> int:
    """``install FILE|DIR``."""
    wanted = _wanted_grants(args.grant)
    settings = plugin_settings(args)
    interactive = sys.stdin.isatty() and not args.json

    def show(manifest: PluginManifest, report: IntegrityReport) -> None:
        signer = (report.signature or {}).get("signer") or (
            (report.signature or {}).get("key_id") or report.trust
        )
        if not args.json:
            print(f"{manifest.name} {manifest.version} ({report.trust}, signer {signer})")
            for cap in sorted_caps(manifest.capabilities):
                print(
                    f"  capability {cap.value:15} risk {cap.risk.name.lower():7}"
                    f"{cap.info.description}"
                )
            if manifest.plugin_type == "trigger" and Capability.FILESYSTEM in manifest.capabilities:
                print(
                    "  RISK: a trigger plugin that reads files can read input devices and log "
                    "what they send (keystrokes too); grant only its one device: midimon "
                    f"plugins grant {manifest.name} filesystem --read /dev/input/by-id/<device>"
                )

    def ask(cap: Capability) -> bool:
        return _ask(
            f"Grant {cap.value} ({cap.risk.name.lower()} risk: {cap.info.description})? [y/N] "
        )

    try:
        done = install(
            args.source, plugins_dir=user_plugins_dir(), state_dir=state_dir(),
            settings=settings, wanted=wanted, yes=args.yes,
            ask=ask if interactive else None, before_grants=show,
        )  # fmt: skip
    except InstallRefused as exc:
        raise CliError(str(exc)) from None
    except PackagingError as exc:  # a refused package: status 1, not main's 2
        raise CliError(str(exc), EXIT_FAILED) from None
    manifest, report = done.manifest, done.report
    if args.json:
        print_json(done.as_dict())
    else:
        replaced = f" (replaced {done.replaced})" if done.replaced else ""
        print(f"installed {manifest.name} {manifest.version} into {done.path}{replaced}")
        if report.trust == "unsigned-allowed":
            print(
                "note: it is unsigned; to load it add its SHA-256 to [plugins] allowed_unsigned: "
                f'"{report.sha256}"'
            )
        if done.granted:
            print(f"granted: {', '.join(c.value for c in done.granted)}")
        for cap in done.not_granted:  # one runnable command each (Filesystem names its folders)
            paths = " --write DIR" if cap is Capability.FILESYSTEM else ""
            print(
                f"not granted: {cap.value}; grant it with: "
                f"midimon plugins grant {manifest.name} {cap.value}{paths}"
            )
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    """``uninstall NAME``."""
    name = args.name
    try:
        target = uninstall_target(name, user_plugins_dir(), plugin_search_path())
    except InstallRefused as exc:
        raise CliError(str(exc)) from None
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"remove {target}? not a terminal: add --yes")
        if not _ask(f"Remove {target} and its grants? [y/N] "):
            raise CliError("not removed", EXIT_FAILED)
    done = uninstall(name, target, state_dir())
    if args.json:
        print_json(done.as_dict())
    else:
        print(f"removed {target}")
        if done.state_removed:
            print(f"removed {name}'s grants and disabled flag")
        print("its anti-rollback record is kept: an older version still will not install")
    return EXIT_OK
