"""Streams end cleanly, with BUSY when a reader falls behind; the hub filters by event type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from midimon.daemon.control_protocol import CommandError, ErrorCode
from midimon.daemon.control_streams import EMPTY, EventHub, Stream, StreamEnded


def test_queue_stream_overflow_ends_with_busy_after_the_queued_items() -> None:
    """A full queue closes the stream with BUSY; what was queued is still delivered first."""
    stream = Stream(maxsize=2)
    assert stream.put(1) and stream.put(2)
    assert not stream.put(3)
    assert stream.closed
    assert [stream.next_item(0), stream.next_item(0)] == [1, 2]
    with pytest.raises(StreamEnded) as info:
        stream.next_item(0)
    assert info.value.error is not None and info.value.error.code == ErrorCode.BUSY


def test_empty_queue_times_out_with_the_empty_marker() -> None:
    """No item within the timeout gives EMPTY, not an end."""
    assert Stream().next_item(0.01) is EMPTY


def test_iterator_stream_failure_becomes_command_failed() -> None:
    """An iterator that raises ends its stream with COMMAND_FAILED and the message."""

    def items() -> Iterator[int]:
        yield 1
        raise RuntimeError("disk gone")

    stream = Stream(items())
    assert stream.next_item(0) == 1
    with pytest.raises(StreamEnded) as info:
        stream.next_item(0)
    assert isinstance(info.value.error, CommandError)
    assert (info.value.error.code, info.value.error.message) == (
        ErrorCode.COMMAND_FAILED,
        "disk gone",
    )


def test_release_runs_on_close_once() -> None:
    """on_close runs exactly once however often the stream is released."""
    calls: list[int] = []
    stream = Stream(on_close=lambda: calls.append(1))
    stream.release()
    stream.release()
    assert calls == [1]


def test_hub_delivers_only_wanted_types_and_forgets_released_subscribers() -> None:
    """A typed subscription gets its types only; a released one is removed from the hub."""
    hub = EventHub()
    assert not hub.wants("midi")
    notes = hub.subscribe(["midi"])
    everything = hub.subscribe()
    assert hub.wants("anything")
    assert hub.publish({"type": "mode"}) == 1
    assert hub.publish({"type": "midi"}) == 2
    assert notes.next_item(0) == {"type": "midi"}
    everything.release()
    assert hub.subscriber_count == 1
    assert hub.wants("midi") and not hub.wants("mode")


@pytest.mark.parametrize(
    ("types", "watched"),
    [(["midi"], True), (["trigger"], True), (None, True), (["action", "mode"], False),
     (["stats"], False)],
)  # fmt: skip
def test_input_watched_follows_the_subscriptions(types: list[str] | None, watched: bool) -> None:
    """The native walk's one read per message: wants("midi") or wants("trigger"), kept up to
    date as subscribers come and go."""
    hub = EventHub()
    assert hub.input_watched is False
    stream = hub.subscribe(types)
    assert hub.input_watched is watched is (hub.wants("midi") or hub.wants("trigger"))
    stream.release()
    assert hub.input_watched is False
