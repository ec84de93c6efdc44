"""``midimon trust add|list|remove``: the keys you trust to sign plugins."""

from __future__ import annotations

import argparse
from pathlib import Path

from midimon.cli.common import EXIT_FAILED, EXIT_OK, CliError, add_json_option, print_json
from midimon.paths import config_dir
from midimon.plugins.minisign import MinisignError, PublicKey
from midimon.plugins.trust import TrustStore, TrustStoreError


def user_trust_store() -> TrustStore:
    """The user's trust store (``<config>/trusted_keys``)."""
    return TrustStore(config_dir() / "trusted_keys")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``trust`` and its subcommands."""
    group = commands.add_parser(
        "trust",
        help="manage the keys trusted to sign plugins",
        description="Manage the public keys trusted to sign plugins.",
    )
    sub = group.add_subparsers(dest="trust_command", metavar="SUBCOMMAND", required=True)
    p_add = sub.add_parser(
        "add", help="trust a public key", description="Trust a minisign public key file."
    )
    p_add.add_argument("key", type=Path, metavar="KEY.pub", help="minisign public key file")
    p_add.add_argument("--name", default="", help="who the key belongs to (shown in verify)")
    p_add.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only plugins whose names match PATTERN (glob, e.g. 'alice_*'; repeatable or "
        "comma-separated); default: any plugin",
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


def cmd_add(args: argparse.Namespace) -> int:
    """``trust add``."""
    try:
        key = PublicKey.load(args.key)
    except FileNotFoundError:
        raise CliError(f"{args.key}: no such file") from None
    except (MinisignError, OSError) as exc:
        raise CliError(str(exc)) from None
    patterns = tuple(p.strip() for arg in args.plugins for p in arg.split(",") if p.strip())
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
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """``trust list``."""
    try:
        keys = user_trust_store().list()
    except TrustStoreError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json({"keys": [k.as_dict() for k in keys]})
        return EXIT_OK
    if not keys:
        print("No trusted keys. Add one with: midimon trust add KEY.pub --name NAME")
    for key in keys:
        scope = ", ".join(key.plugins) if key.plugins else "*"
        print(f"{key.key_id}  {key.name or '(unnamed)'}  plugins: {scope}")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    """``trust remove KEYID``."""
    if user_trust_store().remove(args.key_id):
        print(f"removed key {args.key_id.upper()}")
        return EXIT_OK
    print(f"key {args.key_id.upper()} was not trusted")
    return EXIT_FAILED
