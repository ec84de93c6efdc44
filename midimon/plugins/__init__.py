"""The native plugin system: ABI, manifests, capabilities, discovery, loading."""

from __future__ import annotations

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
