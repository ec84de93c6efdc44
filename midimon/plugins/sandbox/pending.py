"""PendingCall: one execute() call handed to a worker's pipeline (pipeline.py), or sent by the
native dispatch and taken over by it (native_channel.py), until it is answered or failed."""

from __future__ import annotations

from collections.abc import Callable

from midimon.plugins.errors import WorkerError


class PendingCall:
    """One call handed to the pipeline; finished when ``error`` or ``status`` is set."""

    __slots__ = (
        "error",
        "message",
        "on_done",
        "sent_at",
        "seq",
        "status",
        "tag",
        "timeout",
    )  # fmt: skip

    def __init__(
        self,
        seq: int,
        timeout: float,
        on_done: Callable[[PendingCall], None] | None,
        tag: object = None,
    ) -> None:
        self.seq = seq
        self.timeout = timeout
        self.sent_at = 0.0  # time.monotonic() of the send; 0 while queued
        self.on_done = on_done
        self.status: int | None = None
        self.message = ""
        self.error: WorkerError | None = None
        self.tag = tag  # the submitter's own data

    def outcome(self) -> tuple[int, str]:
        """(status, message) of the finished call; raises its WorkerError when it failed."""
        if self.error is not None:
            raise self.error
        assert self.status is not None, "outcome() of an unfinished call"
        return self.status, self.message
