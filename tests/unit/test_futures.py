"""AckFuture behaves as a concurrent.futures.Future whichever side comes first."""
import concurrent.futures
import threading

import pytest

from goka.runtime.futures import AckFuture


def test_resolved_before_anyone_looks():
    fut = AckFuture()
    fut.resolve(7)
    assert fut.done() and fut.result(0) == 7 and fut.exception(0) is None
    seen = []
    fut.add_done_callback(lambda f: seen.append(f.result()))
    assert seen == [7]


def test_exception():
    fut = AckFuture()
    fut.resolve(exception=ValueError("nope"))
    with pytest.raises(ValueError, match="nope"):
        fut.result(0)


def test_waiter_in_another_thread_is_woken():
    fut = AckFuture()
    got = []
    waiting = threading.Event()

    def wait():
        waiting.set()
        got.append(fut.result(10))

    t = threading.Thread(target=wait)
    t.start()
    waiting.wait(5)
    # the waiter may or may not have created the condition yet; both paths must wake it
    fut.resolve(3)
    t.join(10)
    assert got == [3]


def test_callback_registered_before_resolution_runs():
    fut = AckFuture()
    seen = []
    fut.add_done_callback(lambda f: seen.append(f.result()))
    assert seen == []
    fut.resolve(1)
    assert seen == [1]


def test_works_with_wait_and_as_completed():
    futs = [AckFuture() for _ in range(3)]
    for i, f in enumerate(futs[:2]):
        f.resolve(i)
    done, pending = concurrent.futures.wait(futs, timeout=0)
    assert len(done) == 2 and len(pending) == 1
    threading.Timer(0.01, futs[2].resolve, args=(2,)).start()
    assert sorted(f.result() for f in concurrent.futures.as_completed(futs, timeout=10)) == [0, 1, 2]
    assert isinstance(futs[0], concurrent.futures.Future)


def test_many_threads_race():
    for _ in range(200):
        fut = AckFuture()
        results = []
        threads = [threading.Thread(target=lambda: results.append(fut.result(10))) for _ in range(3)]
        for t in threads:
            t.start()
        fut.resolve("x")
        for t in threads:
            t.join(10)
        assert results == ["x"] * 3


def test_lists_and_condition_created_only_when_needed():
    fut = AckFuture()
    fut.resolve(3)
    assert not {"_cond", "_waiter_list", "_callback_list"} & set(fut.__dict__)
    other = AckFuture()
    assert "PENDING" in repr(other).upper()
    assert other.cancel() and other.cancelled()
    seen = []
    other.add_done_callback(seen.append)  # already done: called at once
    assert seen == [other] and other._done_callbacks == []
