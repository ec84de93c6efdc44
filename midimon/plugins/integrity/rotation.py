"""Signer key rotation: the old key signs a statement naming the new key.

A statement is two files in the plugin folder (``midimon pack`` ships them):
``rotate-<OLD>-<NEW>.txt`` and its minisign signature ``rotate-<OLD>-<NEW>.txt.minisig``, made
by the OLD key. The text::

    midimon signer rotation v1
    old: <OLD key id>
    new: <NEW key id>
    new_public_key: <NEW public key, base64 as in a .pub file>
    plugins: <name or glob>, ...

and the signature's trusted comment carries ``rotation``, ``old:<OLD>`` and ``new:<NEW>``, so
neither the text nor the comment can be re-aimed at another key. Statements chain (A->B, B->C).
The new key must still be trusted (and in scope) to sign the binary: a statement only moves the
name's pin, it trusts nothing by itself.
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass
from pathlib import Path

from midimon.plugins.errors import (
    MinisignError,
    RotationError,  # defined there; importable here too
)
from midimon.plugins.integrity.minisign import Signature, sign, verify
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey

MAGIC = "midimon signer rotation v1"
FILE_PATTERN = re.compile(r"rotate-[0-9A-F]{16}-[0-9A-F]{16}\.txt(\.minisig)?")
MAX_CHAIN = 8


@dataclass(frozen=True)
class Rotation:
    """One verified statement: ``old`` hands the plugins matching ``plugins`` to ``new``."""

    old: str
    new: str
    new_key: PublicKey
    plugins: tuple[str, ...]
    file: Path


def statement_name(old: str, new: str) -> str:
    """The statement's file name for a rotation from key ``old`` to key ``new``."""
    return f"rotate-{old.upper()}-{new.upper()}.txt"


def is_rotation_file(relative: str) -> bool:
    """Whether a package member is a rotation statement or its signature."""
    return FILE_PATTERN.fullmatch(relative) is not None


def write_statement(
    old_secret: SecretKey, new_key: PublicKey, plugins: tuple[str, ...], folder: Path
) -> Path:
    """Write (and sign with ``old_secret``) the statement handing ``plugins`` to ``new_key``
    into ``folder``; return the statement's path."""
    if not plugins:
        raise RotationError("a rotation statement needs at least one plugin name or glob")
    old, new = old_secret.key_id_hex, new_key.key_id_hex
    text = (
        f"{MAGIC}\nold: {old}\nnew: {new}\nnew_public_key: {new_key.to_base64()}\n"
        f"plugins: {', '.join(plugins)}\n"
    ).encode()
    path = Path(folder) / statement_name(old, new)
    comment = f"timestamp:{int(time.time())}\tfile:{path.name}\trotation\told:{old}\tnew:{new}"
    signature = sign(text, old_secret, comment)
    path.write_bytes(text)
    signature.save(path.with_name(path.name + ".minisig"))
    return path


def _parse_text(path: Path, text: bytes) -> dict[str, str]:
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise RotationError(f"{path}: not UTF-8 text") from None
    if not lines or lines[0] != MAGIC:
        raise RotationError(f"{path}: line 1 must be {MAGIC!r}")
    fields = {}
    for number, line in enumerate(lines[1:], start=2):
        key, sep, value = line.partition(": ")
        if not sep or key not in ("old", "new", "new_public_key", "plugins") or key in fields:
            raise RotationError(
                f"{path}: line {number} is not one of old/new/new_public_key/plugins"
            )
        fields[key] = value.strip()
    missing = {"old", "new", "new_public_key", "plugins"} - set(fields)
    if missing:
        raise RotationError(f"{path}: missing {', '.join(sorted(missing))}")
    return fields


def read_statement(path: Path, old_key: PublicKey) -> Rotation:
    """Verify one statement against the key it claims to come from; RotationError if bad."""
    sig_path = path.with_name(path.name + ".minisig")
    try:
        text = path.read_bytes()
        signature = Signature.parse(sig_path.read_bytes(), source=str(sig_path))
    except FileNotFoundError as exc:
        raise RotationError(f"{exc.filename}: missing (the statement needs both files)") from None
    except (OSError, MinisignError) as exc:
        raise RotationError(f"{path}: {exc}") from None
    try:
        verify(text, signature, old_key)
    except MinisignError as exc:
        raise RotationError(
            f"{path}: not signed by the old key {old_key.key_id_hex}: {exc}"
        ) from None
    fields = _parse_text(path, text)
    comment = signature.trusted_fields
    stated = (fields["old"], fields["new"])
    if stated != (comment.get("old"), comment.get("new")) or "rotation" not in (
        signature.trusted_comment.split("\t")
    ):
        raise RotationError(
            f"{path}: the signed comment does not name this rotation "
            f"(expected rotation, old:{stated[0]}, new:{stated[1]})"
        )
    if path.name != statement_name(*stated) or stated[0] != old_key.key_id_hex:
        raise RotationError(f"{path}: the file name and the old/new key ids disagree")
    try:
        new_key = PublicKey.from_base64(fields["new_public_key"], source=str(path))
    except MinisignError as exc:
        raise RotationError(f"{path}: new_public_key: {exc}") from None
    if new_key.key_id_hex != stated[1]:
        raise RotationError(
            f"{path}: new_public_key has key id {new_key.key_id_hex}, not {stated[1]}"
        )
    plugins = tuple(p.strip() for p in fields["plugins"].split(",") if p.strip())
    return Rotation(stated[0], stated[1], new_key, plugins, path)


def find_chain(
    folder: Path, plugin: str, old_key: PublicKey, new_key_id: str
) -> list[Rotation] | None:
    """The verified statements in ``folder`` leading from ``old_key`` to ``new_key_id`` for
    ``plugin``, or None when there is no such chain. RotationError when a statement on the way
    is present but invalid (a tampered statement is refused, not ignored)."""
    chain: list[Rotation] = []
    key = old_key
    for _ in range(MAX_CHAIN):
        candidates = sorted(folder.glob(f"rotate-{key.key_id_hex}-*.txt"))
        step = None
        for path in candidates:
            rotation = read_statement(path, key)
            if any(fnmatch.fnmatchcase(plugin, p) for p in rotation.plugins):
                step = rotation
                if rotation.new == new_key_id:
                    break
        if step is None:
            return None
        chain.append(step)
        if step.new == new_key_id:
            return chain
        key = step.new_key
    return None
