"""The C side of a worker's calls: the native dispatch's walk writes a call itself.

A :class:`NativeChannel` wraps fastpath.h's ``fp_channel`` for one :class:`CallPipeline`
(midimon/_native/jackin/channel.c). While the worker has nothing unanswered and its lane is
idle, the walk may write an EXECUTE to the worker's socket from C, with no interpreter between
the MIDI bytes and the send. The pipeline then takes that call over as its own, before any call
of its own and before it sleeps or reads an answer: it becomes an ordinary :class:`PendingCall`
(timed from the send, answered in order, a crash or hang during it attributed to it). Request
numbers come from the channel once it exists, so the walk's and the pipeline's never collide.

Every method but :meth:`release` is called with the pipeline's lock held (one ``fp_sent``
buffer serves them all); the channel's own mutex is taken inside, always after that lock.
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
        self, ffi: Any, lib: Any, tx_fd: int, wake_fd: int, last_seq: int, adopt: Adopter
    ) -> None:
        pointer = lib.fp_channel_new(tx_fd, wake_fd, last_seq)
        if pointer == ffi.NULL:
            raise MemoryError("fp_channel_new")
        self.pointer = ffi.gc(pointer, lib.fp_channel_free)
        self._lib = lib
        self._sent = ffi.new("fp_sent *")
        self._adopt = adopt
        self.adopted = 0  # calls the walk sent and the pipeline took over

    def _taken(self) -> PendingCall | None:
        """The walk's call just taken over into the buffer, as a PendingCall (or None)."""
        sent = self._sent
        if not sent.seq:
            return None
        self.adopted += 1
        return self._adopt(int(sent.seq), sent.sent_ns / 1e9, sent.timeout_ns / 1e9)

    def claim(self) -> tuple[int, PendingCall | None]:
        """The number for a call of the pipeline's own, and the walk's call sent before it."""
        seq = self._lib.fp_channel_claim(self.pointer, self._sent)
        return int(seq), self._taken()

    def adopt(self) -> PendingCall | None:
        """The walk's call, if it sent one nobody took over yet."""
        self._lib.fp_channel_adopt(self.pointer, self._sent)
        return self._taken()

    def release(self, calls: int) -> None:
        """``calls`` unanswered calls were answered or failed. [any-thread]"""
        if calls:
            self._lib.fp_channel_release(self.pointer, calls)

    def sleep(self) -> tuple[bool, PendingCall | None]:
        """(True, None) when the reader may sleep without a deadline (the walk wakes it after
        its next send), else (False, the walk's call to time)."""
        asleep = self._lib.fp_channel_sleep(self.pointer, self._sent)
        return bool(asleep), self._taken()

    def close(self) -> tuple[int, PendingCall | None]:
        """No more sends from the walk: the last request number, and its call not taken over."""
        last = self._lib.fp_channel_close(self.pointer, self._sent)
        return int(last), self._taken()
