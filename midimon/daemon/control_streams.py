"""Control-protocol streams: a Stream a handler returns (one ``event`` line per item) and the
EventHub that fans daemon events out to subscribers."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from midimon.daemon.control_protocol import ErrorCode, describe_error
from midimon.daemon.errors import CommandError

EMPTY = object()  # next_item's answer when nothing came within the timeout
# Event types sent only to subscribers that name them (a once-a-second statistics object is
# noise for `midimon monitor`, which subscribes to everything).
OPT_IN_TYPES = frozenset({"stats"})


class StreamEnded(Exception):
    """Internal: the stream has no more items (``error`` None) or ended with an error. Control
    flow between a stream and its connection, never seen by a user, so not a MidimonError."""

    def __init__(self, error: CommandError | None = None) -> None:
        super().__init__(error.message if error else "stream ended")
        self.error = error


class Stream:
    """Items a handler sends back one ``event`` line each, until the stream or the client ends.

    Two forms. ``Stream(iterable)`` pulls items from an iterator in the connection's thread
    (a blocking iterator delays only that client, but is noticed to be abandoned only when it
    next yields). ``Stream()`` is queue-backed: any thread calls :meth:`put`, which never blocks;
    when a slow client lets ``maxsize`` items pile up the stream ends with error BUSY.
    ``on_close`` runs once, in the connection's thread, however the stream ends.
    """

    def __init__(
        self,
        items: Iterable[Any] | None = None,
        *,
        maxsize: int = 1024,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._iterator: Iterator[Any] | None = iter(items) if items is not None else None
        self._queue: deque[Any] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self._error: CommandError | None = None
        self._on_close = on_close
        self._released = False

    @property
    def closed(self) -> bool:
        """True once the stream was closed (items already queued are still delivered)."""
        return self._closed

    def put(self, item: Any) -> bool:
        """Queue one item without blocking; False when closed or now overflowed (and closed)."""
        if self._iterator is not None:
            raise TypeError("put() is for queue-backed streams, not Stream(iterable)")
        with self._cond:
            if self._closed:
                return False
            if len(self._queue) >= self._maxsize:
                self._close_locked(
                    CommandError(
                        ErrorCode.BUSY,
                        f"event stream dropped: client fell {self._maxsize} events behind",
                    )
                )
                return False
            self._queue.append(item)
            self._cond.notify()
            return True

    def close(self, error: CommandError | None = None) -> None:
        """End the stream (any thread): the client gets the queued items, then the end."""
        with self._cond:
            self._close_locked(error)

    def _close_locked(self, error: CommandError | None) -> None:
        if not self._closed:
            self._closed = True
            self._error = error
            self._cond.notify_all()

    def next_item(self, timeout: float) -> Any:
        """Server side: the next item, ``EMPTY`` after ``timeout`` s, or raise StreamEnded."""
        if self._iterator is not None:
            if self._closed:
                raise StreamEnded(self._error)
            try:
                return next(self._iterator)
            except StopIteration:
                raise StreamEnded() from None
            except CommandError as exc:
                raise StreamEnded(exc) from None
            except Exception as exc:
                raise StreamEnded(
                    CommandError(ErrorCode.COMMAND_FAILED, describe_error(exc))
                ) from None
        with self._cond:
            if not self._queue and not self._closed:
                self._cond.wait(timeout)
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StreamEnded(self._error)
            return EMPTY

    def release(self) -> None:
        """Server side, connection thread: close the source and run ``on_close`` (once)."""
        self.close()
        if self._released:
            return
        self._released = True
        close_iter = getattr(self._iterator, "close", None)
        try:
            if close_iter is not None:
                close_iter()
        finally:
            if self._on_close is not None:
                self._on_close()


class EventHub:
    """Fan-out of daemon events to every ``EVENTS`` subscriber; :meth:`publish` never blocks.

    A subscriber may ask for some event types only (``{"type": ...}`` of each event): it is
    then never woken for the others, and :meth:`wants` lets the daemon skip building events
    nobody asked for (the MIDI hot path publishes two per message). Types in OPT_IN_TYPES go
    only to subscribers that named them.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Stream, frozenset[str] | None]] = []
        self._wanted: frozenset[str] | None = frozenset()  # None: some subscriber wants all
        self._named: frozenset[str] = frozenset()  # the types some subscriber named
        # wants("midi") or wants("trigger"), kept up to date: the native dispatch's walk stops
        # while someone watches either, and reads this once per message
        self.input_watched = False
        # Called (any thread) when what is wanted changed: the native dispatch walks MIDI in C
        # only while nobody watches MIDI or trigger events, and must look again.
        self.on_change: Callable[[], None] | None = None

    def subscribe(self, types: Iterable[str] | None = None) -> Stream:
        """A new queue-backed stream receiving every event published from now on (of
        ``types`` only, when given)."""
        stream: Stream
        wanted = None if types is None else frozenset(types)

        def remove() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s[0] is not stream]
                self._update_wanted()

        stream = Stream(maxsize=self._maxsize, on_close=remove)
        with self._lock:
            self._subscribers = [*self._subscribers, (stream, wanted)]
            self._update_wanted()
        return stream

    def _update_wanted(self) -> None:
        union: set[str] = set()
        every = False
        for _, types in self._subscribers:
            if types is None:
                every = True
            else:
                union |= types
        self._named = frozenset(union)
        self._wanted = None if every else self._named
        self.input_watched = self.wants("midi") or self.wants("trigger")
        if self.on_change is not None:
            self.on_change()

    def wants(self, event_type: str) -> bool:
        """Whether any subscriber would receive an event of this type (lock-free, may be
        stale by one subscription: a new subscriber misses at most the event being built)."""
        if event_type in OPT_IN_TYPES:
            return event_type in self._named
        wanted = self._wanted
        return wanted is None or event_type in wanted

    def publish(self, item: Any) -> int:
        """Give ``item`` to every subscriber that wants its type; returns how many took it."""
        subscribers = self._subscribers  # replaced, never mutated: safe to read without a lock
        if not subscribers:
            return 0
        kind = item.get("type") if isinstance(item, dict) else None
        if kind in OPT_IN_TYPES:
            return sum(stream.put(item) for stream, types in subscribers if types and kind in types)
        return sum(
            stream.put(item) for stream, types in subscribers if types is None or kind in types
        )

    def close_all(self, error: CommandError | None = None) -> None:
        """End every subscription."""
        with self._lock:
            subscribers = list(self._subscribers)
        for stream, _ in subscribers:
            stream.close(error)

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        with self._lock:
            return len(self._subscribers)
