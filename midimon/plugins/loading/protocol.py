"""The ActionPlugin protocol: what the engine needs of any action plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext


@runtime_checkable
class ActionPlugin(Protocol):
    """An action plugin: named, versioned, declaring capabilities, run once per trigger."""

    @property
    def name(self) -> str:
        """Unique plugin name, ``[a-z0-9_]+``."""
        ...

    @property
    def version(self) -> str:
        """Plugin version, like 1.2.3."""
        ...

    @property
    def description(self) -> str:
        """One line saying what the action does."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the plugin needs granted."""
        ...

    def initialize(self) -> None:
        """Prepare to run; raise on failure."""
        ...

    def execute(self, params: Mapping[str, Any] | str, context: TriggerContext) -> str:
        """Run once for a trigger; return result text or raise with the plugin's error."""
        ...

    def shutdown(self) -> None:
        """Release everything; no more execute() afterwards."""
        ...
