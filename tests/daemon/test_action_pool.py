"""ActionPool: jobs run in submission order on one thread, in parallel on several, a failing
job never ends its thread, and shutdown drops what has not started."""

from __future__ import annotations

import logging
import threading

import pytest
from helpers import wait_for

from midimon.daemon.action_pool import ActionPool


def test_one_thread_runs_jobs_in_order() -> None:
    """With one thread (a plugin's lane) jobs run one after another in submission order."""
    done: list[int] = []
    pool = ActionPool(1, done.append, "lane")
    for n in range(500):
        pool.submit(n)
    assert wait_for(lambda: pool.idle, 10)
    assert done == list(range(500))
    assert pool.shutdown() == []


def test_several_threads_run_jobs_at_once() -> None:
    """Three threads run three blocked jobs at the same time."""
    running = threading.Barrier(4, timeout=10)
    pool = ActionPool(3, lambda: running.wait(), "actions")
    for _ in range(3):
        pool.submit()
    running.wait()  # would time out (BrokenBarrierError) if the jobs ran one by one
    assert wait_for(lambda: pool.idle, 10)
    pool.shutdown()


def test_a_failing_job_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a job is logged with its traceback; the next job still runs."""
    done: list[int] = []

    def work(n: int) -> None:
        if n == 0:
            raise RuntimeError("boom")
        done.append(n)

    pool = ActionPool(1, work, "lane")
    with caplog.at_level(logging.ERROR, logger="midimon.daemon.action_pool"):
        pool.submit(0)
        pool.submit(1)
        assert wait_for(lambda: pool.idle, 10)
    assert done == [1]
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    pool.shutdown()


def test_idle_and_pending_follow_the_jobs() -> None:
    """A running job is not idle; queued jobs are pending until a thread takes them."""
    release = threading.Event()
    started = threading.Event()

    def work(n: int) -> None:
        started.set()
        release.wait(10)

    pool = ActionPool(1, work, "lane")
    assert pool.idle and pool.pending == 0
    pool.submit(1)
    pool.submit(2)
    pool.submit(3)
    assert started.wait(10)
    assert not pool.idle and pool.pending == 2
    release.set()
    assert wait_for(lambda: pool.idle, 10) and pool.pending == 0
    pool.shutdown()


def test_shutdown_drops_what_has_not_started() -> None:
    """Jobs still queued come back from shutdown; the running one finishes first."""
    release = threading.Event()
    started = threading.Event()
    finished: list[int] = []

    def work(n: int, _label: str) -> None:
        started.set()
        release.wait(10)
        finished.append(n)

    pool = ActionPool(1, work, "lane")
    for n in range(4):
        pool.submit(n, "args")
    assert started.wait(10)
    threading.Timer(0.1, release.set).start()
    dropped = pool.shutdown()
    assert dropped == [(1, "args"), (2, "args"), (3, "args")]
    assert finished == [0]
