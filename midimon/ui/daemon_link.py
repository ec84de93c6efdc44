"""The panel's link to the daemon: requests on a ControlClient run in worker threads, and the
daemon's EVENTS stream read by a thread and fanned out to asyncio subscribers (the SSE pages).

The panel holds no state of its own beyond a short history of the daemon's ``stats`` events
(the chart's last five minutes, so a page opened late still has its curve).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from typing import Any

from midimon.daemon.client import ControlClient
from midimon.daemon.errors import IpcError

log = logging.getLogger("midimon.ui")

SOURCE = {"source": "ui"}
HISTORY_SECONDS = 300
SUBSCRIBER_QUEUE = 512
RECONNECT_S = 1.0
#: The event types the panel shows. Not "midi" nor "trigger": asking for those would make the
#: daemon build one more event per note on its MIDI thread while a page is open.
EVENT_TYPES = (
    "action",
    "stats",
    "grant_request",
    "grant_request_cleared",
    "reload",
    "plugin_check",
    "device",
)


class DaemonLink:
    """Requests to the daemon and its event stream, for one panel process."""

    def __init__(self, socket_path: str | None = None, *, timeout: float = 30.0) -> None:
        self._socket_path = socket_path
        self._timeout = timeout
        self._client = ControlClient(socket_path, timeout=timeout)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self.stats_history: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=HISTORY_SECONDS
        )
        self.connected = False

    async def request(self, command: str, args: dict[str, Any] | None = None) -> Any:
        """Run one control command in a worker thread; raises IpcError."""
        return await asyncio.to_thread(self._client.request, command, args or {})

    async def change(self, command: str, args: dict[str, Any]) -> Any:
        """A state-changing command, marked ``source: "ui"`` for the audit log."""
        return await self.request(command, {**args, **SOURCE})

    def open_stream(self, types: tuple[str, ...]) -> tuple[ControlClient, Any]:
        """A connection of its own and its EVENTS stream of ``types`` (the console's, which
        asks for per-note events only while a console page is open); raises IpcError."""
        client = ControlClient(self._socket_path, timeout=self._timeout)
        try:
            return client, client.stream("EVENTS", {"types": list(types)})
        except BaseException:
            client.close()
            raise

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the thread that reads EVENTS and hands each event to ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._pump, name="panel-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the event thread and close the connections."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        self._client.close()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue that receives every daemon event from now on (call from the loop)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering to ``queue``."""
        self._subscribers.discard(queue)

    def _pump(self) -> None:
        """Thread: read EVENTS forever, reconnecting while the daemon is away."""
        while not self._stop.is_set():
            client = ControlClient(self._socket_path, timeout=self._timeout)
            try:
                self._stream = client.stream("EVENTS", {"types": list(EVENT_TYPES)})
                self._deliver({"type": "daemon", "connected": True})
                for event in self._stream:
                    if isinstance(event, dict):
                        self._deliver(event)
                    if self._stop.is_set():
                        break
            except IpcError as exc:
                if not self._stop.is_set():
                    log.info("event stream from the daemon: %s", exc.message)
            finally:
                self._stream = None
                client.close()
            if not self._stop.is_set():
                self._deliver({"type": "daemon", "connected": False})
                self._stop.wait(RECONNECT_S)

    def _deliver(self, event: dict[str, Any]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._fan_out, event)

    def _fan_out(self, event: dict[str, Any]) -> None:
        """Loop thread: record stats history and pass the event to every subscriber; a page
        that fell too far behind loses its oldest events rather than holding the daemon up."""
        if event.get("type") == "daemon":
            self.connected = bool(event.get("connected"))
        if event.get("type") == "stats":
            self.stats_history.append(event)
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
