"""Grant requests: Plugin calls refused for a missing grant, kept for the user to allow or deny.

When a Plugin action is refused because its plugin lacks a capability, the daemon records one
request per (plugin, capability): which mapping and trigger asked, how often, first and last
time. The refused call is neither held nor replayed: the MIDI path never waits on a person.
``midimon plugins requests`` and the control panel list the pending ones; a grant clears one,
a deny is remembered (for that binary, by its SHA-256, as grants are) so it is not asked again
until undenied.

Recording is O(1) and does no I/O: it updates a dict under a lock and publishes an event (which
never blocks); a background thread saves the file and sends the count updates that the
once-a-second limit held back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon.fsutil import atomic_write

log = logging.getLogger(__name__)

PENDING = "pending"
DENIED = "denied"
EVENT_INTERVAL = 1.0  # seconds between two count-update events of one request
SAVE_DELAY = 0.5  # seconds a change may wait before the file is written (batches a burst)
FILE_VERSION = 1

Publish = Callable[[dict[str, Any]], object]


@dataclass
class GrantRequest:
    """One (plugin, capability) the user has been asked for."""

    plugin: str
    capability: str
    risk: str
    mapping: str
    trigger: str
    count: int
    first: float
    last: float
    state: str = PENDING
    sha256: str | None = None  # the binary refused (a denial holds for this binary only)
    published_count: int = 0  # the count the last event carried
    published_at: float = field(default=float("-inf"))  # time.monotonic() of that event

    def as_dict(self) -> dict[str, Any]:
        """The request as PLUGIN_REQUESTS and the event stream give it."""
        return {
            "plugin": self.plugin,
            "capability": self.capability,
            "risk": self.risk,
            "mapping": self.mapping,
            "trigger": self.trigger,
            "count": self.count,
            "first": round(self.first, 3),
            "last": round(self.last, 3),
            "state": self.state,
        }

    def saved(self) -> dict[str, Any]:
        """What the state file keeps."""
        return {**self.as_dict(), "sha256": self.sha256}


def _request_from_json(entry: Any, where: str) -> GrantRequest:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a table, got {type(entry).__name__}")
    try:
        return GrantRequest(
            plugin=str(entry["plugin"]),
            capability=str(entry["capability"]),
            risk=str(entry.get("risk", "")),
            mapping=str(entry.get("mapping", "")),
            trigger=str(entry.get("trigger", "")),
            count=int(entry.get("count", 0)),
            first=float(entry.get("first", 0)),
            last=float(entry.get("last", 0)),
            state=DENIED if entry.get("state") == DENIED else PENDING,
            sha256=entry.get("sha256") if isinstance(entry.get("sha256"), str) else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc!r}") from None


class GrantRequests:
    """Pending and denied grant requests of one daemon, saved in ``path`` (0600).

    Thread-safe. :meth:`record` is called from the thread that ran the refused call (an action
    thread, or the MIDI thread for an inline plugin): it never touches the disk.
    """

    def __init__(
        self,
        path: Path,
        publish: Publish,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._publish = publish
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._requests: dict[tuple[str, str], GrantRequest] = {}
        self._held: set[tuple[str, str]] = set()  # count events held back by EVENT_INTERVAL
        self._dirty = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load()

    # -- persistence ---------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("%s: grant requests not read: %s", self.path, exc)
            return
        try:
            data = json.loads(text)
            entries = data.get("requests", []) if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise ValueError("requests: expected a list")
            loaded = [_request_from_json(e, f"requests[{i}]") for i, e in enumerate(entries)]
        except ValueError as exc:
            log.warning("%s: grant requests not read (starting empty): %s", self.path, exc)
            return
        for request in loaded:
            request.published_count = request.count
            self._requests[(request.plugin, request.capability)] = request

    def _snapshot(self) -> bytes:
        with self._lock:
            entries = [r.saved() for r in self._requests.values()]
            self._dirty = False
        text = json.dumps({"version": FILE_VERSION, "requests": entries}, indent=2)
        return (text + "\n").encode("utf-8")

    def save(self) -> None:
        """Write the file now (the background thread calls this; also used on stop)."""
        with self._save_lock:  # snapshot and write in one go: an older one never lands last
            data = self._snapshot()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, data, 0o600)

    def _changed(self) -> None:
        """Called with the lock held: the file needs writing."""
        self._dirty = True
        self._wake.set()

    # -- background thread -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread that saves changes and sends held-back count events."""
        self._thread = threading.Thread(
            target=self._run, name="midimon-grant-requests", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what changed since the last save."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._dirty:
            self._save_logged()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(EVENT_INTERVAL if self._held else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._stop.wait(SAVE_DELAY)  # let a burst of presses end in one write
            self._send_held()
            if self._dirty:
                self._save_logged()

    def _save_logged(self) -> None:
        try:
            self.save()
        except OSError as exc:
            log.warning("%s: grant requests not saved: %s", self.path, exc)

    def _send_held(self) -> None:
        now = self._monotonic()
        events = []
        with self._lock:
            for key in list(self._held):
                request = self._requests.get(key)
                if request is None or request.state != PENDING:
                    self._held.discard(key)
                elif now - request.published_at >= EVENT_INTERVAL:
                    self._held.discard(key)
                    events.append(self._event_locked(request, now))
        for event in events:
            self._publish(event)

    def _event_locked(self, request: GrantRequest, now: float) -> dict[str, Any]:
        request.published_count = request.count
        request.published_at = now
        return {"type": "grant_request", **request.as_dict()}

    # -- recording (hot path) ----------------------------------------------------------------------
    def record(
        self,
        plugin: str,
        capability: str,
        risk: str,
        sha256: str | None,
        mapping: str,
        trigger: Callable[[], str] | str,
    ) -> None:
        """Count one refused call of ``plugin`` for ``capability``. A new request is published
        at once; a count change at most once per EVENT_INTERVAL per request. A denial of this
        very binary keeps counting, silently; a denial of another binary no longer holds.
        ``trigger`` may be a function: it is only called for a new request."""
        now, tick = self._clock(), self._monotonic()
        key = (plugin, capability)
        event = None
        with self._lock:
            request = self._requests.get(key)
            if request is not None and request.state == DENIED and request.sha256 != sha256:
                request = None  # another binary: the user has not said no to this one
            if request is None:
                text = trigger() if callable(trigger) else trigger
                request = GrantRequest(
                    plugin, capability, risk, mapping, text, 1, now, now, PENDING, sha256
                )
                self._requests[key] = request
                event = self._event_locked(request, tick)
            else:
                request.count += 1
                request.last = now
                request.mapping = mapping or request.mapping
                if request.state == PENDING:
                    if tick - request.published_at >= EVENT_INTERVAL:
                        event = self._event_locked(request, tick)
                    else:
                        self._held.add(key)
            self._changed()
        if event is not None:
            self._publish(event)

    # -- the user's answers ------------------------------------------------------------------------
    def listing(self, include_denied: bool = False) -> list[dict[str, Any]]:
        """The pending requests (and the denied ones too with ``include_denied``), oldest
        first."""
        with self._lock:
            rows = [
                r.as_dict()
                for r in self._requests.values()
                if r.state == PENDING or include_denied
            ]
        return sorted(rows, key=lambda r: (r["first"], r["plugin"], r["capability"]))

    def granted(self, plugin: str, capability: str) -> bool:
        """The capability was granted: the request (pending or denied) is gone. True when
        there was one."""
        with self._lock:
            request = self._requests.pop((plugin, capability), None)
            self._held.discard((plugin, capability))
            if request is not None:
                self._changed()
        if request is not None:
            self._cleared(plugin, capability, "granted")
        return request is not None

    def deny(
        self, plugin: str, capability: str, risk: str, sha256: str | None
    ) -> dict[str, Any]:
        """Remember that the user said no to ``capability`` for this binary of ``plugin``;
        returns the (now denied) request. Saved at once: a denial must survive a crash."""
        now = self._clock()
        with self._lock:
            request = self._requests.get((plugin, capability))
            was_pending = request is not None and request.state == PENDING
            if request is None:
                request = GrantRequest(plugin, capability, risk, "", "", 0, now, now)
                self._requests[(plugin, capability)] = request
            request.state = DENIED
            request.sha256 = sha256
            self._held.discard((plugin, capability))
            result = request.as_dict()
        self.save()
        if was_pending:
            self._cleared(plugin, capability, DENIED)
        return result

    def undeny(self, plugin: str, capability: str) -> bool:
        """Forget a denial (the next refused call asks again); False when there was none."""
        with self._lock:
            request = self._requests.get((plugin, capability))
            if request is None or request.state != DENIED:
                return False
            del self._requests[(plugin, capability)]
        self.save()
        return True

    def denied(self, plugin: str) -> list[dict[str, Any]]:
        """The denials remembered for ``plugin`` (any binary), with the SHA-256 each holds for."""
        with self._lock:
            return [
                {**r.as_dict(), "sha256": r.sha256}
                for r in self._requests.values()
                if r.plugin == plugin and r.state == DENIED
            ]

    def forget(self, plugin: str) -> list[str]:
        """Drop every request and denial of ``plugin`` (it was uninstalled); the capabilities
        that had one."""
        with self._lock:
            keys = [k for k in self._requests if k[0] == plugin]
            for key in keys:
                del self._requests[key]
                self._held.discard(key)
        if keys:
            self.save()
        return [cap for _, cap in keys]

    def _cleared(self, plugin: str, capability: str, state: str) -> None:
        self._publish(
            {
                "type": "grant_request_cleared",
                "plugin": plugin,
                "capability": capability,
                "state": state,
            }
        )
