"""The native plugin system: ABI, manifests, capabilities, discovery, loading.

The public names below are imported on first use (PEP 562), so a command that needs one
submodule (``midimon verify``) does not pay for importing all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from midimon.plugins.capabilities import Capability, RiskLevel
    from midimon.plugins.context import TriggerContext, TriggerKind
    from midimon.plugins.discovery import DiscoveredPlugin, DiscoveryResult, discover
    from midimon.plugins.errors import (
        AbiMismatch,
        ChecksumMismatch,
        InvalidPluginStruct,
        LoadError,
        ManifestError,
        ManifestMismatch,
        MissingEntryPoint,
        NotASharedObject,
        NullPlugin,
        PluginCallError,
        PluginError,
        PluginNotFound,
    )
    from midimon.plugins.integrity import IntegrityError, IntegrityReport, load_verified
    from midimon.plugins.loader import HostServices, NativePlugin, load_unverified
    from midimon.plugins.manifest import PluginManifest, load_manifest
    from midimon.plugins.protocol import ActionPlugin

_SOURCES = {
    "capabilities": ("Capability", "RiskLevel"),
    "context": ("TriggerContext", "TriggerKind"),
    "discovery": ("DiscoveredPlugin", "DiscoveryResult", "discover"),
    "errors": (
        "AbiMismatch",
        "ChecksumMismatch",
        "InvalidPluginStruct",
        "LoadError",
        "ManifestError",
        "ManifestMismatch",
        "MissingEntryPoint",
        "NotASharedObject",
        "NullPlugin",
        "PluginCallError",
        "PluginError",
        "PluginNotFound",
    ),
    "integrity": ("IntegrityError", "IntegrityReport", "load_verified"),
    "loader": ("HostServices", "NativePlugin", "load_unverified"),
    "manifest": ("PluginManifest", "load_manifest"),
    "protocol": ("ActionPlugin",),
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
    "Capability",
    "ChecksumMismatch",
    "DiscoveredPlugin",
    "DiscoveryResult",
    "HostServices",
    "IntegrityError",
    "IntegrityReport",
    "InvalidPluginStruct",
    "LoadError",
    "ManifestError",
    "ManifestMismatch",
    "MissingEntryPoint",
    "NativePlugin",
    "NotASharedObject",
    "NullPlugin",
    "PluginCallError",
    "PluginError",
    "PluginManifest",
    "PluginNotFound",
    "RiskLevel",
    "TriggerContext",
    "TriggerKind",
    "discover",
    "load_manifest",
    "load_unverified",
    "load_verified",
]
