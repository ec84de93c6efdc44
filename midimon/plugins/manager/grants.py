"""Persistent per-plugin state: capability grants (keyed by name AND binary SHA-256) and
disabled flags, in one JSON file in the state dir, written atomically."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.fsutil import atomic_write
from midimon.plugins.description.capabilities import Capability

RECHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Grant:
    """One granted capability; a Filesystem grant carries the paths it allows: ``write_paths``
    may be read and written, ``read_paths`` only read."""

    capability: Capability
    write_paths: tuple[str, ...] = ()
    granted_at: float = 0.0
    read_paths: tuple[str, ...] = ()

    @property
    def all_paths(self) -> tuple[str, ...]:
        """Every path this grant names, read-only or not."""
        return (*self.read_paths, *self.write_paths)


def _grant_from_json(cap: Capability, info: dict[str, Any]) -> Grant:
    # Files written before read and write were separate have one "paths" list: those paths
    # were granted read-write, so they load as write paths.
    writes = info.get("write", info.get("paths", ()))
    return Grant(
        cap,
        tuple(str(p) for p in writes),
        float(info.get("granted_at", 0)),
        tuple(str(p) for p in info.get("read", ())),
    )


class PluginStateStore:
    """``{plugin: {"sha256": ..., "signer": ..., "grants": {cap: {...}}, "disabled": ...}}``.

    Grants belong to one binary (its SHA-256) from one signer (a key id, "bundled", or null for
    an unsigned binary): nothing is inherited by another signer's copy of the name. An entry
    written before signers were recorded has no "signer" and matches any signer.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # The parsed file and the (mtime, size, inode) it was parsed at: execute() asks for the
        # disabled flag on every call, and a stat is far cheaper than a read and a parse.
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None
        self._checked_at = 0.0
        self.on_change: Callable[[], None] | None = None  # after each write (the manager's)

    def _parsed(self) -> dict[str, Any]:
        """The parsed file, shared with the cache: callers must not modify it.

        Our own writes refresh the cache at once; a change made by another process is seen
        within RECHECK_SECONDS (one stat per interval, not one per plugin call).
        """
        cached = self._cache
        now = time.monotonic()
        if cached is not None and now - self._checked_at < RECHECK_SECONDS:
            return cached[1]
        self._checked_at = now
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._cache = ((0, 0, 0), {})  # no file yet: nothing granted, nothing disabled
            return self._cache[1]
        key = (info.st_mtime_ns, info.st_size, info.st_ino)
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._cache = ((0, 0, 0), {})
            return self._cache[1]
        except (OSError, ValueError) as exc:
            raise OSError(f"{self.path}: unreadable plugin state: {exc}") from None
        data = data if isinstance(data, dict) else {}
        self._cache = (key, data)
        return data

    def _read(self) -> dict[str, Any]:
        """A private copy of the file's contents, to modify and write back."""
        return copy.deepcopy(self._parsed())

    def _entry(self, plugin: str) -> dict[str, Any]:
        """One plugin's entry, read-only: for the per-call lookups."""
        entry = self._parsed().get(plugin, {})
        return entry if isinstance(entry, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        atomic_write(self.path, text.encode("utf-8"), 0o600)
        self._checked_at = 0.0  # re-stat on the next read: it picks up what we just wrote
        if self.on_change is not None:
            self.on_change()

    @staticmethod
    def _owned_by(entry: dict[str, Any], sha256: str, signer: str | None) -> bool:
        """Whether the entry's grants belong to this binary from this signer."""
        return entry.get("sha256") == sha256 and entry.get("signer", signer) == signer

    def grants(
        self, plugin: str, sha256: str, signer: str | None = None
    ) -> dict[Capability, Grant]:
        """Grants given to this exact binary from this signer (another SHA-256 or another
        signer has none)."""
        entry = self._entry(plugin)
        if not self._owned_by(entry, sha256, signer):
            return {}
        result = {}
        for name, info in entry.get("grants", {}).items():
            try:
                cap = Capability(name)
            except ValueError:
                continue
            result[cap] = _grant_from_json(cap, info)
        return result

    def all_grants(self) -> dict[str, dict[Capability, Grant]]:
        """Every stored grant of every plugin, whatever binary it was given to (for the
        start-up check of grants saved under older rules)."""
        result: dict[str, dict[Capability, Grant]] = {}
        for plugin, entry in self._parsed().items():
            if not isinstance(entry, dict):
                continue
            for name, info in (entry.get("grants") or {}).items():
                try:
                    cap = Capability(name)
                except ValueError:
                    continue
                if isinstance(info, dict):
                    result.setdefault(plugin, {})[cap] = _grant_from_json(cap, info)
        return result

    def grant(self, plugin: str, sha256: str, grant: Grant, signer: str | None = None) -> None:
        """Add (or replace) one grant for this binary from ``signer``; grants for another
        binary or another signer are dropped."""
        with self._lock:
            data = self._read()
            entry = data.setdefault(plugin, {})
            if not self._owned_by(entry, sha256, signer):
                entry["grants"] = {}
            entry["sha256"] = sha256
            entry["signer"] = signer
            entry.setdefault("grants", {})[grant.capability.value] = {
                "read": list(grant.read_paths),
                "write": list(grant.write_paths),
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

    def forget(self, plugin: str) -> bool:
        """Remove everything stored about a plugin (grants, disabled flag), as on uninstall;
        False when there was nothing."""
        with self._lock:
            data = self._read()
            if plugin not in data:
                return False
            del data[plugin]
            self._write(data)
            return True

    def disabled_reason(self, plugin: str) -> str | None:
        """Why the plugin is disabled, or None when it is enabled."""
        return self._entry(plugin).get("disabled")

    def set_disabled(self, plugin: str, reason: str | None) -> None:
        """Disable (with a reason) or enable (None) a plugin, persistently."""
        with self._lock:
            data = self._read()
            data.setdefault(plugin, {})["disabled"] = reason
            self._write(data)
