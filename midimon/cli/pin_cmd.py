"""``midimon trust pin|pins|rotate``: which signer each plugin name belongs to."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from midimon.cli.common import EXIT_OK, CliError, add_json_option, print_json
from midimon.paths import bundled_plugins_dir, state_dir
from midimon.plugins.integrity.minisign_format import MinisignError
from midimon.plugins.integrity.minisign_keys import PublicKey
from midimon.plugins.integrity.pins import BUNDLED, Pin, PinStore, bundled_names
from midimon.plugins.integrity.rotation import RotationError, write_statement
from midimon.plugins.integrity.trust import TrustStoreError
from midimon.plugins.manager.audit import AuditLog


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trust pin``, ``trust pins`` and ``trust rotate``."""
    p_pin = sub.add_parser(
        "pin",
        help="hand a plugin name to another signer, on purpose",
        description=(
            "Pin plugin NAME to SIGNER: a trusted key id (trust list) or 'bundled' (the copy "
            "shipped with midimon). Copies of NAME signed by anyone else are then refused at "
            "install, verify and load. The change is written to the audit log."
        ),
    )
    p_pin.add_argument("name", metavar="NAME", help="the plugin's name")
    p_pin.add_argument("signer", metavar="KEYID|bundled", help="the signer NAME now belongs to")
    add_json_option(p_pin)
    p_pin.set_defaults(handler=cmd_pin)

    p_pins = sub.add_parser(
        "pins",
        help="which signer each plugin name belongs to",
        description="List the signer each plugin name is pinned to, and how it was pinned.",
    )
    add_json_option(p_pins)
    p_pins.set_defaults(handler=cmd_pins)

    p_rotate = sub.add_parser(
        "rotate",
        help="(authors) sign a statement handing your plugin names to a new key",
        description=(
            "Write rotate-OLD-NEW.txt and its .minisig into DIR (your plugin folder; midimon "
            "pack ships them), signed by the OLD secret key, naming the NEW public key. Users "
            "who trust the new key then accept your next release without re-pinning."
        ),
    )
    p_rotate.add_argument("folder", type=Path, metavar="DIR", help="where to write the statement")
    p_rotate.add_argument(
        "--old-key", type=Path, required=True, metavar="OLD.key", help="the old secret key"
    )
    p_rotate.add_argument(
        "--new-key", type=Path, required=True, metavar="NEW.pub", help="the new public key"
    )
    p_rotate.add_argument(
        "--plugins",
        action="append",
        required=True,
        metavar="NAME_OR_GLOB",
        help="the plugin names moving to the new key (repeatable or comma-separated)",
    )
    add_json_option(p_rotate)
    p_rotate.set_defaults(handler=cmd_rotate)


def _signer_text(signer: str) -> str:
    return "bundled (this midimon installation)" if signer == BUNDLED else f"key {signer}"


def cmd_pin(args: argparse.Namespace) -> int:
    """``trust pin NAME KEYID|bundled``."""
    from midimon.cli.trust_cmd import user_trust_store

    name, signer = args.name, args.signer
    store = PinStore.for_user()
    if signer.lower() == BUNDLED:
        if name not in bundled_names(bundled_plugins_dir()):
            raise CliError(f"{name} is not a plugin bundled with midimon; pin it to a key id")
        new = Pin(name, BUNDLED, "re-pinned")
    else:
        signer = signer.upper()
        try:
            trusted = user_trust_store().get(signer)
        except TrustStoreError as exc:
            raise CliError(str(exc)) from None
        if trusted is None:
            raise CliError(
                f"key {signer} is not trusted; first: midimon trust add KEY.pub --plugins {name}"
            )
        if not trusted.allows(name):
            raise CliError(
                f"key {signer} may only sign {', '.join(trusted.plugins)}, not {name}; widen it "
                f"first: midimon trust add KEY.pub --plugins {','.join((*trusted.plugins, name))}"
            )
        new = Pin(name, signer, "re-pinned", trusted.key.to_base64())
    try:
        old = store.get(name)
        store.set(Pin(new.name, new.signer, new.how, new.public_key, time.time()))
    except OSError as exc:
        raise CliError(str(exc)) from None
    AuditLog(state_dir() / "audit.jsonl").record(
        "repin", name, old=old.signer if old else None, new=new.signer
    )
    if args.json:
        print_json({"plugin": name, "old": old.signer if old else None, "new": new.signer})
    else:
        before = f" (was {_signer_text(old.signer)})" if old else ""
        print(f"pinned {name} to {_signer_text(new.signer)}{before}")
    return EXIT_OK


def cmd_pins(args: argparse.Namespace) -> int:
    """``trust pins``."""
    try:
        pins = PinStore.for_user().all()
    except OSError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json({"pins": [{"plugin": p.name, "signer": p.signer, "how": p.how} for p in pins]})
        return EXIT_OK
    if not pins:
        print("No plugin name is pinned yet (a name is pinned when its first copy loads).")
    for pin in pins:
        print(f"{pin.name}  {_signer_text(pin.signer)}  ({pin.how})")
    return EXIT_OK


def cmd_rotate(args: argparse.Namespace) -> int:
    """``trust rotate DIR --old-key OLD.key --new-key NEW.pub --plugins NAME``."""
    from midimon.cli.signing_cmd import load_secret_key

    try:
        new_key = PublicKey.load(args.new_key)
    except FileNotFoundError:
        raise CliError(f"{args.new_key}: no such file") from None
    except (MinisignError, OSError) as exc:
        raise CliError(str(exc)) from None
    old_secret = load_secret_key(args.old_key)
    plugins = tuple(p.strip() for arg in args.plugins for p in arg.split(",") if p.strip())
    if not args.folder.is_dir():
        raise CliError(f"{args.folder}: not a folder")
    try:
        path = write_statement(old_secret, new_key, plugins, args.folder)
    except (RotationError, MinisignError, OSError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(
            {"statement": str(path), "old": old_secret.key_id_hex, "new": new_key.key_id_hex}
        )
    else:
        print(f"wrote {path} and {path.name}.minisig")
        print(f"  {', '.join(plugins)}: key {old_secret.key_id_hex} -> key {new_key.key_id_hex}")
    return EXIT_OK
