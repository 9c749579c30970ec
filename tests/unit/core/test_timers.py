"""Timers (``goka.Timer``, ``ctx.schedule``) in the partition processor, both twins: due
order, the ctx a timer callback sees, rollback, the timer record layout, and at least once
(a timer's tombstone only after its callback's effects are acknowledged)."""
from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import importlib.util
from pathlib import Path

import pytest

import goka
from goka import codec
from goka._core.timers import parse_timer_key, timer_key
from goka.errors import ProcessingError, UndeclaredTopicError
from goka.storage.memory import MemoryStorage

# the fake message and producer of test_partition (test modules are not a package)
_spec = importlib.util.spec_from_file_location("_partition_tests", Path(__file__).with_name("test_partition.py"))
assert _spec is not None and _spec.loader is not None
_tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tp)
Msg, Producer = _tp.Msg, _tp.Producer

T0 = 1_700_000_000_000
TIMERS = "g-timers"
SEEN: list[tuple[Any, ...]] = []


def on_msg(ctx: goka.Context, msg: str) -> None:
    """``<delay ms>[:value]`` schedules, ``c`` cancels, ``f...`` schedules and then fails."""
    if msg == "c":
        ctx.cancel_timers()
        return
    fail = msg.startswith("f")
    delay, _, value = msg.lstrip("f").partition(":")
    ctx.schedule(value or "v", delay=timedelta(milliseconds=int(delay)))
    if fail:
        raise RuntimeError("after schedule")


def on_timer(ctx: goka.Context, value: str) -> None:
    SEEN.append((ctx.key, value, ctx.topic, ctx.timestamp, ctx.offset, ctx.value()))
    if value == "boom":
        raise RuntimeError("timer failed")
    ctx.set_value(f"fired:{value}")
    ctx.emit("out", ctx.key, value)
    if value == "again":
        ctx.schedule("later", delay=timedelta(seconds=1))


def graph() -> Any:
    return goka.define_group("g", goka.Input("in", codec.String(), on_msg), goka.Persist(codec.String()),
                             goka.Output("out", codec.String()), goka.Timer(codec.String(), on_timer))


class Setup:
    def __init__(self, partition: ModuleType, timer_storage: Any = None, table: Any = None) -> None:
        SEEN.clear()
        self.now = T0
        self.producer = Producer()
        self.failures: list[BaseException] = []
        self.table = MemoryStorage() if table is None else table
        self.timer_storage = MemoryStorage() if timer_storage is None else timer_storage
        self.pp = partition.PartitionProcessor(
            graph(), 0, produce_batch=self.producer.produce_batch, partitions_of=lambda topic: 1,
            hasher=lambda key, n: 0, fail=self.failures.append, storage=self.table, joins={}, lookups={},
            nil_handling=goka.NilHandling.IGNORE, timer_storage=self.timer_storage, clock=lambda: self.now)

    def send(self, *msgs: tuple[bytes, str], start: int = 0) -> None:
        for i, (key, value) in enumerate(msgs):
            self.pp.process(Msg("in", start + i, key, value.encode(), ts=self.now))
        self.pp.end_batch()

    def settle(self) -> None:
        for _ in range(4):
            self.producer.deliver()
            self.pp.advance()

    def timer_records(self) -> list[tuple[bytes, bytes | None]]:
        return [(r["key"], r["value"]) for t, _, r, _ in self.producer.delivered if t == TIMERS]


def test_timer_key_layout() -> None:
    key = timer_key(T0, "user-1".encode())
    assert key == struct.pack(">q", T0) + b"user-1"
    assert parse_timer_key(key) == (T0, b"user-1")
    assert timer_key(1, b"z") < timer_key(2, b"a")  # byte order is due order
    with pytest.raises(ValueError, match="too short"):
        parse_timer_key(b"1234")


def test_fire_in_due_order_with_context(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"b", "200:second"), (b"a", "100:first"), (b"c", "5000:late"))
    s.settle()
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 100, b"a"): b"first",
                                             timer_key(T0 + 200, b"b"): b"second",
                                             timer_key(T0 + 5000, b"c"): b"late"}
    assert s.pp.fire_timers() == 0
    s.now = T0 + 250
    assert s.pp.fire_timers() == 2
    due = datetime.fromtimestamp((T0 + 100) / 1000, timezone.utc)
    assert SEEN[0] == ("a", "first", TIMERS, due, -1, None)
    assert [v for _, v, *_ in SEEN] == ["first", "second"]
    assert s.pp.stats()["timers"] == {"pending": 1, "fired": 2, "next_due": T0 + 5000}
    s.settle()
    assert dict(s.table.items()) == {b"a": b"fired:first", b"b": b"fired:second"}
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 5000, b"c"): b"late"}
    assert s.timer_records()[-2:] == [(timer_key(T0 + 100, b"a"), None), (timer_key(T0 + 200, b"b"), None)]
    assert s.pp.in_flight() == 0


def test_tombstone_only_after_effects_acknowledged(partition: ModuleType) -> None:
    """At least once: until the firing batch is acknowledged there is no tombstone, and a
    'crash' (a new partition processor over the same storage) fires the timer again."""
    s = Setup(partition)
    s.send((b"a", "10:x"))
    s.settle()
    s.now = T0 + 10
    assert s.pp.fire_timers() == 1
    s.pp.advance()
    assert all(value is not None for _, value in s.timer_records())  # no tombstone produced
    assert s.producer.pending and all(t != TIMERS for t, *_ in s.producer.pending)
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 10, b"a"): b"x"}
    # crash: nothing acknowledged; a new processor recovers the storage and fires again
    again = Setup(partition, timer_storage=s.timer_storage, table=s.table)
    again.now = T0 + 10
    assert again.pp.fire_timers() == 1
    assert SEEN == [("a", "x", TIMERS, datetime.fromtimestamp((T0 + 10) / 1000, timezone.utc), -1, None)]
    # the original's acknowledgement then buries it: tombstone, then storage
    s.producer.deliver()
    s.pp.advance()
    assert [(t, r["key"], r["value"]) for t, _, r, _ in s.producer.pending] == [
        (TIMERS, timer_key(T0 + 10, b"a"), None)]  # now the tombstone goes out
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 10, b"a"): b"x"}  # tombstone unacknowledged
    s.settle()
    assert dict(s.timer_storage.items()) == {}
    assert s.timer_storage.get_offset() == 1  # the tombstone's offset in the timer topic


def test_failed_message_rolls_back_its_schedule(partition: ModuleType) -> None:
    s = Setup(partition)
    with pytest.raises(ProcessingError):
        s.pp.process(Msg("in", 0, b"a", b"f10:x", ts=T0))
    s.pp.end_batch()
    s.settle()
    assert s.timer_records() == [] and dict(s.timer_storage.items()) == {}
    s.now = T0 + 1000
    assert s.pp.fire_timers() == 0


def test_cancel_and_reschedule(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "10:x"), (b"a", "20:y"), (b"b", "10:z"))
    s.send((b"a", "c"), start=3)
    s.settle()
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 10, b"b"): b"z"}
    s.now += 100
    assert s.pp.fire_timers() == 1 and SEEN[0][:2] == ("b", "z")


def test_timer_callback_schedules_again(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "10:again"))
    s.settle()
    s.now = T0 + 10
    assert s.pp.fire_timers() == 1
    s.settle()
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 10 + 1000, b"a"): b"later"}


def test_failing_timer_callback_keeps_the_timer(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "10:boom"), (b"b", "20:ok"), start=0)
    s.settle()
    s.now = T0 + 100
    with pytest.raises(ProcessingError, match="timer failed") as err:
        s.pp.fire_timers()
    assert err.value.topic == TIMERS
    s.settle()
    assert dict(s.timer_storage.items()) == {timer_key(T0 + 10, b"a"): b"boom", timer_key(T0 + 20, b"b"): b"ok"}
    assert s.pp.timers.next_due() == T0 + 10


def test_schedule_needs_timer_edge_and_one_time(dispatch: ModuleType) -> None:
    def cb(ctx: goka.Context, msg: Any) -> None:
        ctx.schedule("x", delay=timedelta(seconds=1))

    g = goka.define_group("g", goka.Input("in", codec.String(), cb))

    class Sink:
        def emit(self, *a: Any) -> None: ...

        def defer(self) -> Any: ...

    d = dispatch.Dispatcher(g, 0, Sink())
    with pytest.raises(ProcessingError) as err:
        d.process("in", 0, b"k", b"m")
    assert isinstance(err.value.__cause__, UndeclaredTopicError)
    with pytest.raises(goka.GroupError, match="more than one Timer"):
        goka.define_group("g", goka.Input("in", codec.String(), cb), goka.Timer(codec.String(), cb),
                          goka.Timer(codec.String(), cb))


@pytest.mark.parametrize("kwargs, exc", [
    ({}, TypeError), ({"at": 5}, TypeError), ({"delay": 5}, TypeError),
    ({"at": datetime(2030, 1, 1)}, ValueError),
    ({"at": datetime(2030, 1, 1, tzinfo=timezone.utc), "delay": timedelta(1)}, TypeError),
])
def test_schedule_rejects_bad_times(partition: ModuleType, kwargs: dict[str, Any], exc: type) -> None:
    calls: list[BaseException] = []

    def cb(ctx: goka.Context, msg: Any) -> None:
        try:
            ctx.schedule("x", **kwargs)
        except Exception as e:
            calls.append(e)

    g = goka.define_group("g", goka.Input("in", codec.String(), cb), goka.Timer(codec.String(), on_timer))
    pp = partition.PartitionProcessor(
        g, 0, produce_batch=lambda *a: None, partitions_of=lambda t: 1, hasher=lambda k, n: 0,
        fail=lambda e: None, storage=None, joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE,
        timer_storage=MemoryStorage())
    pp.process(Msg("in", 0, b"k", b"m"))
    assert len(calls) == 1 and isinstance(calls[0], exc)


def test_invalid_timer_record_in_storage_is_refused(partition: ModuleType) -> None:
    storage = MemoryStorage()
    storage.set(b"short", b"x")
    with pytest.raises(ProcessingError, match="invalid timer record key") as err:
        Setup(partition, timer_storage=storage)
    assert (err.value.group, err.value.topic, err.value.partition) == ("g", TIMERS, 0)


def test_due_time_out_of_range() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        timer_key(2**63, b"k")
