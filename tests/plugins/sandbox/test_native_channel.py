"""The channel through which the C walk sends calls to an isolated plugin's worker itself
(midimon/plugins/sandbox/native_channel.py over channel.c), on the real library: the EXECUTE it
writes is byte for byte the one wire.py makes for the same call; it sends behind the calls in
flight, but never ahead of a call of the pipeline's not written yet or of one queued on the
lane, never past the queue size, and not once closed; the pipeline takes its calls over in
order; request numbers are shared with the pipeline's; the rate limit refuses (one record) and
a refused send gives its token back.

The pipeline taking such calls over on a real worker: tests/daemon/test_native_isolated.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from midimon.midi_jack import native_library
from midimon.plugins.loading.context import TriggerContext, TriggerKind
from midimon.plugins.sandbox.native_channel import NativeChannel
from midimon.plugins.sandbox.pending import PendingCall
from midimon.plugins.sandbox.wire import execute_messages

PARAMS = b'{"tag":"pad"}'
FP_RATE_LIMITED = 1


@pytest.fixture(scope="module")
def native() -> tuple[Any, Any]:
    return native_library()


class Rig:
    """A one-entry C table (note 36 on channel 1 -> one isolated call; its bucket never refills)
    whose channel writes to one end of a SEQPACKET socketpair, as to a worker's socket."""

    def __init__(
        self, ffi: Any, lib: Any, tokens: float = 100.0, last_seq: int = 0, max_busy: int = 4096
    ) -> None:
        self.ffi, self.lib = ffi, lib
        self.host, self.worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.worker.setblocking(False)
        self.adopted: list[tuple[int, float, float]] = []

        def adopt(seq: int, sent_at: float, timeout: float) -> PendingCall:
            self.adopted.append((seq, sent_at, timeout))
            return PendingCall(seq, timeout, None)

        self.channel = NativeChannel(ffi, lib, self.host.fileno(), -1, last_seq, max_busy, adopt)
        gc = ffi.gc
        self.changes = gc(lib.fp_counter_new(), lib.fp_counter_free)
        self.submitted = gc(lib.fp_counter_new(), lib.fp_counter_free)
        self.finished = gc(lib.fp_counter_new(), lib.fp_counter_free)
        self.bucket = gc(lib.fp_bucket_new(0.0, 1000.0, tokens, 0.0), lib.fp_bucket_free)
        self.table = gc(lib.fp_table_new(b"Default", 1, self.changes, 0), lib.fp_table_free)
        self.params = ffi.new("char[]", PARAMS)
        target = ffi.new("fp_target *")
        target.bucket = self.bucket
        target.params, target.params_len = self.params, len(PARAMS)
        target.timeout_ns = 500_000_000
        target.channel = self.channel.pointer
        target.lane_submitted, target.lane_finished = self.submitted, self.finished
        lib.fp_table_set_target(self.table, 0, target)
        assert lib.fp_table_add_entry(self.table) == 0
        calls = ffi.new("uint32_t[]", [0])
        assert lib.fp_table_add_route(self.table, 1, 127, 1, int(TriggerKind.NOTE), calls, 1) == 0
        rows = bytearray(256)
        rows[0x90] = 1
        cells = ffi.new("uint32_t[]", 256 * 128)
        cells[0x90 * 128 + 36] = 2
        assert lib.fp_table_set_cells(self.table, ffi.from_buffer(rows), cells) == 0
        self.records = ffi.new("fp_record[]", 4)
        self.counts = ffi.new("fp_counts *")

    def note(self, velocity: int, stamp: int = 123_456_789) -> int:
        """Walk one note-on 36; how many messages the walk handled (0: left to Python)."""
        ffi = self.ffi
        data = ffi.new("uint8_t[]", bytes([0x90, 36, velocity, 0]))
        sizes = ffi.new("uint32_t[]", [3])
        stamps = ffi.new("int64_t[]", [stamp])
        return int(self.lib.fp_dispatch(self.table, data, sizes, stamps, 4, 1, self.records, 4,
                                        self.counts))  # fmt: skip

    def received(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.worker.recv(70000))
            except BlockingIOError:
                return out

    def close(self) -> None:
        self.host.close()
        self.worker.close()


@pytest.fixture
def rig(native: tuple[Any, Any]) -> Iterator[Rig]:
    made = Rig(*native)
    yield made
    made.close()


def test_the_walk_writes_wire_pys_execute_and_the_pipeline_takes_it_over(rig: Rig) -> None:
    assert rig.note(100) == 1
    assert rig.counts.sent == 1 and rig.counts.calls == 0 and rig.counts.events == 1
    [datagram] = rig.received()
    wall_ms = int.from_bytes(datagram[16 + 24 : 16 + 32], "little", signed=True)
    context = TriggerContext(
        velocity=100, number=36, value=100, trigger_kind=TriggerKind.NOTE, mode="Default",
        timestamp_ns=123_456_789, wall_time_ms=wall_ms,
    )  # fmt: skip
    assert [datagram] == execute_messages(1, PARAMS, context)
    [call] = rig.channel.adopt()
    assert call.seq == 1 and call.timeout == 0.5
    assert rig.adopted[0][0] == 1 and rig.channel.adopt() == []  # taken over once


def seqs(calls: list[PendingCall]) -> list[int]:
    return [call.seq for call in calls]


def test_it_sends_behind_calls_in_flight_but_never_ahead_of_a_queued_one(rig: Rig) -> None:
    lib = rig.lib
    assert rig.note(1) == 1 and rig.note(2) == 1  # pipelined behind the first
    seq, taken = rig.channel.claim()  # a call of the pipeline's own follows the walk's
    assert seq == 3 and seqs(taken) == [1, 2]
    assert rig.note(3) == 0  # the pipeline's call is not written yet: Python's
    rig.channel.written(1)
    assert rig.note(4) == 1
    lib.fp_counter_bump(rig.submitted)  # a job queued on the plugin's lane
    assert rig.note(5) == 0
    lib.fp_counter_bump(rig.finished)
    assert rig.note(6) == 1
    assert [int.from_bytes(d[4:8], "little") for d in rig.received()] == [1, 2, 4, 5]
    asleep, calls = rig.channel.sleep()
    assert not asleep and seqs(calls) == [4, 5]  # time them instead of sleeping
    assert rig.channel.sleep() == (True, [])
    rig.channel.release(5)
    assert rig.note(7) == 1
    last, left = rig.channel.close()
    assert last == 6 and seqs(left) == [6]  # the call not taken over yet is the pipeline's
    assert rig.note(8) == 0 and len(rig.received()) == 1  # closed: nothing is sent any more


def test_it_sends_nothing_past_the_queue_size_or_its_own_list(native: tuple[Any, Any]) -> None:
    rig = Rig(*native, max_busy=2)
    try:
        assert rig.note(1) == 1 and rig.note(2) == 1 and rig.note(3) == 0  # busy 2 of 2
        rig.channel.release(1)
        assert rig.note(4) == 1
    finally:
        rig.close()
    rig = Rig(*native)
    try:
        sent_max = rig.lib.FP_CHANNEL_SENT_MAX
        assert [rig.note(1) for _ in range(sent_max + 1)] == [1] * sent_max + [0]
        rig.received()  # (the socket's buffer holds them all)
        assert len(rig.channel.adopt()) == sent_max
        assert rig.note(1) == 1  # taken over: room again
    finally:
        rig.close()


def test_request_numbers_are_shared_and_wrap_as_the_pipelines(native: tuple[Any, Any]) -> None:
    rig = Rig(*native, last_seq=0x7FFFFFFE)
    try:
        seq, _ = rig.channel.claim()
        assert seq == 0x7FFFFFFF
        rig.channel.written(1)
        assert rig.note(1) == 1
        assert int.from_bytes(rig.received()[0][4:8], "little") == 1  # after 0x7FFFFFFF: 1
    finally:
        rig.close()


def test_the_rate_limit_refuses_with_a_record_and_a_refused_send_gives_the_token_back(
    native: tuple[Any, Any],
) -> None:
    rig = Rig(*native, tokens=1.0)
    try:
        rig.worker.close()  # the worker is gone: the send fails, the token goes back
        assert rig.note(1) == 0
        assert rig.counts.calls == rig.counts.sent == 0
        rig.worker = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # for close()
        other = Rig(*native, tokens=0.0)  # no token: refused by the rate limit, recorded
        try:
            assert other.note(1) == 1
            assert other.counts.calls == 1 and other.counts.sent == 0
            assert other.records[0].kind == FP_RATE_LIMITED and other.received() == []
        finally:
            other.close()
        # the token given back above is still there: a bucket with it lets one call through
        assert rig.lib.fp_bucket_take(rig.bucket, 0.0) == 1
    finally:
        rig.close()
