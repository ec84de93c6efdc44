"""The daemon's counters: what it has done since it started (STATUS reports them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Counters:
    """What the daemon has done since it started."""

    midi_in: int = 0
    dropped: int = 0  # actions dropped: the action queue was full (the input never waits)
    triggers: int = 0
    actions_ok: int = 0
    actions_failed: int = 0
    reloads: int = 0
    reload_failures: int = 0
    last_reload_ms: float | None = None
    started: float = field(default_factory=time.time)
