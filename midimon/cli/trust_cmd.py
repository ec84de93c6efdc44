"""``midimon trust add|list|remove``: the keys you trust to sign plugins."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from midimon.cli import pin_cmd
from midimon.cli.common import EXIT_FAILED, EXIT_OK, CliError, add_json_option, print_json
from midimon.paths import config_dir
from midimon.plugins.integrity.minisign_format import MinisignError
from midimon.plugins.integrity.minisign_keys import PublicKey
from midimon.plugins.integrity.trust import TrustStore, TrustStoreError


def user_trust_store() -> TrustStore:
    """The user's trust store (``<config>/trusted_keys``)."""
    return TrustStore(config_dir() / "trusted_keys")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trust`` and its subcommands."""
    group = commands.add_parser(
        "trust",
        help="manage the keys trusted to sign plugins",
        description="Manage the public keys trusted to sign plugins.",
    )
    sub = group.add_subparsers(dest="trust_command", metavar="SUBCOMMAND", required=True)
    p_add = sub.add_parser(
        "add",
        help="trust a public key for the plugin names it may sign",
        description=(
            "Trust a minisign public key file for the plugin names (or globs) given with "
            "--plugins; --any trusts it for every name. On a terminal without either, it asks."
        ),
    )
    p_add.add_argument("key", type=Path, metavar="KEY.pub", help="minisign public key file")
    p_add.add_argument("--name", default="", help="who the key belongs to (shown in verify)")
    p_add.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="PATTERN",
        help="the plugin names the key may sign (glob, e.g. 'alice_*'; repeatable or "
        "comma-separated); required unless --any",
    )
    p_add.add_argument(
        "--any",
        action="store_true",
        help="trust the key for every plugin name (not recommended: prefer --plugins)",
    )
    add_json_option(p_add)
    p_add.set_defaults(handler=cmd_add)
    p_list = sub.add_parser("list", help="the trusted keys", description="List trusted keys.")
    add_json_option(p_list)
    p_list.set_defaults(handler=cmd_list)
    p_remove = sub.add_parser(
        "remove", help="stop trusting a key", description="Stop trusting a key, by key id."
    )
    p_remove.add_argument("key_id", metavar="KEYID", help="16 hex digits, as trust list shows")
    p_remove.set_defaults(handler=cmd_remove)
    pin_cmd.register(sub)


def cmd_add(args: argparse.Namespace) -> int:
    """``trust add``."""
    try:
        key = PublicKey.load(args.key)
    except FileNotFoundError:
        raise CliError(f"{args.key}: no such file") from None
    except (MinisignError, OSError) as exc:
        raise CliError(str(exc)) from None
    patterns = _scope(args, key.key_id_hex)
    trusted = user_trust_store().add(key, args.name, patterns)
    if args.json:
        print_json(trusted.as_dict())
    else:
        scope = ", ".join(patterns) if patterns else "any plugin"
        print(
            f"trusted key {trusted.key_id}"
            + (f" ({args.name})" if args.name else "")
            + f" for {scope}"
        )
    if not patterns:
        print(ANY_WARNING.format(key_id=trusted.key_id), file=sys.stderr)
    return EXIT_OK


ANY_WARNING = (
    "warning: key {key_id} may sign a plugin of any name; names already pinned to another "
    "signer stay refused, but any new name is taken on first use. Prefer --plugins NAME."
)


def _patterns(values: list[str]) -> tuple[str, ...]:
    return tuple(p.strip() for arg in values for p in arg.split(",") if p.strip())


def _scope(args: argparse.Namespace, key_id: str) -> tuple[str, ...]:
    """The --plugins patterns; () with --any; asked for on a terminal when neither is given."""
    patterns = _patterns(args.plugins)
    if patterns and args.any:
        raise CliError("give --plugins or --any, not both")
    if patterns or args.any:
        return patterns
    if not sys.stdin.isatty() or args.json:
        raise CliError(
            f"which plugins may key {key_id} sign? add --plugins NAME_OR_GLOB (repeatable), or "
            "--any to trust it for every plugin name"
        )
    sys.stderr.write(
        f"Which plugin names may key {key_id} sign? Names or globs, comma-separated ('*' for any): "
    )
    sys.stderr.flush()
    answer = _patterns([sys.stdin.readline()])
    if not answer:
        raise CliError("no plugin names given: key not trusted")
    return () if answer == ("*",) else answer


def cmd_list(args: argparse.Namespace) -> int:
    """``trust list``."""
    try:
        keys = user_trust_store().list()
    except TrustStoreError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json({"keys": [{**k.as_dict(), "any_plugin": not k.plugins} for k in keys]})
        return EXIT_OK
    if not keys:
        print(
            "No trusted keys. Add one with: midimon trust add KEY.pub --name NAME "
            "--plugins NAME_OR_GLOB"
        )
    for key in keys:
        scope = ", ".join(key.plugins) if key.plugins else "*"
        print(f"{key.key_id}  {key.name or '(unnamed)'}  plugins: {scope}")
    unscoped = [k.key_id for k in keys if not k.plugins]
    if unscoped:
        print(
            f"note: {', '.join(unscoped)} may sign any plugin name; scope "
            f"{'it' if len(unscoped) == 1 else 'each'} with: midimon trust add KEY.pub "
            "--plugins NAME_OR_GLOB"
        )
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    """``trust remove KEYID``."""
    if user_trust_store().remove(args.key_id):
        print(f"removed key {args.key_id.upper()}")
        return EXIT_OK
    print(f"key {args.key_id.upper()} was not trusted")
    return EXIT_FAILED
