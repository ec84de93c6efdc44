"""The ``[plugins]`` table of config.toml: search dirs and signature policy, per plugin too.

[plugins]
dirs = ["~/my-plugins"]          # searched before the default path
require_signatures = true        # unsigned plugins are refused ...
dev_mode = false                 # ... unless dev mode is on,
allowed_unsigned = ["<sha256>"]  # ... or their binary's SHA-256 is listed here
allow_legacy_signatures = false  # accept minisign's legacy (non-prehashed) "Ed" signatures
allow_downgrade = false          # accept an older version than one already accepted

[plugins.overrides.my_plugin]    # any of the policy keys above, for one plugin
dev_mode = true
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon import _toml
from midimon.paths import config_dir

CONFIG_NAME = "config.toml"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class SettingsError(ValueError):
    """A [plugins] setting is invalid; names the file and the key."""

    def __init__(self, path: Path | None, key: str, message: str) -> None:
        self.path = path
        self.key = key
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{key}: {message}")


@dataclass(frozen=True)
class SignaturePolicy:
    """What the integrity check accepts for one plugin."""

    require_signatures: bool = True
    dev_mode: bool = False
    allowed_unsigned: frozenset[str] = frozenset()
    allow_legacy_signatures: bool = False
    allow_downgrade: bool = False

    def allows_unsigned(self, sha256: str) -> bool:
        """Whether an unsigned binary with this hash may load."""
        return not self.require_signatures or self.dev_mode or sha256 in self.allowed_unsigned


_POLICY_KEYS = {f.name for f in dataclasses.fields(SignaturePolicy)}


@dataclass(frozen=True)
class PluginSettings:
    """The whole [plugins] table."""

    dirs: tuple[Path, ...] = ()
    policy: SignaturePolicy = SignaturePolicy()
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None

    def policy_for(self, plugin: str) -> SignaturePolicy:
        """The global policy with this plugin's overrides applied."""
        override = self.overrides.get(plugin)
        return dataclasses.replace(self.policy, **override) if override else self.policy

    def with_policy(self, **changes: Any) -> PluginSettings:
        """A copy whose global policy has ``changes`` (e.g. ``dev_mode=True`` from a flag)."""
        return dataclasses.replace(self, policy=dataclasses.replace(self.policy, **changes))


def _policy_values(table: dict[str, Any], path: Path | None, prefix: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _POLICY_KEYS:
            continue
        dotted = f"{prefix}.{key}"
        if key == "allowed_unsigned":
            if not isinstance(value, list) or not all(
                isinstance(v, str) and _SHA256.fullmatch(v.lower()) for v in value
            ):
                raise SettingsError(path, dotted, "must be a list of SHA-256 hex strings")
            values[key] = frozenset(v.lower() for v in value)
        elif not isinstance(value, bool):
            raise SettingsError(path, dotted, f"must be true or false, got {value!r}")
        else:
            values[key] = value
    return values


def parse_plugin_settings(table: dict[str, Any], path: Path | None = None) -> PluginSettings:
    """Validate a [plugins] table."""
    if not isinstance(table, dict):
        raise SettingsError(path, "plugins", "must be a table")
    dirs = table.get("dirs", [])
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise SettingsError(path, "plugins.dirs", "must be a list of folder paths")
    policy = SignaturePolicy(**_policy_values(table, path, "plugins"))
    overrides: dict[str, dict[str, Any]] = {}
    raw_overrides = table.get("overrides", {})
    if not isinstance(raw_overrides, dict):
        raise SettingsError(path, "plugins.overrides", "must be a table of plugin tables")
    for name, sub in raw_overrides.items():
        if not isinstance(sub, dict):
            raise SettingsError(path, f"plugins.overrides.{name}", "must be a table")
        overrides[name] = _policy_values(sub, path, f"plugins.overrides.{name}")
    return PluginSettings(
        dirs=tuple(Path(d).expanduser() for d in dirs),
        policy=policy,
        overrides=overrides,
        source=path,
    )


def load_plugin_settings(path: Path | None = None) -> PluginSettings:
    """Read [plugins] from config.toml (default: the user's); defaults when the file is absent."""
    path = path or config_dir() / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PluginSettings()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(path, "(file)", f"cannot read: {exc}") from None
    try:
        doc = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise SettingsError(path, "(file)", f"invalid TOML: {exc}") from None
    return parse_plugin_settings(doc.get("plugins", {}), path)
