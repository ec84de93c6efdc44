"""The trust store: public keys the user trusts to sign plugins, optionally scoped by name.

Kept in ``<config>/trusted_keys/``: ``<KEYID>.pub`` (a minisign public key file) and
``<KEYID>.toml`` (signer name and plugin-name patterns). Every write is atomic.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path

from midimon import _toml
from midimon.fsutil import atomic_write
from midimon.plugins.errors import (
    MinisignError,
    TrustStoreError,  # defined there; importable here too
)
from midimon.plugins.integrity.minisign_keys import PublicKey


@dataclass(frozen=True)
class TrustedKey:
    """One trusted signer: its key, a name, and the plugin-name patterns it may sign."""

    key: PublicKey
    name: str
    plugins: tuple[str, ...] = ()  # fnmatch patterns; empty means any plugin

    @property
    def key_id(self) -> str:
        """The key id as minisign prints it (16 uppercase hex digits)."""
        return self.key.key_id_hex

    def allows(self, plugin_name: str) -> bool:
        """Whether this key may sign a plugin called ``plugin_name``."""
        return not self.plugins or any(fnmatch.fnmatchcase(plugin_name, p) for p in self.plugins)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "plugins": list(self.plugins) or ["*"],
            "public_key": self.key.to_base64(),
        }


def _toml_string(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


class TrustStore:
    """The keys in one ``trusted_keys`` folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _paths(self, key_id: str) -> tuple[Path, Path]:
        return self.directory / f"{key_id}.pub", self.directory / f"{key_id}.toml"

    def get(self, key_id: str) -> TrustedKey | None:
        """The trusted key with this id (case-insensitive hex), or None."""
        key_id = key_id.upper()
        pub_path, meta_path = self._paths(key_id)
        if not pub_path.is_file():
            return None
        try:
            key = PublicKey.load(pub_path)
        except (MinisignError, OSError) as exc:
            raise TrustStoreError(f"{pub_path}: {exc}") from None
        if key.key_id_hex != key_id:
            raise TrustStoreError(
                f"{pub_path}: holds key {key.key_id_hex}, not {key_id}; remove and re-add it"
            )
        name, plugins = "", ()
        if meta_path.is_file():
            try:
                meta = _toml.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, _toml.TOMLDecodeError) as exc:
                raise TrustStoreError(f"{meta_path}: {exc}") from None
            name = str(meta.get("name", ""))
            raw_plugins = meta.get("plugins", [])
            if not isinstance(raw_plugins, list) or not all(
                isinstance(p, str) for p in raw_plugins
            ):
                raise TrustStoreError(f"{meta_path}: plugins must be a list of strings")
            plugins = tuple(raw_plugins)
        return TrustedKey(key, name, plugins)

    def list(self) -> list[TrustedKey]:
        """Every trusted key, sorted by key id."""
        if not self.directory.is_dir():
            return []
        ids = sorted(p.stem for p in self.directory.glob("*.pub"))
        return [key for key in (self.get(i) for i in ids) if key is not None]

    def add(self, key: PublicKey, name: str = "", plugins: tuple[str, ...] = ()) -> TrustedKey:
        """Trust ``key`` (replacing its name and scope if already trusted)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        pub_path, meta_path = self._paths(key.key_id_hex)
        meta = f"name = {_toml_string(name)}\nplugins = [{', '.join(map(_toml_string, plugins))}]\n"
        atomic_write(meta_path, meta.encode("utf-8"), 0o644)
        comment = f"midimon trusted key {key.key_id_hex}" + (f" ({name})" if name else "")
        atomic_write(pub_path, key.to_text(comment.replace("\n", " ")).encode("utf-8"), 0o644)
        return TrustedKey(key, name, plugins)

    def remove(self, key_id: str) -> bool:
        """Stop trusting a key; False when it was not trusted."""
        pub_path, meta_path = self._paths(key_id.upper())
        if not pub_path.exists():
            return False
        os.unlink(pub_path)
        if meta_path.exists():
            os.unlink(meta_path)
        return True
