"""Anti-rollback: remember the newest accepted (version, signature time) of each plugin."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.fsutil import atomic_write

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?")

# A release sorts as (1,), a pre-release as (0, one (0, number) or (1, word) per dotted part).
_PreReleaseKey = tuple[int | tuple[int, int | str], ...]
VersionKey = tuple[int, int, int, _PreReleaseKey]


def version_key(version: str) -> VersionKey:
    """Sort key for versions like 1.2.3 and 1.2.3-rc.1 (a pre-release sorts before its release)."""
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"not a version like 1.2.3: {version!r}")
    major, minor, patch, pre = match.groups()
    pre_key: _PreReleaseKey = (
        (1,)
        if pre is None
        else (0, *((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")))
    )
    return (int(major), int(minor), int(patch), pre_key)


@dataclass(frozen=True)
class Accepted:
    """The newest accepted release of one plugin."""

    version: str
    timestamp: int | None  # the signature's trusted timestamp, when it had one
    signer: str | None = None  # the pinned signer it was accepted from (key id or "bundled")


class RollbackRefused(Exception):
    """The plugin is older than one already accepted."""

    def __init__(self, plugin: str, offered: Accepted, newest: Accepted) -> None:
        self.plugin = plugin
        self.offered = offered
        self.newest = newest
        if offered.version != newest.version:
            what = f"version {offered.version} is older than {newest.version}"
        else:
            what = (
                f"its signature (timestamp {offered.timestamp}) is older than the accepted one "
                f"(timestamp {newest.timestamp})"
            )
        super().__init__(
            f"rollback refused for {plugin}: {what}, accepted before; allow a downgrade "
            f"explicitly if you mean it"
        )


class RollbackStore:
    """A JSON file mapping plugin name -> newest accepted {version, timestamp, signer}.

    A record belongs to the signer it was accepted from: after the name is re-pinned to another
    signer, the old signer's record neither blocks nor protects the new signer's releases."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:  # parsed JSON: each entry is checked where read
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(f"{self.path}: unreadable anti-rollback records: {exc}") from None
        return data if isinstance(data, dict) else {}

    def newest(self, plugin: str) -> Accepted | None:
        """The newest accepted release of ``plugin``, or None."""
        entry = self._read().get(plugin)
        if not isinstance(entry, dict) or "version" not in entry:
            return None
        return Accepted(str(entry["version"]), entry.get("timestamp"), entry.get("signer"))

    @staticmethod
    def _same_signer(offered: Accepted, newest: Accepted) -> bool:
        # A record without a signer predates signer pinning, and an unsigned copy (allowed by
        # policy) has no signer of its own: both stay bound by the record, as before pinning.
        return newest.signer is None or offered.signer is None or offered.signer == newest.signer

    def check(self, plugin: str, offered: Accepted) -> None:
        """Raise RollbackRefused when ``offered`` is older than the newest accepted."""
        newest = self.newest(plugin)
        if newest is None or not self._same_signer(offered, newest):
            return
        offered_key, newest_key = version_key(offered.version), version_key(newest.version)
        if offered_key < newest_key:
            raise RollbackRefused(plugin, offered, newest)
        if (
            offered_key == newest_key
            and offered.timestamp is not None
            and newest.timestamp is not None
            and offered.timestamp < newest.timestamp
        ):
            raise RollbackRefused(plugin, offered, newest)

    def record(self, plugin: str, accepted: Accepted) -> None:
        """Remember ``accepted`` if it is newer than what is recorded (atomic write)."""
        data = self._read()
        current = self.newest(plugin)
        if current is not None and self._same_signer(accepted, current):
            newer = (version_key(accepted.version), accepted.timestamp or 0) > (
                version_key(current.version),
                current.timestamp or 0,
            )
            if not newer:
                return
        data[plugin] = {
            "version": accepted.version,
            "timestamp": accepted.timestamp,
            "signer": accepted.signer,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), 0o600)
