"""What the PluginManager hands back: call outcomes and results, and the state of a loaded
plugin (the manager's two refusals, PluginDisabled and InProcessRefused, are in
plugins.errors)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Protocol

from midimon.plugins.errors import InProcessRefused, PluginDisabled

if TYPE_CHECKING:  # annotations only: importing Outcome stays cheap
    from collections.abc import Callable

    from midimon.plugins.description.capabilities import Capability
    from midimon.plugins.description.manifest import PluginManifest
    from midimon.plugins.integrity.verify import IntegrityReport
    from midimon.plugins.loading.image import ImageBytes
    from midimon.plugins.manager.stats import PluginStats
    from midimon.plugins.sandbox.grant_paths import FilesystemAccess
    from midimon.plugins.sandbox.runners import Runner

# The two refusals are defined in plugins.errors; still importable from here.
__all__ = [
    "ExecutionResult",
    "InProcessRefused",
    "LoadedPlugin",
    "Outcome",
    "PluginDisabled",
    "StartedCall",
]


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
    DROPPED = "dropped"  # the plugin's call queue was full: never sent to its worker
    NOT_RUN = "not_run"  # queued behind a call its worker crashed or timed out in


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


class StartedCall:
    """A call handed to a plugin's worker and maybe not answered yet (PluginManager.start_call).

    ``result`` is set once it is answered (or failed); then ``on_done(call)`` runs, on the
    worker's reader thread, or a thread waiting in finish_call() wakes."""

    __slots__ = ("event", "loaded", "on_done", "result", "runner", "started", "stats")

    def __init__(
        self,
        loaded: LoadedPlugin,
        stats: PluginStats,
        started: float,
        runner: Runner,
        on_done: Callable[[StartedCall], None] | None,
    ) -> None:
        self.loaded = loaded
        self.stats = stats
        self.started = started  # time.perf_counter() when it was started
        self.runner = runner  # the runner it went to (a restart may replace loaded.runner)
        self.on_done = on_done
        self.result: ExecutionResult | None = None
        self.event: threading.Event | None = None if on_done else threading.Event()


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


class ResultMaker(Protocol):
    """How the manager makes one call's ExecutionResult (name and elapsed time filled in)."""

    def __call__(
        self, outcome: Outcome, message: str, status: int | None = None
    ) -> ExecutionResult: ...
