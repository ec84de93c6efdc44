"""The C side of a worker's calls: the native dispatch's walk writes calls itself.

A :class:`NativeChannel` wraps fastpath.h's ``fp_channel`` for one :class:`CallPipeline`
(midimon/_native/jackin/channel.c). While every call of the pipeline's own is on the socket and
the plugin's lane is idle, the walk may write EXECUTEs to the worker's socket from C, with no
interpreter between the MIDI bytes and the send; they queue behind the calls in flight. The
pipeline then takes those calls over as its own, in order, before any call of its own and before
it sleeps or reads an answer: each becomes an ordinary :class:`PendingCall` (timed from the
send, answered in order, a crash or hang during it attributed to it). Request numbers come from
the channel once it exists, so the walk's and the pipeline's never collide.

Every method but :meth:`release` is called with the pipeline's lock held (one buffer serves
them all); the channel's own mutex is taken inside, always after that lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from midimon.plugins.sandbox.pending import PendingCall

# (seq, sent_at: time.monotonic() of the send, timeout in s) -> the call, made by its submitter
Adopter = Callable[[int, float, float], PendingCall]


class NativeChannel:
    """One pipeline's ``fp_channel``; the cdata stays alive while any C table points to it."""

    def __init__(
        self, ffi: Any, lib: Any, tx_fd: int, wake_fd: int, last_seq: int, max_busy: int,
        adopt: Adopter,
    ) -> None:  # fmt: skip
        pointer = lib.fp_channel_new(tx_fd, wake_fd, last_seq, max_busy)
        if pointer == ffi.NULL:
            raise MemoryError("fp_channel_new")
        self.pointer = ffi.gc(pointer, lib.fp_channel_free)
        self._lib = lib
        self._taken = ffi.new("fp_sent[]", lib.FP_CHANNEL_SENT_MAX)
        self._count = ffi.new("uint32_t *")
        self._adopt = adopt
        self.adopted = 0  # calls the walk sent and the pipeline took over

    def _calls(self, count: int) -> list[PendingCall]:
        """The walk's calls just taken over into the buffer, as PendingCalls, oldest first."""
        if not count:
            return []
        self.adopted += count
        adopt = self._adopt
        return [
            adopt(int(sent.seq), sent.sent_ns / 1e9, sent.timeout_ns / 1e9)
            for sent in self._taken[0:count]
        ]

    def claim(self) -> tuple[int, list[PendingCall]]:
        """The number for a call of the pipeline's own (the walk sends nothing more until
        :meth:`written` says it is on the socket), and the walk's calls sent before it."""
        seq = self._lib.fp_channel_claim(self.pointer, self._taken, self._count)
        return int(seq), self._calls(self._count[0])

    def adopt(self) -> list[PendingCall]:
        """The walk's calls nobody took over yet, oldest first."""
        return self._calls(self._lib.fp_channel_adopt(self.pointer, self._taken))

    def written(self, calls: int) -> None:
        """``calls`` claimed calls are on the socket now (or were given up unsent)."""
        if calls:
            self._lib.fp_channel_written(self.pointer, calls)

    def release(self, calls: int) -> None:
        """``calls`` unanswered calls were answered or failed. [any-thread]"""
        if calls:
            self._lib.fp_channel_release(self.pointer, calls)

    def abandon(self) -> None:
        """The call just claimed will not be sent (its params do not fit the wire)."""
        self.written(1)
        self.release(1)

    def sleep(self) -> tuple[bool, list[PendingCall]]:
        """(True, []) when the reader may sleep without a deadline (the walk wakes it after its
        next send), else (False, the walk's calls to time)."""
        asleep = self._lib.fp_channel_sleep(self.pointer, self._taken, self._count)
        return bool(asleep), self._calls(self._count[0])

    def close(self) -> tuple[int, list[PendingCall]]:
        """No more sends from the walk: the last request number, and its calls not taken over."""
        last = self._lib.fp_channel_close(self.pointer, self._taken, self._count)
        return int(last), self._calls(self._count[0])
