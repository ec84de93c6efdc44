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

[plugins.settings.osc_in]        # a plugin's own settings, handed to a trigger plugin's
port = 9000                      # start() as a JSON object

Execution keys (isolation, timeout, rate_limit, rate_burst, memory_mb, max_processes,
max_open_files, max_crashes, crash_window, kernel_sandbox, log_rate_limit, log_rate_burst,
send_midi_rate_limit, send_midi_rate_burst, queue_size, event_rate_limit) go in either table
too. Unknown keys are not errors: they land in ``PluginSettings.warnings``, worded like the
config's others.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon import _toml
from midimon.paths import config_dir
from midimon.plugins.description.capabilities import DEFAULT_AUTO_GRANT, Capability, from_name
from midimon.plugins.errors import SettingsError  # defined there; importable here too

CONFIG_NAME = "config.toml"
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
class ExecutionSettings:
    """How one plugin runs: isolation mode, limits, and when repeated crashes disable it."""

    isolation: str = "isolated"
    timeout: float = 2.0
    rate_limit: float = 100.0
    rate_burst: int = 200
    memory_mb: int = 256
    max_processes: int = 64
    max_open_files: int = 256
    max_crashes: int = 3
    crash_window: float = 60.0
    kernel_sandbox: bool = True
    # In-process plugins only: run its actions on the MIDI input thread itself, skipping the
    # hand-over to an action thread (the lowest latency; the next MIDI event waits for it).
    inline: bool = False
    # Host services (host_limits.py): log lines and send_midi messages per second, and bursts.
    log_rate_limit: float = 100.0
    log_rate_burst: int = 200
    send_midi_rate_limit: float = 1000.0
    send_midi_rate_burst: int = 2000
    # Isolated plugins: calls sent to its worker and not answered, or waiting to be sent; more
    # are dropped and counted (the MIDI thread never waits for a worker).
    queue_size: int = 4096
    # Trigger plugins: events per second a plugin may emit (bursts of one second's worth);
    # more are dropped, counted and audited.
    event_rate_limit: int = 1000


_EXEC_TYPES: dict[str, tuple[type, ...]] = {
    "isolation": (str,),
    "timeout": (int, float),
    "rate_limit": (int, float),
    "rate_burst": (int,),
    "memory_mb": (int,),
    "max_processes": (int,),
    "max_open_files": (int,),
    "max_crashes": (int,),
    "crash_window": (int, float),
    "kernel_sandbox": (bool,),
    "inline": (bool,),
    "log_rate_limit": (int, float),
    "log_rate_burst": (int,),
    "send_midi_rate_limit": (int, float),
    "send_midi_rate_burst": (int,),
    "queue_size": (int,),
    "event_rate_limit": (int,),
}
ISOLATION_MODES = ("isolated", "in-process")


@dataclass(frozen=True)
class PluginSettings:
    """The whole [plugins] table."""

    dirs: tuple[Path, ...] = ()
    policy: SignaturePolicy = SignaturePolicy()
    execution: ExecutionSettings = ExecutionSettings()
    auto_grant: frozenset[Capability] = DEFAULT_AUTO_GRANT
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    exec_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)  # unknown keys, ignored
    # [plugins.settings.<name>]: each plugin's own settings (a trigger plugin's port, device)
    plugin_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # execution_for() results: it runs on every plugin call, and the settings never change
    # (a reload makes a new PluginSettings).
    _execution_cache: dict[str, ExecutionSettings] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def execution_for(self, plugin: str) -> ExecutionSettings:
        """The global execution settings with this plugin's overrides applied."""
        cached = self._execution_cache.get(plugin)
        if cached is None:
            override = self.exec_overrides.get(plugin)
            cached = dataclasses.replace(self.execution, **override) if override else self.execution
            self._execution_cache[plugin] = cached
        return cached

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


def _exec_values(table: dict[str, Any], path: Path | None, prefix: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        types = _EXEC_TYPES.get(key)
        if types is None:
            continue
        dotted = f"{prefix}.{key}"
        if isinstance(value, bool) and bool not in types:
            raise SettingsError(path, dotted, f"must be a number, got {value!r}")
        if not isinstance(value, types):
            kind = "true or false" if bool in types else types[0].__name__
            raise SettingsError(path, dotted, f"must be {kind}, got {value!r}")
        if key == "isolation" and value not in ISOLATION_MODES:
            raise SettingsError(path, dotted, f"{value!r}; expected isolated or in-process")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise SettingsError(path, dotted, f"must be greater than 0, got {value!r}")
        values[key] = value
    return values


def _auto_grant(value: Any, path: Path | None) -> frozenset[Capability]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(path, "plugins.auto_grant", "must be a list of capability names")
    try:
        caps = frozenset(from_name(v) for v in value)
    except ValueError as exc:
        raise SettingsError(path, "plugins.auto_grant", str(exc)) from None
    if Capability.FILESYSTEM in caps:
        raise SettingsError(
            path,
            "plugins.auto_grant",
            "filesystem cannot be granted automatically (a grant names its folders); remove "
            "it and grant each plugin with: midimon plugins grant NAME filesystem --write DIR",
        )
    return caps


_OVERRIDE_KEYS = frozenset(_POLICY_KEYS | _EXEC_TYPES.keys())
_PLUGINS_KEYS = _OVERRIDE_KEYS | {"dirs", "auto_grant", "overrides", "settings"}
MAX_SETTINGS_JSON = 60000  # bytes of one plugin's settings as JSON (a START message's room)


def settings_json(values: dict[str, Any]) -> bytes:
    """One plugin's settings as the JSON object text its start() receives."""
    import json

    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _plugin_settings(value: Any, path: Path | None) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise SettingsError(
            path,
            "plugins.settings",
            "must hold one table per plugin, e.g. [plugins.settings.osc_in]",
        )
    for name, table in value.items():
        try:
            size = len(settings_json(table))
        except (TypeError, ValueError):
            raise SettingsError(
                path,
                f"plugins.settings.{name}",
                "holds a value JSON cannot carry (a date or time); use a string",
            ) from None
        if size > MAX_SETTINGS_JSON:
            raise SettingsError(
                path,
                f"plugins.settings.{name}",
                f"is {size} bytes as JSON; at most {MAX_SETTINGS_JSON}",
            )
    return {name: dict(table) for name, table in value.items()}


def _unknown_keys(
    table: dict[str, Any], known: frozenset[str], path: Path | None, location: str
) -> list[str]:
    """A warning for each key of ``table`` not in ``known``, with the closest known key."""
    where = f"{path}: " if path else ""
    warnings = []
    for key in table:
        if key not in known:
            import difflib  # only to suggest a name for a typo

            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{where}{location}: {key}: unknown key, ignored{hint}")
    return warnings


def parse_plugin_settings(table: dict[str, Any], path: Path | None = None) -> PluginSettings:
    """Validate a [plugins] table; unknown keys become ``warnings``."""
    if not isinstance(table, dict):
        raise SettingsError(path, "plugins", "must be a table")
    warnings = _unknown_keys(table, _PLUGINS_KEYS, path, "plugins")
    dirs = table.get("dirs", [])
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise SettingsError(path, "plugins.dirs", "must be a list of folder paths")
    policy = SignaturePolicy(**_policy_values(table, path, "plugins"))
    overrides: dict[str, dict[str, Any]] = {}
    exec_overrides: dict[str, dict[str, Any]] = {}
    raw_overrides = table.get("overrides", {})
    if not isinstance(raw_overrides, dict):
        raise SettingsError(path, "plugins.overrides", "must be a table of plugin tables")
    for name, sub in raw_overrides.items():
        if not isinstance(sub, dict):
            raise SettingsError(path, f"plugins.overrides.{name}", "must be a table")
        warnings += _unknown_keys(sub, _OVERRIDE_KEYS, path, f"plugins.overrides.{name}")
        overrides[name] = _policy_values(sub, path, f"plugins.overrides.{name}")
        exec_overrides[name] = _exec_values(sub, path, f"plugins.overrides.{name}")
    auto_grant = (
        _auto_grant(table["auto_grant"], path) if "auto_grant" in table else DEFAULT_AUTO_GRANT
    )
    return PluginSettings(
        dirs=tuple(Path(d).expanduser() for d in dirs),
        policy=policy,
        execution=ExecutionSettings(**_exec_values(table, path, "plugins")),
        auto_grant=auto_grant,
        overrides=overrides,
        exec_overrides=exec_overrides,
        source=path,
        warnings=tuple(warnings),
        plugin_settings=_plugin_settings(table.get("settings", {}), path),
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
