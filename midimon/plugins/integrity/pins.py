"""Signer continuity: a plugin name belongs to the signer it was first accepted from.

Like SSH's known_hosts: the first accepted signer of a name is recorded in
``<state>/signers.json``; the names of the plugins bundled with midimon are pinned to the
installation (signer ``bundled``) without any record. A later binary of that name signed by
another key is refused (at install, verify and load) unless the user re-pins the name on
purpose (``midimon trust pin NAME KEYID``) or the old key signed a rotation statement naming
the new one (see :mod:`midimon.plugins.integrity.rotation`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from midimon.fsutil import atomic_write
from midimon.paths import bundled_plugins_dir, state_dir
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.integrity.minisign import Signature
from midimon.plugins.integrity.minisign_format import MinisignError

#: The signer id of the plugins shipped with this midimon installation (checked by RECORD).
BUNDLED = "bundled"


@dataclass(frozen=True)
class Pin:
    """The signer a plugin name belongs to."""

    name: str
    signer: str  # a key id (16 uppercase hex digits) or BUNDLED
    how: str  # "bundled" (implicit), "first use", "re-pinned", "rotation"
    public_key: str | None = None  # base64, kept to check rotation statements by this key
    pinned_at: float = 0.0


def repin_command(name: str, signer: str) -> str:
    """The command that hands ``name`` to ``signer`` on purpose."""
    return f"midimon trust pin {name} {signer}"


class PinStore:
    """``{name: {"signer", "how", "public_key", "pinned_at"}}`` in one JSON file, written
    atomically. A name absent from the file is still pinned when it is a bundled plugin's."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_user(cls) -> PinStore:
        """The user's pins (``<state>/signers.json``)."""
        return cls(state_dir() / "signers.json")

    def _read(self) -> dict[str, Any]:  # parsed JSON: each entry is checked where read
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(
                f"{self.path}: unreadable signer pins: {exc}; fix or remove the file "
                "(every name is then pinned again on first use)"
            ) from None
        return data if isinstance(data, dict) else {}

    def recorded(self, name: str) -> Pin | None:
        """The pin written for ``name``, or None."""
        entry = self._read().get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("signer"), str):
            return None
        return Pin(
            name,
            entry["signer"],
            str(entry.get("how", "")),
            entry.get("public_key"),
            float(entry.get("pinned_at", 0)),
        )

    def get(self, name: str) -> Pin | None:
        """The signer ``name`` belongs to: its record, else the installation for a bundled
        plugin's name, else None (not pinned yet)."""
        pin = self.recorded(name)
        if pin is None and name in bundled_names(bundled_plugins_dir()):
            return Pin(name, BUNDLED, "bundled")
        return pin

    def all(self) -> list[Pin]:
        """Every pin: the recorded ones and the implicit ones of bundled names, by name."""
        names = set(self._read()) | bundled_names(bundled_plugins_dir())
        return [pin for pin in (self.get(n) for n in sorted(names)) if pin is not None]

    def set(self, pin: Pin) -> None:
        """Record ``pin`` (replacing the name's previous one)."""
        data = self._read()
        entry = asdict(pin)
        del entry["name"]
        entry["pinned_at"] = pin.pinned_at or time.time()
        data[pin.name] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), 0o600)


@cache
def bundled_names(directory: Path) -> frozenset[str]:
    """Names of the plugins shipped in ``directory`` (the installation's bundled plugins)."""
    from midimon.plugins.description.discovery import discover  # discovery uses this module

    return frozenset(discover([directory], pins=NO_PINS).plugins)


def is_bundled_copy(manifest: PluginManifest) -> bool:
    """Whether this copy lives in the installation's bundled plugins folder."""
    return manifest.directory.resolve().is_relative_to(bundled_plugins_dir().resolve())


def claimed_signer(manifest: PluginManifest) -> str | None:
    """Who this copy says signed it, read without verifying anything (discovery uses it to
    pick among copies; the integrity check verifies it): BUNDLED for a bundled copy, else the
    key id of ``<binary>.minisig``, else None (unsigned or unreadable)."""
    if is_bundled_copy(manifest):
        return BUNDLED
    if manifest.binary is None:
        return None
    try:
        text = manifest.binary.with_name(manifest.binary.name + ".minisig").read_bytes()
        return Signature.parse(text).key_id_hex
    except (OSError, MinisignError):
        return None


class _NoPins(PinStore):
    """No pins at all (discovery of the bundled folder itself)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent/signers.json"))

    def get(self, name: str) -> Pin | None:
        """Nothing is pinned."""
        return None


NO_PINS: PinStore = _NoPins()
