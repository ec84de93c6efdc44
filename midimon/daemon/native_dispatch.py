"""The native dispatch: the compiled dispatch's common case walked in C, no Python per event.

``MIDIMON_DISPATCH=native`` (the default where ``libmidimon-jackin.so`` is built) puts this in
front of the compiled path (``midimon.daemon.dispatch``). For the current mode it turns the
daemon's compiled table into a C table (``midimon/_native/jackin/fastpath.h``) holding every
(status, number) whose listeners are stateless triggers with only Plugin actions of in-process
``inline`` plugins, or with one Plugin action of an isolated plugin, each call with what
``PreparedCall`` looked up (the plugin's execute() or its worker's channel, its encoded params,
its token bucket, its timeout). ``fp_dispatch`` then decodes, matches and calls those plugins
itself; an isolated plugin's call it writes to the worker's socket (the EXECUTE message),
behind the calls in flight, unless a call of the Python path's waits to be written or the
plugin's lane is busy (then the walk stops there: the Python path queues the call behind
those), and the worker's pipeline takes it over as its own (``CallPipeline.native_channel``):
timed from the send, answered, and failed by a crash or hang as any call of its own. On a JACK input
the dispatcher thread runs a C loop (``fp_serve``, serve.c): it sleeps on the input's eventfd,
drains the ring and walks each batch through the table published in a slot, without the GIL,
so no interpreter runs between JACK's hand-over and the plugin, and a reload holding the GIL
does not hold up walked events. The loop returns to Python (``NativeServer.handle``) only for
the messages the walk leaves to Python; another thread accounts for its calls (the ledger).
The engine lock (``EngineLock``) publishes the table to walk, or none, before letting go (see
native_feed.py).

Any message the walk cannot decide exactly as the compiled path would (another action type, a
call that would overtake another, a stateful trigger, a message not in canonical form) stops
the walk; that message goes to the compiled path and the walk resumes after it, so messages
keep their order.

Python keeps what does not have to be in the event's way: after each walk it turns the C
records into the same stats, counters, audit entries and failure logs the compiled path makes.

The table is rebuilt (lazily, before the next walk) when the config, the mode or any plugin's
state changes: ``PluginManager.changed`` bumps a C counter the walk compares before each message
(so do a mode change and a change of who watches events, which may happen without the engine
lock), so a plugin disabled, revoked, restarted or unloaded on another thread is never called from a
stale table; a call already under way when a plugin is shut down is waited for (the plugin's
call gate), and a call that finds it shut down fails as the Python path's would. While someone
watches MIDI or trigger events (``midimon monitor``, the console), a long press is held, or the
daemon stops, the walk is not used at all; action events are published from the records.
"""

from __future__ import annotations

import logging
import time
from array import array
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from midimon.engine.action_specs import PluginAction
from midimon.engine.dispatch_table import FALLBACK, VALUE_TABLE
from midimon.plugins.manager.grants import RECHECK_SECONDS
from midimon.plugins.manager.prepared import PreparedCall
from midimon.plugins.sandbox.runners import IsolatedRunner
from midimon.plugins.sandbox.wire import Wire

if TYPE_CHECKING:
    from midimon.daemon.service import Daemon
    from midimon.engine.dispatch_table import DispatchTable, Route
    from midimon.plugins.manager.prepared import NativeCall

log = logging.getLogger("midimon.engine.actions")  # where the compiled path logs failures

MAX_RECORDS: Final = 64  # calls one walk reports before Python accounts for them
# How long a publish waits for the walk to leave a plugin call (inline calls are meant to take
# microseconds; past this the call is taken for stuck, and publishing goes on without waiting).
PUBLISH_WAIT_NS: Final = 1_000_000_000
CELL_NONE: Final = 0
CELL_PYTHON: Final = 1
CELL_FIRST_ENTRY: Final = 2
_HOW = {0: 0, 1: 1}  # VALUE_ZERO, VALUE_SAME: the same numbers in fastpath.c


class NativeTable:
    """One built C table and everything it points into (kept alive as long as it is)."""

    __slots__ = ("built_for", "calls", "keep", "names", "pointer", "stats")

    def __init__(self, pointer: Any, built_for: tuple[Any, ...]) -> None:
        self.pointer = pointer
        self.built_for = built_for
        self.calls: list[NativeCall] = []  # by target index
        self.names: list[str] = []
        self.stats: list[Any] = []
        self.keep: list[Any] = []  # cdata the C table points into


class NativeDispatch:
    """The daemon's native dispatch (one per daemon; used under its engine lock)."""

    def __init__(self, daemon: Daemon, ffi: Any, lib: Any) -> None:
        self._daemon = daemon
        self._manager = daemon.manager
        self._ffi = ffi
        self._lib = lib
        self._changes = ffi.gc(lib.fp_counter_new(), lib.fp_counter_free)
        daemon.manager.changed = self.plugins_changed
        self._records = ffi.new("fp_record[]", MAX_RECORDS)
        self._counts = ffi.new("fp_counts *")
        self._table: NativeTable | None = None
        self._checked_at = 0.0
        # The C dispatcher loop's view (fastpath.h, "The serve loop"): the slot it walks the
        # published table from, and every table published since the loop last accounted for
        # its walks (by address: its records name their table).
        self.slot = ffi.gc(lib.fp_slot_new(), lib.fp_slot_free)
        if self.slot == ffi.NULL:
            raise MemoryError("fp_slot_new")
        self._published: NativeTable | None = None
        self._published_until = 0
        # every table the loop may have walked and not yet accounted for, by address (records
        # name their table): the published one, and each one retired from it, with the number
        # of the ledger batch after whose accounting it can go
        self._walkable: dict[int, NativeTable] = {}
        self._retired: list[tuple[int, int]] = []  # (batch number, address)
        self._server: Any = None  # the NativeServer of the C dispatcher loop, once one runs
        self.priority = 0  # the JACK input's dispatcher thread's real-time priority (native_feed)
        self.calls_walked = 0  # plugin calls made in C (the walk's records), for tests and stats
        self.calls_sent = 0  # calls the walk sent to isolated plugins' workers itself
        self.walk_stuck = False  # the last publish found the walk inside a call past its wait

    def plugins_changed(self) -> None:
        """PluginManager.changed: every table built before is stale from now on. [any-thread]"""
        self._lib.fp_counter_bump(self._changes)  # what the walk checks
        self._table = None  # the next message builds (feed_one does not read the counter)

    invalidate = plugins_changed  # the mode or the watched event types changed: the same

    # -- the serve loop's table --------------------------------------------------------------
    def publish(self) -> None:
        """Tell the C dispatcher loop which table to walk from now on, or none; the engine lock
        held (EngineLock calls this before letting go of it). Nothing to do while no loop was
        ever attached (no JACK input: ``feed`` walks by itself), or when nothing changed."""
        if self._server is None:
            return
        ffi, lib = self._ffi, self._lib
        try:
            table = usable_table(self._daemon, self)
        except Exception:  # the walk stops; the Python path takes every message
            log.exception("native dispatch: building the table failed")
            table = None
        valid_until = 0 if table is None else int((self._checked_at + RECHECK_SECONDS) * 1e9)
        if table is self._published and valid_until == self._published_until:
            return
        wait = 0 if self.walk_stuck else PUBLISH_WAIT_NS  # once stuck: try, do not wait again
        if lib.fp_slot_publish(
            self.slot, ffi.NULL if table is None else table.pointer, valid_until, wait
        ):  # fmt: skip
            if not self.walk_stuck:
                log.error(
                    "native dispatch: the MIDI input's C loop has been inside a plugin call for "
                    "over %g s (an inline plugin that does not return?): MIDI waits behind it; "
                    "reloads, modes and a stop take effect without it", PUBLISH_WAIT_NS / 1e9,
                )  # fmt: skip
            self.walk_stuck = True  # nothing changed: the next publish tries again
            return
        if self.walk_stuck:
            log.warning("native dispatch: the plugin call the MIDI input's C loop was in returned")
            self.walk_stuck = False
        self._published_until = valid_until
        self._retire(table)  # after: fp_slot_publish returned once no walk uses the old one

    def recheck_soon(self) -> None:
        """Look at the plugins' state again at the next publish (the engine lock's release),
        which then gives the published table RECHECK_SECONDS more. Engine lock held."""
        self._checked_at = float("-inf")

    def _retire(self, table: NativeTable | None) -> None:
        """``table`` is published from now on: keep the one it replaces until the batch being
        filled (the loop may have walked it into that one) is accounted for."""
        previous = self._published
        self._published = table
        if table is not None:
            self._walkable[self._address(table.pointer)] = table
        if previous is None or previous is table:
            return
        server = self._server
        batch = server.next_batch_number() if server is not None else None
        if batch is None:  # no loop running: nothing left to account for
            self._walkable.pop(self._address(previous.pointer), None)
        else:
            self._retired.append((batch, self._address(previous.pointer)))

    def _address(self, pointer: Any) -> int:
        return int(self._ffi.cast("uintptr_t", pointer))

    def attach(self, server: Any) -> None:
        """A C dispatcher loop now walks this dispatch's published tables (``NativeServer``):
        keep every table published until it has accounted for its walks."""
        self._server = server

    def account_batch(self, batch: Any) -> None:
        """One ledger batch of the serve loop's walks (fastpath.h's fp_batch), then let go of
        the tables no batch still to come can hold. The engine lock held (its lock alone)."""
        table_of = self._walkable
        self._account(None, batch.counts, batch.records, table_of)
        number = batch.number
        keep = []
        published = self._published
        for until, address in self._retired:
            if until > number:
                keep.append((until, address))
            elif published is None or address != self._address(published.pointer):
                table_of.pop(address, None)
        self._retired = keep

    # -- the table --------------------------------------------------------------------------
    def table(self, compiled: DispatchTable, mode: str) -> NativeTable:
        """The C table for ``compiled`` in ``mode`` now, rebuilt when stale. Engine lock held."""
        changes = self._lib.fp_counter_get(self._changes)
        table = self._table
        key = (compiled, mode, changes)
        if table is not None and table.built_for == key:
            now = time.monotonic()
            if now - self._checked_at < RECHECK_SECONDS:
                return table
            # another process may have disabled a plugin in the state file (seen by the Python
            # path within RECHECK_SECONDS): look again, as often
            self._checked_at = now
            state = self._manager.state
            if not any(state.disabled_reason(name) is not None for name in table.names):
                return table
            self.plugins_changed()
            key = (compiled, mode, self._lib.fp_counter_get(self._changes))
        self._table = table = self._build(compiled, mode, key)
        self._checked_at = time.monotonic()
        return table

    def prebuild(self, compiled: DispatchTable, mode: str) -> NativeTable:
        """A C table for ``compiled`` in ``mode``, built now for :meth:`install` to put in place
        later: a reload builds it before its swap, outside the engine lock, so the first event
        after the swap finds it ready. [any-thread]"""
        key = (compiled, mode, self._lib.fp_counter_get(self._changes))
        return self._build(compiled, mode, key)

    def install(self, table: NativeTable) -> None:
        """Make ``table`` (from :meth:`prebuild`) the current one. Engine lock held. A table
        that no longer fits (the mode changed or a plugin's state did since it was built) is
        never walked: :meth:`table` compares what it was built for and rebuilds."""
        self._table = table
        self._checked_at = time.monotonic()

    def _build(self, compiled: DispatchTable, mode: str, key: tuple[Any, ...]) -> NativeTable:
        ffi, lib = self._ffi, self._lib
        targets: dict[int, int] = {}  # id(PreparedCall) -> target index, or -1: not native
        calls: list[tuple[NativeCall, Any]] = []
        isolated: set[int] = set()  # the indices of calls sent to a worker
        sendable = len(mode.encode("utf-8")) <= Wire.MAX_MODE  # the mode fits an EXECUTE

        def target(prepared: Any) -> int:
            found = targets.get(id(prepared))
            if found is not None:
                return found
            index = -1
            if type(prepared) is PreparedCall:
                call = prepared.native_call()
                runner = call.loaded.runner if call is not None else None
                entry = getattr(runner, "native_entry", None)
                made = entry() if call is not None and entry is not None else None
                if call is None and sendable:
                    call = prepared.isolated_call()
                    made = self._channel_of(call) if call is not None else None
                bucket = call.bucket.native(ffi, lib) if made is not None and call else None
                if call is not None and made is not None and bucket is not None:
                    index = len(calls)
                    calls.append((call, (prepared.name, made, bucket)))
                    if len(made) == 4:
                        isolated.add(index)
            targets[id(prepared)] = index
            return index

        entries: dict[int, int] = {}  # id(Python entry) -> cell value
        rows = bytearray(256)  # fp_table_set_cells' arguments: rows[status], cells[status, note]
        cells = array("I", bytes(4 * 256 * 128))  # CELL_NONE everywhere to begin with
        routes_of: list[list[tuple[Route, list[int]]]] = []
        for status, row in enumerate(compiled.rows):
            if row is None:
                continue
            rows[status] = 1
            base = status * 128
            for number, entry in enumerate(row):
                if entry is None:
                    continue
                cell = entries.get(id(entry))
                if cell is None:
                    cell = self._plan_entry(entry, mode, target, isolated, routes_of)
                    entries[id(entry)] = cell
                cells[base + number] = cell
        pointer = lib.fp_table_new(mode.encode("utf-8"), len(calls), self._changes, key[2])
        if pointer == ffi.NULL:
            raise MemoryError("fp_table_new")
        table = NativeTable(ffi.gc(pointer, lib.fp_table_free), key)
        record = ffi.new("fp_target *")
        for index, (call, (name, made, bucket)) in enumerate(calls):
            params = ffi.new("char[]", bytes(call.payload))
            table.keep += [params, *made, bucket]
            if index in isolated:  # (channel, lane submitted, lane finished, the pipeline's)
                record.execute = record.self = 0
                record.gate = ffi.NULL
                record.channel, record.lane_submitted, record.lane_finished = made[:3]
            else:
                record.execute, record.self = made[0], made[1]
                record.gate = made[2]
                record.channel = record.lane_submitted = record.lane_finished = ffi.NULL
            record.bucket = bucket
            record.params, record.params_len = params, len(call.payload)
            record.timeout_ns = int(call.timeout * 1e9)
            lib.fp_table_set_target(pointer, index, record)
            table.calls.append(call)
            table.names.append(name)
            table.stats.append(self._manager.counters(name))
        for routes in routes_of:
            if lib.fp_table_add_entry(pointer) < 0:
                raise MemoryError("fp_table_add_entry")
            for route, indices in routes:
                calls_of = ffi.new("uint32_t[]", indices or [0])
                kind = int(route.spec.KIND)
                if lib.fp_table_add_route(
                    pointer, route.low, route.high, _HOW[route.how], kind, calls_of, len(indices)
                ) != 0:  # fmt: skip
                    raise MemoryError("fp_table_add_route")
        if lib.fp_table_set_cells(
            pointer, ffi.from_buffer(rows), ffi.from_buffer("uint32_t[]", cells)
        ) != 0:  # fmt: skip
            raise ValueError("native dispatch: a table cell names no entry")
        return table

    def _channel_of(self, call: NativeCall) -> tuple[Any, Any, Any, Any] | None:
        """What a table needs to send ``call`` to its isolated plugin's worker: the worker's
        channel, its lane's two counts, and the channel's owner (kept alive with the table);
        None when the worker takes no calls."""
        ffi, lib = self._ffi, self._lib
        loaded = call.loaded
        runner = loaded.runner
        if not isinstance(runner, IsolatedRunner):
            return None
        name = loaded.manifest.name
        daemon = self._daemon
        # its answer is reported as start_call's would be (the lane's _run_action)
        on_done = partial(daemon._run_action, PluginAction(name), None)
        channel = runner.native_channel(ffi, lib, self._manager.adopter(loaded, runner, on_done))
        if channel is None:
            return None
        submitted, finished = daemon._lane(name).native_counts(ffi, lib)
        return channel.pointer, submitted, finished, channel

    @staticmethod
    def _plan_entry(
        entry: Any, mode: str, target: Any, isolated: set[int],
        routes_of: list[list[tuple[Route, list[int]]]],
    ) -> int:  # fmt: skip
        """The cell for a Python table entry: CELL_PYTHON unless every route of it in ``mode``
        is one the walk can make (a new C entry, its index + CELL_FIRST_ENTRY). A call to an
        isolated plugin must be the entry's only one (sent only while its worker is idle)."""
        if entry is FALLBACK:
            return CELL_PYTHON
        planned: list[tuple[Route, list[int]]] = []
        total = 0
        for route in entry:
            if route.how == VALUE_TABLE:  # EncoderTurn: left to Python
                return CELL_PYTHON
            indices = []
            for _action, prepared in route.by_mode.get(mode, ()):
                index = target(prepared)
                if index < 0:
                    return CELL_PYTHON
                indices.append(index)
            total += len(indices)
            planned.append((route, indices))
        if total > MAX_RECORDS:
            return CELL_PYTHON
        if total > 1 and any(i in isolated for _, indices in planned for i in indices):
            return CELL_PYTHON
        routes_of.append(planned)
        return CELL_FIRST_ENTRY + len(routes_of) - 1

    # -- the walk ---------------------------------------------------------------------------
    def walk(
        self, table: NativeTable, data: Any, sizes: Any, stamps: Any, stride: int, count: int
    ) -> int:
        """Walk ``count`` messages through ``table`` in C and account for what it did; how many
        were handled (the next one, if any, is the compiled path's). Engine lock held."""
        counts = self._counts
        done = self._lib.fp_slot_dispatch(  # which zeroes the counts first
            self.slot, table.pointer, data, sizes, stamps, stride, count, self._records,
            MAX_RECORDS, counts,
        )  # fmt: skip
        self._account(table, counts, self._records)
        return int(done)

    def last_counts(self) -> tuple[int, int, int]:
        """(messages, triggers, calls) of the last walk."""
        counts = self._counts
        return int(counts.events), int(counts.triggers), int(counts.calls)

    def feed_one(self, data: bytes, stamp: int) -> bool:
        """``Daemon.feed``'s message walked in C when the walk may run now (``usable_table``);
        True when it was handled, else it is the compiled path's. Engine lock held."""
        daemon = self._daemon
        events = daemon.registry.events
        if daemon._stopping or daemon.processor.pending_holds or events.input_watched:
            return False  # usable_table's rules
        compiled, mode, table = daemon._table, daemon.mapper.mode, self._table
        # The current table, found without reading the change counter (one cffi call; cold
        # Python costs microseconds per message 2 ms apart): plugins_changed() drops the table,
        # and should a change land between that read and the walk, the walk refuses the stale
        # table and the miss below drops it.
        if (
            table is None
            or table.built_for[0] is not compiled
            or table.built_for[1] != mode
            or time.monotonic() - self._checked_at >= RECHECK_SECONDS
        ):
            table = self.table(compiled, mode)
        counts = self._counts
        done: int = self._lib.fp_slot_dispatch_one(
            self.slot, table.pointer, data, len(data), stamp, self._records, MAX_RECORDS, counts
        )
        self._account(table, counts, self._records)
        if done != 1 and table.built_for[2] != self._lib.fp_counter_get(self._changes):
            self._table = None
        return done == 1

    def _account(
        self, table: NativeTable | None, counts: Any, records: Any,
        table_of: dict[int, NativeTable] | None = None,
    ) -> None:  # fmt: skip
        """The compiled path's bookkeeping for what a walk did: on ``table``, or (None) on the
        table each record names, found in ``table_of``."""
        daemon = self._daemon
        counters = daemon.counters
        counters.midi_in += counts.events
        counters.triggers += counts.triggers
        self.calls_sent += counts.sent
        calls = counts.calls
        self.calls_walked += calls
        if not calls:
            return
        ffi = self._ffi
        audit = self._manager.audit
        executor = daemon.executor
        events = daemon.registry.events
        publish = events.wants("action")  # `midimon monitor --type action`, the console
        wall = time.time()
        for record in records[0:calls]:
            index = record.target
            if table_of is not None:
                table = table_of[int(ffi.cast("uintptr_t", record.table))]
            assert table is not None
            name = table.names[index]
            stats = table.stats[index]
            kind = record.kind
            detail: str | None = None
            if kind == 0:  # FP_CALLED
                stats.executions += 1
                stats.last_execution = wall
                stats.add_latency(record.elapsed_ns / 1e9)
                if record.status == 0:
                    stats.successes += 1
                else:
                    stats.failures += 1
                    message = ffi.string(record.message).decode("utf-8", errors="replace")
                    audit.record(
                        "execute_failed", name, status=record.status, message=message[:500]
                    )
                    detail = f"{name}: failed: {message}"
            elif kind == 1:  # FP_RATE_LIMITED
                stats.rate_limited += 1
                audit.record("rate_limit", name)
                detail = f"{name}: rate_limited: {name}: rate limit reached; call refused"
            elif kind == 2:  # FP_BUSY
                stats.timeouts += 1
                detail = f"{name}: timeout: {name} is busy with another call past its timeout"
            else:  # FP_GONE: shut down while the call waited; what execute_encoded raises
                stats.executions += 1
                stats.last_execution = wall
                detail = f"RuntimeError: {name}: execute() called when destroyed"
                log.error("%s action failed: %s", "Plugin", detail)
            if detail is None:
                counters.actions_ok += 1
                executor.plugin_done(True, None)
            else:
                counters.actions_failed += 1
                executor.plugin_done(False, detail)
            if publish:
                if detail is None:
                    message = ffi.string(record.message).decode("utf-8", errors="replace")
                    detail = f"{name}: ok: {message}"
                events.publish({
                    "type": "action", "action": "Plugin", "ok": kind == 0 and not record.status,
                    "detail": detail, "ms": round(record.elapsed_ns / 1e6, 3),
                })  # fmt: skip


def usable_table(daemon: Daemon, native: NativeDispatch) -> NativeTable | None:
    """The C table to walk now, or None when the walk must not run: someone watches MIDI or
    trigger events (built along the Python path; action events are built from the records),
    a long press is held (it may fall due before the message), or
    the daemon stops. Engine lock held."""
    if daemon._stopping or daemon.processor.pending_holds or daemon.registry.events.input_watched:
        return None
    return native.table(daemon._table, daemon.mapper.mode)
