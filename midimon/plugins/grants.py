"""Persistent per-plugin state: capability grants (keyed by name AND binary SHA-256) and
disabled flags, in one JSON file in the state dir, written atomically."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.fsutil import atomic_write
from midimon.plugins.capabilities import Capability


@dataclass(frozen=True)
class Grant:
    """One granted capability; Filesystem grants may carry the paths they allow."""

    capability: Capability
    paths: tuple[str, ...] = ()
    granted_at: float = 0.0


class PluginStateStore:
    """``{plugin: {"sha256": ..., "grants": {cap: {...}}, "disabled": reason|null}}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(f"{self.path}: unreadable plugin state: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        atomic_write(self.path, text.encode("utf-8"), 0o600)

    def grants(self, plugin: str, sha256: str) -> dict[Capability, Grant]:
        """Grants given to this exact binary (a different SHA-256 has none)."""
        entry = self._read().get(plugin, {})
        if entry.get("sha256") != sha256:
            return {}
        result = {}
        for name, info in entry.get("grants", {}).items():
            try:
                cap = Capability(name)
            except ValueError:
                continue
            result[cap] = Grant(cap, tuple(info.get("paths", ())), float(info.get("granted_at", 0)))
        return result

    def grant(self, plugin: str, sha256: str, grant: Grant) -> None:
        """Add (or replace) one grant for this binary; grants for another binary are dropped."""
        with self._lock:
            data = self._read()
            entry = data.setdefault(plugin, {})
            if entry.get("sha256") != sha256:
                entry["sha256"] = sha256
                entry["grants"] = {}
            entry.setdefault("grants", {})[grant.capability.value] = {
                "paths": list(grant.paths),
                "granted_at": grant.granted_at or time.time(),
            }
            self._write(data)

    def revoke(self, plugin: str, capability: Capability) -> bool:
        """Remove a grant; False when there was none."""
        with self._lock:
            data = self._read()
            grants = data.get(plugin, {}).get("grants", {})
            if capability.value not in grants:
                return False
            del grants[capability.value]
            self._write(data)
            return True

    def disabled_reason(self, plugin: str) -> str | None:
        """Why the plugin is disabled, or None when it is enabled."""
        return self._read().get(plugin, {}).get("disabled")

    def set_disabled(self, plugin: str, reason: str | None) -> None:
        """Disable (with a reason) or enable (None) a plugin, persistently."""
        with self._lock:
            data = self._read()
            data.setdefault(plugin, {})["disabled"] = reason
            self._write(data)
