"""What the PluginManager hands back: call outcomes and results, and the state of a loaded
plugin; with the two load refusals that are the manager's own."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from midimon.plugins.errors import LoadError, PluginError

if TYPE_CHECKING:  # annotations only: importing Outcome stays cheap
    from midimon.plugins.description.capabilities import Capability
    from midimon.plugins.description.manifest import PluginManifest
    from midimon.plugins.integrity.verify import IntegrityReport
    from midimon.plugins.loading.image import ImageBytes
    from midimon.plugins.manager.stats import PluginStats
    from midimon.plugins.sandbox.grant_paths import FilesystemAccess
    from midimon.plugins.sandbox.runners import Runner


class Outcome(str, Enum):
    """How one execute() ended."""

    OK = "ok"
    FAILED = "failed"  # the plugin returned a failure status
    DENIED = "denied"  # a capability is not granted, or the sandbox refused
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    DISABLED = "disabled"
    UNAVAILABLE = "unavailable"  # unknown plugin, or it failed to load


class ExecutionResult(NamedTuple):
    """The result of one execute() (a NamedTuple: one is made per call, on the hot path)."""

    plugin: str
    outcome: Outcome
    message: str
    status: int | None = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the action succeeded."""
        return self.outcome is Outcome.OK


@dataclass
class StartedCall:
    """A call sent to a plugin's worker and not answered yet (see PluginManager.start_call)."""

    loaded: LoadedPlugin
    stats: PluginStats
    started: float  # time.perf_counter() when it was started
    seq: int = 0
    deadline: float = 0.0
    error: BaseException | None = None  # the send failed: finish_call reports it


class PluginDisabled(PluginError):
    """The plugin is disabled (by the user or after repeated crashes)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(
            f"plugin {name!r} is disabled: {reason}; enable it with midimon plugins enable {name}"
        )


class InProcessRefused(LoadError):
    """In-process mode was asked for a plugin not signed by a trusted key."""


@dataclass
class LoadedPlugin:
    """A verified plugin, its grants, and its runner once started."""

    manifest: PluginManifest
    report: IntegrityReport
    data: ImageBytes  # the verified bytes (the view of their sealed memfd, on Linux)
    granted: frozenset[Capability]
    access: FilesystemAccess
    runner: Runner | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    restart_after: float = 0.0
    needs_restart: bool = False
    loaded_at: float = field(default_factory=time.time)
