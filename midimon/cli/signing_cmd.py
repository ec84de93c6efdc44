"""``midimon keygen`` and ``midimon sign``: minisign-compatible keys and plugin signatures."""

from __future__ import annotations

import argparse
from pathlib import Path

from midimon.cli.common import EXIT_OK, CliError, print_json
from midimon.cli.passwords import read_password
from midimon.paths import config_dir
from midimon.plugins.description.manifest import MANIFEST_NAME, load_manifest
from midimon.plugins.errors import ManifestError
from midimon.plugins.integrity.minisign_format import MinisignError, WrongPasswordError
from midimon.plugins.integrity.minisign_keys import SecretKey, generate_keypair
from midimon.plugins.integrity.signing import sign_plugin
from midimon.plugins.integrity.verify import signature_path


def default_secret_key_path() -> Path:
    """Where keygen writes, and sign reads, the secret key by default."""
    return config_dir() / "signing" / "midimon.key"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keygen`` and ``sign``."""
    p_keygen = commands.add_parser(
        "keygen",
        help="create an Ed25519 signing key pair (minisign format)",
        description=(
            "Create a key pair in minisign's formats: the public key to give to users "
            "(midimon trust add), the secret key to sign with (written 0600)."
        ),
    )
    p_keygen.add_argument(
        "-p",
        dest="public",
        type=Path,
        default=Path("midimon.pub"),
        metavar="KEY.pub",
        help="public key file to write (default ./midimon.pub)",
    )
    p_keygen.add_argument(
        "-s",
        dest="secret",
        type=Path,
        default=None,
        metavar="KEY.key",
        help=f"secret key file to write (default {default_secret_key_path()})",
    )
    p_keygen.add_argument(
        "-W", dest="no_password", action="store_true", help="do not encrypt the secret key"
    )
    p_keygen.add_argument("-f", dest="force", action="store_true", help="overwrite existing keys")
    p_keygen.add_argument("--json", action="store_true", help="print one JSON object")
    p_keygen.set_defaults(handler=cmd_keygen)

    p_sign = commands.add_parser(
        "sign",
        help="sign a plugin's binary and plugin.toml, bound together",
        description=(
            "Sign the plugin's binary (<binary>.minisig) and plugin.toml (plugin.toml.minisig). "
            "The binary's trusted comment carries the plugin name, version and both SHA-256s, so "
            "neither file can be swapped. The signatures verify with minisign -Vm too."
        ),
    )
    p_sign.add_argument("plugin_dir", type=Path, metavar="PLUGIN_DIR", help="the plugin folder")
    p_sign.add_argument(
        "-s",
        dest="secret",
        type=Path,
        default=None,
        metavar="KEY.key",
        help=f"secret key (default {default_secret_key_path()})",
    )
    p_sign.add_argument(
        "-t",
        dest="comment",
        default=None,
        metavar="TEXT",
        help="extra text for the trusted comment (after the binding fields)",
    )
    p_sign.add_argument("--json", action="store_true", help="print one JSON object")
    p_sign.set_defaults(handler=cmd_sign)


def cmd_keygen(args: argparse.Namespace) -> int:
    """``keygen``."""
    secret_path = args.secret or default_secret_key_path()
    for path in (args.public, secret_path):
        if path.exists() and not args.force:
            raise CliError(f"{path} exists; use -f to overwrite it")
    password = None if args.no_password else read_password("Password: ", confirm=True)
    public, secret = generate_keypair()
    try:
        secret_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret.save(secret_path, password)
        public.save(args.public)
    except MinisignError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(
            {
                "key_id": public.key_id_hex,
                "public_key": str(args.public),
                "secret_key": str(secret_path),
                "encrypted": password is not None,
            }
        )
    else:
        print(f"key id {public.key_id_hex}")
        print(f"public key: {args.public}   (give this to users: midimon trust add {args.public})")
        print(f"secret key: {secret_path}   (keep it private; 0600)")
    return EXIT_OK


def load_secret_key(path: Path) -> SecretKey:
    """Load a secret key, asking for its password only when it is encrypted."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{path}: secret key not found; create one with midimon keygen") from None
    try:
        return SecretKey.parse(text, None, source=str(path))
    except WrongPasswordError:
        pass
    except MinisignError as exc:
        raise CliError(str(exc)) from None
    try:
        return SecretKey.parse(text, read_password(f"Password for {path}: "), source=str(path))
    except MinisignError as exc:
        raise CliError(str(exc)) from None


def cmd_sign(args: argparse.Namespace) -> int:
    """``sign PLUGIN_DIR``."""
    folder = args.plugin_dir
    try:
        manifest = load_manifest(folder / MANIFEST_NAME if folder.is_dir() else folder)
    except ManifestError as exc:
        raise CliError(str(exc)) from None
    if manifest.binary is None:
        raise CliError(f"{manifest.path}: {manifest.binary_error}")
    try:
        binary = manifest.binary.read_bytes()
    except OSError as exc:
        raise CliError(f"{manifest.binary}: cannot read the binary: {exc.strerror}") from None
    secret = load_secret_key(args.secret or default_secret_key_path())
    try:
        binary_sig, _ = sign_plugin(manifest, binary, secret, args.comment)
    except MinisignError as exc:
        raise CliError(str(exc)) from None
    result = {
        "plugin": manifest.name,
        "version": manifest.version,
        "key_id": secret.key_id_hex,
        "signatures": [str(signature_path(manifest.binary)), str(signature_path(manifest.path))],
        "trusted_comment": binary_sig.trusted_comment,
    }
    if args.json:
        print_json(result)
    else:
        print(f"signed {manifest.name} {manifest.version} with key {secret.key_id_hex}")
        for path in result["signatures"]:
            print(f"  wrote {path}")
    return EXIT_OK
