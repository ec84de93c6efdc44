"""The native plugin system, in the order a plugin goes through it.

- ``description/``: what a plugin says it is (manifest, capabilities) and where it is found;
- ``integrity/``: is this exact binary what a trusted signer published (minisign, trust, pins,
  rotation, rollback, verify, signing, packs);
- ``loading/``: verified bytes become a callable plugin behind the C ABI;
- ``sandbox/``: the plugin runs in a confined worker process;
- ``manager/``: the daemon's plugins at run time (grants, limits, stats, audit, readiness);
- ``errors.py`` and ``settings.py`` (the ``[plugins]`` table) are used by every stage;
- ``hazmat.py``: the unverified and unsandboxed loaders, for tests, benchmarks and dev tools.

This package is the facade the daemon and the CLI use: the manager, its results, the plugin
description, the integrity check, and every plugin error (all in ``errors.py``, all
PluginErrors). The public names below are imported on first use (PEP 562), so a command that
needs one submodule (``midimon verify``) does not pay for importing all of them. The loaders
that skip the integrity check or the sandbox are not here: they are in ``hazmat.py``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from midimon.plugins.description.capabilities import (
        Capability,
        RiskLevel,
        from_name,
        sorted_caps,
    )
    from midimon.plugins.description.discovery import DiscoveredPlugin, DiscoveryResult, discover
    from midimon.plugins.description.manifest import PluginManifest, load_manifest
    from midimon.plugins.description.params_schema import ParamSpec, ParamsSchema, check_params
    from midimon.plugins.errors import (
        AbiMismatch,
        BinaryFormatError,
        ChecksumMismatch,
        FilesystemPathMissing,
        ImageChanged,
        InProcessRefused,
        IntegrityError,
        InvalidPluginStruct,
        LoadError,
        ManifestError,
        ManifestMismatch,
        MinisignError,
        MissingEntryPoint,
        NotASharedObject,
        NullPlugin,
        PackagingError,
        PluginCallError,
        PluginDisabled,
        PluginError,
        PluginNotFound,
        RollbackRefused,
        RotationError,
        SettingsError,
        TrustStoreError,
        UnsafeGrantPath,
        WorkerCrashed,
        WorkerError,
        WorkerLoadFailed,
        WorkerTimeout,
    )
    from midimon.plugins.integrity.minisign_keys import PublicKey
    from midimon.plugins.integrity.trust import TrustStore
    from midimon.plugins.integrity.verify import IntegrityChecker, IntegrityReport, load_verified
    from midimon.plugins.loading.context import TriggerContext, TriggerKind
    from midimon.plugins.loading.loader import HostServices, LoggingHost, NativePlugin
    from midimon.plugins.loading.protocol import ActionPlugin
    from midimon.plugins.manager.audit import AuditLog
    from midimon.plugins.manager.grant_admin import GrantAdmin
    from midimon.plugins.manager.grants import Grant, PluginStateStore
    from midimon.plugins.manager.plugin_manager import PluginManager
    from midimon.plugins.manager.readiness import Readiness, ReadinessChecker
    from midimon.plugins.manager.results import ExecutionResult, Outcome
    from midimon.plugins.settings import PluginSettings, load_plugin_settings

_SOURCES = {
    "description.capabilities": ("Capability", "RiskLevel", "from_name", "sorted_caps"),
    "description.discovery": ("DiscoveredPlugin", "DiscoveryResult", "discover"),
    "description.manifest": ("PluginManifest", "load_manifest"),
    "description.params_schema": ("ParamSpec", "ParamsSchema", "check_params"),
    "errors": (
        "AbiMismatch",
        "BinaryFormatError",
        "ChecksumMismatch",
        "FilesystemPathMissing",
        "ImageChanged",
        "InProcessRefused",
        "IntegrityError",
        "InvalidPluginStruct",
        "LoadError",
        "ManifestError",
        "ManifestMismatch",
        "MinisignError",
        "MissingEntryPoint",
        "NotASharedObject",
        "NullPlugin",
        "PackagingError",
        "PluginCallError",
        "PluginDisabled",
        "PluginError",
        "PluginNotFound",
        "RollbackRefused",
        "RotationError",
        "SettingsError",
        "TrustStoreError",
        "UnsafeGrantPath",
        "WorkerCrashed",
        "WorkerError",
        "WorkerLoadFailed",
        "WorkerTimeout",
    ),
    "integrity.minisign_keys": ("PublicKey",),
    "integrity.trust": ("TrustStore",),
    "integrity.verify": ("IntegrityChecker", "IntegrityReport", "load_verified"),
    "loading.context": ("TriggerContext", "TriggerKind"),
    "loading.loader": ("HostServices", "LoggingHost", "NativePlugin"),
    "loading.protocol": ("ActionPlugin",),
    "manager.audit": ("AuditLog",),
    "manager.grant_admin": ("GrantAdmin",),
    "manager.grants": ("Grant", "PluginStateStore"),
    "manager.plugin_manager": ("PluginManager",),
    "manager.readiness": ("Readiness", "ReadinessChecker"),
    "manager.results": ("ExecutionResult", "Outcome"),
    "settings": ("PluginSettings", "load_plugin_settings"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


__all__ = [
    "AbiMismatch",
    "ActionPlugin",
    "AuditLog",
    "BinaryFormatError",
    "Capability",
    "ChecksumMismatch",
    "DiscoveredPlugin",
    "DiscoveryResult",
    "ExecutionResult",
    "FilesystemPathMissing",
    "Grant",
    "GrantAdmin",
    "HostServices",
    "ImageChanged",
    "InProcessRefused",
    "IntegrityChecker",
    "IntegrityError",
    "IntegrityReport",
    "InvalidPluginStruct",
    "LoadError",
    "LoggingHost",
    "ManifestError",
    "ManifestMismatch",
    "MinisignError",
    "MissingEntryPoint",
    "NativePlugin",
    "NotASharedObject",
    "NullPlugin",
    "Outcome",
    "PackagingError",
    "ParamSpec",
    "ParamsSchema",
    "PluginCallError",
    "PluginDisabled",
    "PluginError",
    "PluginManager",
    "PluginManifest",
    "PluginNotFound",
    "PluginSettings",
    "PluginStateStore",
    "PublicKey",
    "Readiness",
    "ReadinessChecker",
    "RiskLevel",
    "RollbackRefused",
    "RotationError",
    "SettingsError",
    "TriggerContext",
    "TriggerKind",
    "TrustStore",
    "TrustStoreError",
    "UnsafeGrantPath",
    "WorkerCrashed",
    "WorkerError",
    "WorkerLoadFailed",
    "WorkerTimeout",
    "check_params",
    "discover",
    "from_name",
    "load_manifest",
    "load_plugin_settings",
    "load_verified",
    "sorted_caps",
]
