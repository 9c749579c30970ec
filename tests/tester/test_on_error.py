"""The tester: a failed message leaves no trace (issue 11, defects 1 and 5) and the error
policies of issue 12 (part 2) apply as on Kafka."""
from __future__ import annotations

from typing import Any

import pytest

import goka
from goka import codec
from goka.tester import Tester


def counting(fail_on: dict[str, int]) -> Any:
    """Count per key, emit and loop back the count, then raise while ``fail_on[msg] > 0``."""

    def cb(ctx: goka.Context, msg: str) -> None:
        count = (ctx.value() or 0) + 1
        ctx.set_value(count)
        ctx.emit("out", ctx.key, str(count))
        ctx.loopback(ctx.key, str(count))
        ctx.defer_commit()
        if fail_on.get(msg, 0) > 0:
            fail_on[msg] -= 1
            raise RuntimeError(f"bad message {msg}")

    return cb


def group(fail_on: dict[str, int], on_error: Any = None, loops: list[str] | None = None) -> goka.GroupGraph:
    seen = loops if loops is not None else []
    return goka.define_group(
        "counter", goka.Input("in", codec.String(), counting(fail_on), on_error=on_error),
        goka.Output("out", codec.String()), goka.Loop(codec.String(), lambda ctx, msg: seen.append(msg)),
        goka.Persist(codec.Int64()))


def test_failed_callback_leaves_no_trace() -> None:
    tt = Tester()
    loops: list[str] = []
    p = goka.Processor(tt, group({"bad": 1}, loops=loops))
    out = tt.queue_tracker("out")
    tt.consume("in", "k", "ok")
    with pytest.raises(goka.ProcessingError, match="bad message bad"):
        tt.consume("in", "k", "bad")
    assert tt.table_value("counter-table", "k") == 1
    assert [out.next(), out.next()] == [("k", "1", True), (None, None, False)]
    assert loops == ["1"]
    assert tt.queue_tracker("counter-table").hwm() == 1  # one changelog record
    assert p.state == "stopped"


def test_consume_after_failure_raises() -> None:
    """Defect 5: a message for a failed processor is never dropped silently."""
    tt = Tester()
    goka.Processor(tt, group({"bad": 1}))
    with pytest.raises(goka.ProcessingError) as failed:
        tt.consume("in", "k", "bad")
    for _ in range(2):
        with pytest.raises(goka.ProcessorStoppedError, match="group 'counter'.*'in' offset") as stopped:
            tt.consume("in", "k", "next")
        assert stopped.value.__cause__ is failed.value
    # a new processor of the group takes over (as a restart would)
    goka.Processor(tt, group({}))
    tt.consume("in", "k", "again")
    assert tt.table_value("counter-table", "k") == 1


def test_skip() -> None:
    tt = Tester()
    p = goka.Processor(tt, group({"bad": 5}, on_error=goka.Skip()))
    out = tt.queue_tracker("out")
    for msg in ("a", "bad", "b"):
        tt.consume("in", "k", msg)  # returns normally for the skipped message
    assert tt.table_value("counter-table", "k") == 2
    assert [out.next()[1], out.next()[1], out.next()[2]] == ["1", "2", False]
    assert p.stats()["skipped"] == {"in": 1} and p.state == "running"


def test_skip_decode_error() -> None:
    tt = Tester()
    p = goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.Int64(), lambda ctx, msg: None),
                                             goka.Persist(codec.Int64())), on_error=goka.Skip())
    tt.consume_raw("in", "k", b"not a number")
    assert p.stats()["skipped"] == {"in": 1}


def test_dead_letter() -> None:
    tt = Tester()
    p = goka.Processor(tt, group({"bad": 5}), on_error=goka.DeadLetter("dead"))
    dead = tt.queue_tracker("dead", codec.String())
    tt.consume("in", "k", "bad", headers={"trace": b"t-1"})
    key, value, headers, ok = dead.next_with_headers()
    assert (key, value, ok) == ("k", "bad", True)
    assert headers == {"trace": b"t-1", "goka.error.group": b"counter", "goka.error.topic": b"in",
                       "goka.error.partition": b"0", "goka.error.offset": b"0",
                       "goka.error.class": b"builtins.RuntimeError", "goka.error.message": b"bad message bad"}
    assert tt.table_value("counter-table", "k") is None
    assert p.stats()["dead_lettered"] == {"in": 1}


def test_retry_processes_once() -> None:
    tt = Tester()
    fail_on = {"flaky": 2}
    goka.Processor(tt, group(fail_on, on_error=goka.Retry(3, backoff=60)))  # the tester does not wait
    out = tt.queue_tracker("out")
    tt.consume("in", "k", "flaky")
    assert fail_on == {"flaky": 0}
    assert tt.table_value("counter-table", "k") == 1
    assert [out.next(), out.next()[2]] == [("k", "1", True), False]


def test_retry_then_fail() -> None:
    tt = Tester()
    goka.Processor(tt, group({"bad": 9}, on_error=goka.Retry(2, backoff=0)))
    with pytest.raises(goka.ProcessingError, match="bad message"):
        tt.consume("in", "k", "bad")
    assert tt.table_value("counter-table", "k") is None


def test_ctx_fail_stops_whatever_the_policy() -> None:
    tt = Tester()
    g = goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: ctx.fail("explicit")))
    p = goka.Processor(tt, g, on_error=goka.Retry(3, then=goka.Skip()))
    with pytest.raises(goka.ProcessingError, match="explicit"):
        tt.consume("in", "k", "x")
    assert p.state == "stopped"


def test_rolled_back_deferred_commit_is_ignored() -> None:
    dones: list[Any] = []

    def cb(ctx: goka.Context, msg: str) -> None:
        dones.append(ctx.defer_commit())
        raise RuntimeError("no")

    tt = Tester()
    p = goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), cb)), on_error=goka.Skip())
    tt.consume("in", "k", "x")
    dones[0](RuntimeError("late failure"))  # belongs to a discarded attempt: ignored
    tt.catchup()
    assert p.state == "running"
