"""The per-partition bookkeeping of ``goka._core.partition``, both twins: tickets and
commits, table generations, visits, outbox, and a differential test."""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import goka
from goka import codec
from goka.errors import ProcessingError, ProduceError
from goka.storage.memory import MemoryStorage

IN = "in"
OUT = "out"
TABLE = "g-table"
LOOP = "g-loop"


class Msg:
    """What the partition processor reads of a confluent-kafka message."""

    def __init__(self, topic: str, offset: int, key: bytes, value: bytes | None,
                 headers: Any = None, ts: int = 1_700_000_000_000, partition: int = 0,
                 error: Any = None) -> None:
        self._topic, self._offset, self._key, self._value = topic, offset, key, value
        self._headers, self._ts, self._partition, self._error = headers, ts, partition, error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def error(self) -> Any:
        return self._error

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def headers(self) -> Any:
        return self._headers


class Delivered:
    def __init__(self, topic: str, offset: int, partition: int = 0, key: bytes | None = None,
                 value: bytes | None = None) -> None:
        self._topic, self._offset, self._partition, self._key, self._value = topic, offset, partition, key, value

    def topic(self) -> str:
        return self._topic

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


class KafkaErr:
    def __init__(self, text: str) -> None:
        self.text = text

    def str(self) -> str:
        return self.text

    def code(self) -> int:
        return -1


class Producer:
    """Records ``produce_batch`` calls; the test delivers their acknowledgements. A record's
    own ``"callback"`` replaces ``on_delivery``; a record with neither is delivered silently
    (and ``batches`` shows ``"callback": True`` where a record carried one, and leaves out
    the input message's ``"offset"``/``"topic"``, which ``sources`` lists)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, int, dict[str, Any], Callable[[Any, Any], None] | None]] = []
        self.batches: list[tuple[str, int, list[dict[str, Any]]]] = []
        self.offsets: dict[str, int] = {}
        self.delivered: list[tuple[str, int, dict[str, Any], int]] = []
        self.sources: list[tuple[bytes, Any, int]] = []

    def produce_batch(self, topic: str, partition: int, records: list[dict[str, Any]],
                      on_delivery: Callable[[Any, Any], None] | None) -> None:
        self.batches.append((topic, partition, [
            {k: (True if k == "callback" else v) for k, v in r.items() if k not in ("offset", "topic")}
            for r in records]))
        self.sources += [(r["key"], r.get("topic"), r["offset"]) for r in records]
        for record in records:
            self.pending.append((topic, partition, record, record.get("callback", on_delivery)))

    def deliver(self, n: int | None = None, error: str | None = None) -> None:
        """Acknowledge the first ``n`` pending records (all by default)."""
        n = len(self.pending) if n is None else n
        todo, self.pending = self.pending[:n], self.pending[n:]
        for topic, partition, record, cb in todo:
            if error is not None:
                if cb is not None:
                    cb(KafkaErr(error), Delivered(topic, -1, partition, record["key"], record["value"]))
                continue
            offset = self.offsets.get(topic, -1) + 1
            self.offsets[topic] = offset
            self.delivered.append((topic, partition, record, offset))
            if cb is not None:
                cb(None, Delivered(topic, offset))


DONES: list[Callable[..., None]] = []
ATTEMPTS: dict[bytes, int] = {}  # calls per key, for "t<n>": fail the first n attempts


def step(ctx: goka.Context, msg: str) -> None:
    """Commands in the message, ';'-separated: s<v> set, d delete, e emit, h emit with
    headers, l loopback, w defer commit, f fail, r read the table into an emit, x ctx.fail,
    t<n> fail while the key has been tried at most n times."""
    for cmd in msg.split(";"):
        if not cmd:
            continue
        op, arg = cmd[0], cmd[1:]
        if op == "s":
            ctx.set_value(arg)
        elif op == "d":
            ctx.delete()
        elif op == "e":
            ctx.emit(OUT, ctx.key, arg)
        elif op == "h":
            ctx.emit(OUT, ctx.key, arg, headers={"a": "x", "b": b"y"})
        elif op == "l":
            ctx.loopback(ctx.key, arg)
        elif op == "w":
            DONES.append(ctx.defer_commit())
        elif op == "f":
            raise RuntimeError("boom")
        elif op == "r":
            ctx.emit(OUT, ctx.key, str(ctx.value()))
        elif op == "x":
            ctx.fail(ValueError("explicit"))
        elif op == "t":
            tried = ATTEMPTS[ctx.key.encode()] = ATTEMPTS.get(ctx.key.encode(), 0) + 1
            if tried <= int(arg):
                raise RuntimeError(f"attempt {tried}")


def looped(ctx: goka.Context, msg: str) -> None:
    ctx.set_value("loop:" + msg)


def visited(ctx: goka.Context, meta: Any) -> None:
    ctx.set_value(f"{ctx.value()}+{meta}")


def group(on_error: Any = None) -> Any:
    return goka.define_group(
        "g", goka.Input(IN, codec.String(), step), goka.Input("in2", codec.String(), step, on_error=on_error),
        goka.Output(OUT, codec.String()), goka.Loop(codec.String(), looped),
        goka.Persist(codec.String()), goka.Visitor("v", visited))


class Setup:
    def __init__(self, partition: ModuleType, storage: Any = None, nparts: int = 4,
                 ack_each: bool = True, coalesce: bool = False, on_error: Any = None,
                 edge_on_error: Any = None) -> None:
        DONES.clear()
        ATTEMPTS.clear()
        self.producer = Producer()
        self.failures: list[BaseException] = []
        self.sleeps: list[float] = []
        self.storage = MemoryStorage() if storage is None else storage
        self.pp = partition.PartitionProcessor(
            group(edge_on_error), 1, produce_batch=self.producer.produce_batch, partitions_of=lambda topic: nparts,
            hasher=lambda key, n: len(key) % n, fail=self.failures.append, storage=self.storage,
            joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE, ack_each=ack_each,
            coalesce=coalesce, on_error=on_error, sleep=lambda s: bool(self.sleeps.append(s)))

    def run(self, *msgs: tuple[Any, ...], topic: str = IN, start: int = 0) -> None:
        for i, (key, value) in enumerate(msgs):
            self.pp.process(Msg(topic, start + i, key, value))

    def table(self) -> dict[bytes, bytes]:
        return dict(self.storage.items())


def test_commit_after_acks(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"sx;e1"), (b"b", b"sy"))
    assert s.pp.advance() == {}  # the batch is still open
    s.pp.end_batch()
    assert s.pp.in_flight() == 2  # one ticket + one sealed generation
    assert s.pp.advance() == {}
    assert s.table() == {}
    s.producer.deliver(2)
    assert s.pp.advance() == {}  # 3 records, 2 acknowledged
    s.producer.deliver()
    assert s.pp.advance() == {IN: 2}
    assert s.table() == {b"a": b"x", b"b": b"y"}
    assert s.storage.get_offset() == 1  # the max changelog offset of the generation
    assert s.pp.in_flight() == 0
    assert s.pp.stats()["consumed"] == {IN: 2, "in2": 0, LOOP: 0}
    assert s.pp.stats()["produced"] == {TABLE: 2, OUT: 1}


def test_stats_count_messages_during_and_after_a_batch(partition: ModuleType) -> None:
    """consumed, last_offset and lag count every processed message at once, also in the
    middle of a batch, across topics (the compiled twin adds them up at the end of the batch)."""
    s = Setup(partition)
    s.pp.hwm[IN] = 20
    s.run((b"a", b""), (b"b", b""), start=10)
    s.run((b"c", b""), topic=LOOP, start=4)
    stats = s.pp.stats()
    assert stats["consumed"] == {IN: 2, "in2": 0, LOOP: 1}
    assert stats["last_offset"] == {IN: 11, LOOP: 4}
    assert stats["lag"] == {IN: 8}
    s.pp.end_batch()
    assert s.pp.stats()["consumed"] == {IN: 2, "in2": 0, LOOP: 1}
    s.run((b"d", b""), start=12)
    assert s.pp.stats()["consumed"] == {IN: 3, "in2": 0, LOOP: 1}
    assert s.pp.stats()["last_offset"] == {IN: 12, LOOP: 4}
    s.pp.end_batch()
    stats = s.pp.stats()
    assert (stats["consumed"], stats["last_offset"], stats["lag"]) == (
        {IN: 3, "in2": 0, LOOP: 1}, {IN: 12, LOOP: 4}, {IN: 7})


def test_no_records_commits_at_once(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b""), (b"b", b""), start=10)
    s.pp.end_batch()
    assert s.producer.batches == []
    assert s.pp.advance() == {IN: 12}
    assert s.pp.in_flight() == 0


def test_commit_prefix_over_tickets(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"e1"))
    s.pp.end_batch()
    s.run((b"b", b""), start=1)  # no records: done at once, but behind the first
    s.pp.end_batch()
    s.run((b"c", b"e2"), start=2)
    s.pp.end_batch()
    assert s.pp.advance() == {}
    assert len(s.pp.tickets[IN]) == 3
    s.producer.deliver(1)
    assert s.pp.advance() == {IN: 2}
    s.producer.deliver()
    assert s.pp.advance() == {IN: 3}
    assert s.pp.committable == {IN: 3}


def test_tickets_per_topic(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"e1"), topic=IN, start=5)
    s.run((b"a", b""), topic="in2", start=7)
    s.pp.end_batch()
    assert s.pp.advance() == {}  # both tickets wait for the batch's records
    s.producer.deliver()
    assert s.pp.advance() == {IN: 6, "in2": 8}


def test_failure_mid_batch_not_covered(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"sx"), (b"b", b"sy"))
    with pytest.raises(ProcessingError, match="RuntimeError: boom"):
        s.pp.process(Msg(IN, 2, b"c", b"sz;f"))
    assert s.pp.current is None
    assert s.pp.stats()["consumed"][IN] == 2
    assert s.pp.stats()["last_offset"] == {IN: 1}
    s.pp.end_batch()
    s.producer.deliver()
    assert s.pp.advance() == {IN: 2}  # the failed message (offset 2) is not covered
    # the failed message's write was discarded: only the others reach the table
    assert s.table() == {b"a": b"x", b"b": b"y"}
    assert [r["key"] for _, _, r, _ in s.producer.delivered] == [b"a", b"b"]


def test_failure_first_message_commits_nothing(partition: ModuleType) -> None:
    s = Setup(partition)
    with pytest.raises(ProcessingError):
        s.pp.process(Msg(IN, 0, b"c", b"f"))
    s.pp.end_batch()
    assert s.pp.advance() == {}
    assert s.pp.in_flight() == 0


def test_delivery_error_fails_and_blocks(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"sx;e1"))
    s.pp.end_batch()
    s.producer.deliver(1, error="broker down")
    assert len(s.failures) == 1
    exc = s.failures[0]
    assert isinstance(exc, ProduceError)
    assert "could not produce to topic 'g-table' partition 1: broker down" in str(exc)
    assert (exc.topic, exc.partition, exc.offset, exc.key) == (IN, 1, 0, "a")
    s.producer.deliver()
    assert s.pp.advance() == {}
    assert s.table() == {}


def test_records_name_their_input_message(partition: ModuleType) -> None:
    """Each record carries its input message (offset; topic where the group has several
    inputs); coalesced records the latest message's; visits' records none. A record
    refused at once raises a ProduceError naming that message."""
    s = Setup(partition, coalesce=True)
    s.run((b"a", b"s1;e1"), (b"bb", b"l2"), start=5)
    s.run((b"a", b"s3"), topic="in2", start=7)
    s.pp.end_batch()
    assert sorted(s.producer.sources) == sorted([(b"a", "in2", 7), (b"a", IN, 5), (b"bb", IN, 6)])
    s.producer.sources.clear()
    s.pp.visit("v", "m")
    s.pp.end_batch()
    assert s.producer.sources and all(offset < 0 for _, _, offset in s.producer.sources)

    def refuse(topic: str, partition: int, records: list[dict[str, Any]], on_delivery: Any) -> None:
        raise ProduceError("too large", group="g", produce_topic=topic, produce_partition=partition,
                           key=records[0]["key"], record=records[0], code=10)

    r = Setup(partition)
    r.pp = partition.PartitionProcessor(
        group(), 1, produce_batch=refuse, partitions_of=lambda topic: 4, hasher=lambda key, n: 0,
        fail=r.failures.append, storage=r.storage, joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE)
    r.run((b"k", b"s1"), topic="in2", start=41)
    with pytest.raises(ProduceError) as info:
        r.pp.end_batch()
    err = info.value
    assert (err.topic, err.partition, err.offset, err.key, err.produce_topic, err.code) == (
        "in2", 1, 41, "k", TABLE, 10)


def test_deferred_commits(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"w"), (b"b", b"w"))
    s.pp.end_batch()
    assert len(DONES) == 2
    assert s.pp.advance() == {}
    DONES[0]()
    DONES[0]()  # only the first call counts
    assert s.pp.advance() == {}
    DONES[1]()
    assert s.pp.advance() == {IN: 2}
    assert s.failures == []


def test_deferred_commit_error(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"w"), start=3)
    s.pp.end_batch()
    DONES[0](ValueError("nope"))
    DONES[0]()
    assert len(s.failures) == 1
    exc = s.failures[0]
    assert isinstance(exc, ProcessingError)
    assert "deferred commit failed: ValueError('nope')" in str(exc)
    assert s.pp.advance() == {}


def test_defer_outside_processing(partition: ModuleType) -> None:
    s = Setup(partition)
    done = s.pp.defer()
    assert done() is None
    assert done(ValueError()) is None


def test_generations_flushed_in_order_after_acks(partition: ModuleType) -> None:
    s = Setup(partition)
    s.run((b"a", b"s1"))
    s.pp.end_batch()
    s.run((b"a", b"s2;e0"), (b"b", b"s3"), start=1)
    s.pp.end_batch()
    assert s.pp.table.unflushed == 2
    # acknowledge the second batch first (2 table records + 1 output): nothing flushes
    first, rest = s.producer.pending[:1], s.producer.pending[1:]
    s.producer.pending = rest
    s.producer.deliver()
    assert s.pp.advance() == {}
    assert s.table() == {}
    s.producer.pending = first
    s.producer.deliver()
    assert s.pp.advance() == {IN: 3}
    assert s.table() == {b"a": b"2", b"b": b"3"}
    # table offsets: batch 2 got 0 and 1, batch 1 got 2; the last flush stores 2's max
    assert s.storage.get_offset() == 1
    assert s.pp.table.unflushed == 0


def test_reads_see_unflushed_generations(partition: ModuleType) -> None:
    s = Setup(partition)
    s.storage.write_batch([(b"a", b"old"), (b"c", b"stored")], offset=None)
    s.run((b"a", b"s1"))
    s.pp.end_batch()
    s.run((b"b", b"d"), start=1)
    s.run((b"a", b"r"), (b"b", b"r"), (b"c", b"r"), (b"z", b"r"), start=2)
    s.pp.end_batch()
    outs = [r["value"] for t, _, r, _ in [(t, p, r, cb) for t, p, r, cb in s.producer.pending] if t == OUT]
    assert outs == [b"1", b"None", b"stored", b"None"]
    assert s.pp.get(b"a") == b"1"  # peek: cached
    assert s.pp.get(b"c") == b"stored"
    assert s.pp.get(b"q") is None
    # a small cache is emptied when full; reads still come from generations/storage
    s.pp.table.max_cached = 1
    s.pp.table.values.clear()
    assert s.pp.table.get(b"a") == b"1"
    assert s.pp.table.get(b"c") == b"stored"
    assert s.pp.table.values == {b"c": b"stored"}
    assert s.pp.get(b"a") == b"old"  # peek does not read the unflushed generations


def test_peek_without_table(partition: ModuleType) -> None:
    pp = partition.PartitionProcessor(
        goka.define_group("n", goka.Input(IN, codec.String(), step), goka.Output(OUT, codec.String())), 0,
        produce_batch=lambda *a: None, partitions_of=lambda t: 1, hasher=lambda k, n: 0, fail=print,
        storage=MemoryStorage(), joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE)
    assert pp.table is None
    assert pp.get(b"a") is None
    assert pp.visit("v", None) == 0
    assert pp.in_flight() == 0


def test_callback_reads_the_message_headers(partition: ModuleType) -> None:
    """ctx.headers are the current message's (read through its ``headers()`` only when the
    callback asks: the compiled twins hand the dispatcher the message itself)."""
    calls: list[int] = []

    class Counted(Msg):
        def headers(self) -> Any:
            calls.append(self._offset)
            return self._headers

    seen: list[Any] = []

    def cb(ctx: goka.Context, msg: str) -> None:
        if msg == "read":
            seen.append(ctx.headers)
            seen.append(ctx.headers)  # parsed once per message

    pp = partition.PartitionProcessor(
        goka.define_group("n", goka.Input(IN, codec.String(), cb)), 0,
        produce_batch=lambda *a: None, partitions_of=lambda t: 1, hasher=lambda k, n: 0, fail=print,
        storage=None, joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE)
    pp.process(Counted(IN, 1, b"k", b"read", headers=[("a", b"1"), ("b", "2")]))
    pp.process(Counted(IN, 2, b"k", b"skip", headers=[("c", b"3")]))
    pp.process(Counted(IN, 3, b"k", b"read"))
    assert seen == [{"a": b"1", "b": b"2"}, {"a": b"1", "b": b"2"}, {}, {}]
    assert calls == [1, 3]


def test_outbox_grouping_and_headers(partition: ModuleType) -> None:
    s = Setup(partition, nparts=4)
    s.run((b"ab", b"e1;sx;h2;l3"), (b"abc", b"e4"), (b"ab", b"e5"))
    assert s.pp.outbox_size == 6
    assert s.pp.in_flight() == 8  # 1 ticket + the open generation + 6 records
    s.pp.end_batch()
    assert s.pp.outbox == {} and s.pp.outbox_size == 0
    assert s.producer.batches == [
        (OUT, 2, [{"key": b"ab", "value": b"1"}, {"key": b"ab", "value": b"2", "headers": [("a", b"x"), ("b", b"y")]},
                  {"key": b"ab", "value": b"5"}]),
        (TABLE, 1, [{"key": b"ab", "value": b"x"}]),  # the table partition is this one
        (LOOP, 2, [{"key": b"ab", "value": b"3"}]),
        (OUT, 3, [{"key": b"abc", "value": b"4"}]),
    ]
    s.producer.deliver()
    assert s.pp.advance() == {IN: 3}
    s.run((b"ab", b"3"), topic=LOOP)
    s.pp.end_batch()
    s.producer.deliver()
    assert s.pp.advance() == {IN: 3, LOOP: 1}
    assert s.table() == {b"ab": b"loop:3"}


def test_one_report_per_partition(partition: ModuleType) -> None:
    """``ack_each=False``: only the last record of each (topic, partition) carries the
    callback, and the batch waits for exactly those reports."""
    s = Setup(partition, ack_each=False, nparts=4)
    s.run((b"ab", b"e1;sx;e2"), (b"abc", b"e3;sy"))
    s.pp.end_batch()
    assert s.producer.batches == [
        (OUT, 2, [{"key": b"ab", "value": b"1"}, {"key": b"ab", "value": b"2", "callback": True}]),
        (TABLE, 1, [{"key": b"ab", "value": b"x"}, {"key": b"abc", "value": b"y", "callback": True}]),
        (OUT, 3, [{"key": b"abc", "value": b"3", "callback": True}]),
    ]
    s.producer.deliver(4)  # OUT/2 fully, the table's first record: its report is still out
    assert s.pp.advance() == {}
    assert s.table() == {}
    s.producer.deliver()
    assert s.pp.advance() == {IN: 2}
    assert s.table() == {b"ab": b"x", b"abc": b"y"}
    assert s.storage.get_offset() == 1  # the changelog offset of the reporting (last) record


def test_one_report_per_partition_error(partition: ModuleType) -> None:
    s = Setup(partition, ack_each=False)
    s.run((b"a", b"sx;sy"))
    s.pp.end_batch()
    s.producer.deliver(error="gapless guarantee")
    assert len(s.failures) == 1
    assert "could not produce to topic 'g-table' partition 1: gapless guarantee" in str(s.failures[0])
    assert s.pp.advance() == {}
    assert s.table() == {}


def test_coalesced_changelog(partition: ModuleType) -> None:
    """``coalesce=True``: one changelog record per key and batch, at the position of the
    key's first write, with its last value (headers included); other topics untouched."""
    s = Setup(partition, coalesce=True)
    s.run((b"a", b"s1;e1"), (b"b", b"s2"), (b"a", b"s3;e2;d"), (b"b", b"s4"), (b"c", b"d;s5"))
    s.pp.end_batch()
    table_batches = [recs for topic, _, recs in s.producer.batches if topic == TABLE]
    assert table_batches == [[{"key": b"a", "value": None}, {"key": b"b", "value": b"4"},
                              {"key": b"c", "value": b"5"}]]
    assert [len(recs) for topic, _, recs in s.producer.batches if topic == OUT] == [2]
    assert s.pp.stats()["produced"] == {TABLE: 3, OUT: 2}
    s.producer.deliver()
    assert s.pp.advance() == {IN: 5}
    assert s.table() == {b"b": b"4", b"c": b"5"}
    s.run((b"b", b"s6"), (b"b", b"s7"), start=5)  # a new batch: a new record
    s.pp.end_batch()
    assert s.producer.batches[-1] == (TABLE, 1, [{"key": b"b", "value": b"7"}])


def test_coalesced_changelog_headers(partition: ModuleType) -> None:
    s = Setup(partition, coalesce=True)
    s.pp.process(Msg(IN, 0, b"a", b"s1"))
    s.pp.dispatcher.process(IN, 1, b"a", b"", 0, None)  # no table write
    s.pp.emit(TABLE, b"a", b"2", {"h": "v"})
    s.pp.end_batch()
    assert s.producer.batches == [(TABLE, 1, [{"key": b"a", "value": b"2", "headers": [("h", b"v")]}])]


def test_process_batch(partition: ModuleType) -> None:
    """Messages go to their partition's processor, revoked partitions' messages are
    dropped, consumer errors go to ``on_error``, and each touched processor ends its batch."""
    s = Setup(partition)
    errors: list[Any] = []
    msgs = [Msg(IN, 0, b"a", b"s1"), Msg(IN, 0, b"x", b"s9", partition=3), Msg(IN, -1, b"", b"", error="boom"),
            Msg(IN, 1, b"b", b"e2")]
    assert partition.process_batch(msgs, {0: s.pp}, errors.append) == 2
    assert errors == ["boom"]
    assert s.pp.outbox_size == 0 and len(s.producer.batches) == 2  # handed over by end_batch
    s.producer.deliver()
    assert s.pp.advance() == {IN: 2}
    assert s.table() == {b"a": b"1"}


def test_visit(partition: ModuleType) -> None:
    s = Setup(partition)
    s.storage.write_batch([(b"k1", b"a"), (b"k2", b"b")], offset=None)
    s.run((b"k3", b"sc"), (b"k2", b"d"))
    s.pp.end_batch()
    s.run((b"k4", b"sd"), start=2)
    assert s.pp.visit("v", "m") == 3
    s.pp.end_batch()
    s.producer.deliver()
    s.pp.advance()
    assert s.table() == {b"k1": b"a+m", b"k3": b"c+m", b"k4": b"d+m"}
    assert s.pp.advance() == {IN: 3}


def test_stats(partition: ModuleType) -> None:
    s = Setup(partition)
    s.pp.hwm[IN] = 10
    s.run((b"a", b"sx"), start=4)
    st_ = s.pp.stats()
    assert st_["hwm"] == {IN: 10}
    assert st_["lag"] == {IN: 5}
    assert st_["in_flight"] == 3  # ticket, open generation, table record
    s.pp.committed[IN] = 3
    assert s.pp.stats()["committed"] == {IN: 3}


def test_unknown_topic(partition: ModuleType) -> None:
    s = Setup(partition)
    with pytest.raises(KeyError):
        s.pp.process(Msg("nope", 0, b"a", b""))


# -- differential --------------------------------------------------------------------------

commands = st.lists(st.sampled_from(["s1", "s2", "d", "e7", "h8", "l9", "w", "r", "f", "x", "t1"]), max_size=3)
policies = st.sampled_from([None, goka.Skip(), goka.DeadLetter("dlq"), goka.Retry(2, backoff=0),
                            goka.Retry(2, backoff=0, then=goka.DeadLetter("dlq"))])
events = st.lists(
    st.one_of(
        st.tuples(st.just("msg"), st.sampled_from([IN, "in2", LOOP]), st.sampled_from([b"a", b"bb", b"ccc"]),
                  commands),
        st.tuples(st.just("end")),
        st.tuples(st.just("ack"), st.integers(0, 4)),
        st.tuples(st.just("nack"), st.integers(0, 2)),
        st.tuples(st.just("done"), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("advance")),
        st.tuples(st.just("visit")),
    ),
    max_size=40,
)


def _trace(partition: ModuleType, evs: list[tuple[Any, ...]], ack_each: bool = True,
           coalesce: bool = False, on_error: Any = None) -> list[Any]:
    s = Setup(partition, ack_each=ack_each, coalesce=coalesce, on_error=on_error)
    offsets: dict[str, int] = {}
    out: list[Any] = []
    for ev in evs:
        kind = ev[0]
        if kind == "msg":
            _, topic, key, cmds = ev
            offset = offsets.get(topic, 0)
            offsets[topic] = offset + 1
            try:
                s.pp.process(Msg(topic, offset, key, ";".join(cmds).encode()))
            except ProcessingError as exc:
                out.append(("error", str(exc)))
        elif kind == "end":
            s.pp.end_batch()
        elif kind == "ack":
            s.producer.deliver(min(ev[1], len(s.producer.pending)))
        elif kind == "nack":
            s.producer.deliver(min(ev[1], len(s.producer.pending)), error="bad")
        elif kind == "done":
            if DONES:
                done = DONES[ev[1] % len(DONES)]
                done(ValueError("x")) if ev[2] else done()
        elif kind == "advance":
            out.append(("advance", dict(s.pp.advance())))
        elif kind == "visit":
            out.append(("visit", s.pp.visit("v", "m")))
        out.append(("in_flight", s.pp.in_flight()))
    s.pp.end_batch()
    s.producer.deliver()
    for done in DONES:
        done()
    out.append(("final", dict(s.pp.advance()), s.pp.in_flight()))
    out.append(("failures", [str(f) for f in s.failures]))
    out.append(("storage", s.table(), s.storage.get_offset()))
    out.append(("batches", s.producer.batches))
    out.append(("stats", {k: v for k, v in s.pp.stats().items()}))
    out.append(("attempts", dict(ATTEMPTS), s.sleeps))
    return out


@settings(max_examples=300, deadline=None)
@given(evs=events, ack_each=st.booleans(), coalesce=st.booleans(), on_error=policies)
def test_differential(partition_c: ModuleType, evs: list[tuple[Any, ...]], ack_each: bool, coalesce: bool,
                      on_error: Any) -> None:
    from goka._core import _partition_py

    assert (_trace(partition_c, evs, ack_each, coalesce, on_error)
            == _trace(_partition_py, evs, ack_each, coalesce, on_error))


# -- a failed message leaves no trace (issue 11, defect 1) -----------------------------------

def test_failed_message_discards_everything(partition: ModuleType) -> None:
    """Table write, changelog record, emits (with and without headers), loopback and a
    deferred commit of a raising callback are all discarded; the earlier message's stay."""
    s = Setup(partition)
    s.storage.write_batch([(b"k", b"stored")], offset=None)
    s.run((b"a", b"s1;e1"))
    before = ({k: list(v) for k, v in s.pp.outbox.items()}, s.pp.outbox_size, s.pp.stats()["produced"])
    with pytest.raises(ProcessingError, match="boom"):
        s.pp.process(Msg(IN, 1, b"a", b"s2;e2;h3;l4;w;f"))
    with pytest.raises(ProcessingError, match="boom"):
        s.pp.process(Msg(IN, 2, b"k", b"d;f"))  # a delete of a stored key
    assert ({k: list(v) for k, v in s.pp.outbox.items()}, s.pp.outbox_size, s.pp.stats()["produced"]) == before
    assert s.pp.table.current.writes == {b"a": b"1"}
    assert s.pp.table.get(b"a") == b"1" and s.pp.table.get(b"k") == b"stored"
    assert s.pp.stats()["consumed"][IN] == 1
    s.pp.end_batch()
    s.producer.deliver()
    # the failed message's deferred commit does not hold the partition
    assert s.pp.advance() == {IN: 1}
    assert s.pp.in_flight() == 0
    DONES[0]()  # calling a rolled-back done later changes nothing
    DONES[0](ValueError("late"))
    assert s.failures == []
    assert s.table() == {b"a": b"1", b"k": b"stored"}
    assert [(t, r["value"]) for t, _, r, _ in s.producer.delivered] == [(TABLE, b"1"), (OUT, b"1")]


def test_failed_message_after_long_and_short_journals(partition: ModuleType) -> None:
    """A failed message undoes exactly its own effects, whatever the journals of the
    messages before it held (the compiled twin empties a short journal keeping its
    allocation, a long one by clearing it)."""
    s = Setup(partition)
    long = ";".join(["s1"] + [f"e{i}" for i in range(12)] + ["w"])  # 14 undo entries
    s.run((b"a", long.encode()))
    with pytest.raises(ProcessingError, match="boom"):
        s.pp.process(Msg(IN, 1, b"a", b"s2;e20;w;f"))
    s.pp.process(Msg(IN, 2, b"b", b"s3;e30"))  # a short journal
    with pytest.raises(ProcessingError, match="boom"):
        s.pp.process(Msg(IN, 3, b"b", ";".join(["s4"] + [f"e{i}" for i in range(40, 52)] + ["f"]).encode()))
    s.pp.process(Msg(IN, 4, b"c", b"s5"))
    with pytest.raises(ProcessingError, match="boom"):
        s.pp.process(Msg(IN, 5, b"c", b"d;f"))
    assert s.pp.table.current.writes == {b"a": b"1", b"b": b"3", b"c": b"5"}
    assert s.pp.outbox_size == 1 + 12 + 2 + 1 and s.pp.stats()["produced"] == {TABLE: 3, OUT: 13}
    s.pp.end_batch()
    s.producer.deliver()
    DONES[0]()
    assert s.pp.advance() == {IN: 5} and s.pp.in_flight() == 0
    assert s.table() == {b"a": b"1", b"b": b"3", b"c": b"5"}
    assert [r["value"] for t, _, r, _ in s.producer.delivered if t == OUT] == \
        [b"%d" % i for i in range(12)] + [b"30"]


def test_failed_first_write_drops_the_generation(partition: ModuleType) -> None:
    s = Setup(partition)
    with pytest.raises(ProcessingError):
        s.pp.process(Msg(IN, 0, b"a", b"s1;f"))
    assert s.pp.table.current is None and s.pp.table.values == {}
    assert s.pp.outbox == {} and s.pp.in_flight() == 1  # only the (empty) ticket
    s.pp.end_batch()
    assert s.pp.advance() == {} and s.pp.in_flight() == 0


def test_failed_message_coalesced(partition: ModuleType) -> None:
    """Coalescing: a failed message's change of the batch's record of a key is undone
    (value and headers), and its new records are forgotten."""
    s = Setup(partition, coalesce=True)
    s.pp.process(Msg(IN, 0, b"a", b"s1"))
    s.pp.emit(TABLE, b"a", b"1", {"h": "v"})  # the record now has headers
    with pytest.raises(ProcessingError):
        s.pp.process(Msg(IN, 1, b"a", b"s2;d;f"))
    (record,) = [r for recs in s.pp.outbox.values() for r in recs if r["key"] == b"a"]
    assert record["offset"] == 0  # restored: not the failed message's offset 1
    with pytest.raises(ProcessingError):
        s.pp.process(Msg(IN, 2, b"b", b"s3;s4;f"))
    s.pp.process(Msg(IN, 3, b"b", b"s5"))
    s.pp.end_batch()
    assert [recs for t, _, recs in s.producer.batches if t == TABLE] == [
        [{"key": b"a", "value": b"1", "headers": [("h", b"v")]}, {"key": b"b", "value": b"5"}]]
    assert s.pp.stats()["produced"] == {TABLE: 2}


def test_failed_visit_discards_its_key(partition: ModuleType) -> None:
    s = Setup(partition)
    s.storage.write_batch([(b"k1", b"a"), (b"k2", b"b")], offset=None)
    calls: list[bytes] = []

    def visit(key: bytes, meta: Any) -> None:
        calls.append(key)
        s.pp.table.set(key, b"visited")
        s.pp.emit(TABLE, key, b"visited", None)
        if key == b"k2":
            raise RuntimeError("visitor failed")

    s.pp.dispatcher = type("D", (), {"visit": staticmethod(lambda name, key, meta: visit(key, meta))})()
    with pytest.raises(RuntimeError):
        s.pp.visit("v", None)
    assert calls == [b"k1", b"k2"]
    assert s.pp.table.current.writes == {b"k1": b"visited"}
    assert [r["key"] for recs in s.pp.outbox.values() for r in recs] == [b"k1"]


# -- error policies (issue 12, part 2) ------------------------------------------------------

def test_skip(partition: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    s = Setup(partition, on_error=goka.Skip())
    s.run((b"a", b"s1"), (b"a", b"s2;e2;w;f"), (b"b", b"\xff"), (b"a", b"r"))  # \xff: not UTF-8
    assert s.pp.stats()["skipped"] == {IN: 2}
    assert s.pp.stats()["consumed"][IN] == 4
    s.pp.end_batch()
    s.producer.deliver()
    assert s.pp.advance() == {IN: 4}  # skipped messages are committed past
    assert s.table() == {b"a": b"1"}
    assert [r["value"] for t, _, r, _ in s.producer.delivered if t == OUT] == [b"1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "group g: message skipped (topic='in', partition=1, offset=1, key='a'): RuntimeError: boom" in warnings
    assert any(w.startswith("group g: message skipped (topic='in', partition=1, offset=2, key='b'): "
                            "CodecError: String: invalid UTF-8") for w in warnings)


def test_ctx_fail_stops_whatever_the_policy(partition: ModuleType) -> None:
    s = Setup(partition, on_error=goka.Retry(3, then=goka.Skip()))
    with pytest.raises(ProcessingError, match="explicit"):
        s.pp.process(Msg(IN, 0, b"a", b"s1;x"))
    assert s.sleeps == []  # not retried
    assert s.pp.outbox == {} and s.pp.table.current is None


def test_edge_policy_wins(partition: ModuleType) -> None:
    s = Setup(partition, on_error=goka.Skip(), edge_on_error=goka.Fail())
    s.run((b"a", b"f"))  # IN: the processor's Skip
    with pytest.raises(ProcessingError):
        s.pp.process(Msg("in2", 0, b"a", b"f"))  # in2: its own Fail


def test_dead_letter(partition: ModuleType) -> None:
    s = Setup(partition, on_error=goka.DeadLetter("dlq"))
    s.pp.process(Msg(IN, 7, b"key", b"s1;e1;f", headers=[("orig", b"h"), ("dup", b"1"), ("dup", b"2")]))
    assert s.pp.stats()["dead_lettered"] == {IN: 1}
    s.pp.end_batch()
    ((topic, part, records),) = s.producer.batches
    assert (topic, part) == ("dlq", 3)  # the hasher over the dead-letter topic's partitions
    (record,) = records
    assert record["key"] == b"key" and record["value"] == b"s1;e1;f"
    assert record["headers"] == [
        ("orig", b"h"), ("dup", b"1"), ("dup", b"2"), ("goka.error.group", b"g"), ("goka.error.topic", b"in"),
        ("goka.error.partition", b"1"), ("goka.error.offset", b"7"), ("goka.error.class", b"builtins.RuntimeError"),
        ("goka.error.message", b"boom")]
    assert s.pp.advance() == {}  # committed past only after the dead-letter record's ack
    s.producer.deliver()
    assert s.pp.advance() == {IN: 8}
    assert s.table() == {}


def test_dead_letter_delivery_error_fails(partition: ModuleType) -> None:
    s = Setup(partition, on_error=goka.DeadLetter("dlq"))
    s.pp.process(Msg(IN, 0, b"k", b"f"))
    s.pp.end_batch()
    s.producer.deliver(error="broker down")
    assert len(s.failures) == 1 and "'dlq'" in str(s.failures[0])
    assert s.pp.advance() == {}


def test_retry_succeeds_once(partition: ModuleType) -> None:
    """A callback failing twice then succeeding: its effects exactly once, after two waits."""
    s = Setup(partition, on_error=goka.Retry(3, backoff=lambda n: n / 10))
    s.run((b"a", b"s1;e1;w;t2"), (b"a", b"r"))
    assert ATTEMPTS == {b"a": 3}
    assert s.sleeps == [0.1, 0.2]
    assert len(DONES) == 3
    DONES[2]()  # only the successful attempt's deferred commit counts
    s.pp.end_batch()
    s.producer.deliver()
    assert s.pp.advance() == {IN: 2}
    assert [(t, r["value"]) for t, _, r, _ in s.producer.delivered] == [(TABLE, b"1"), (OUT, b"1"), (OUT, b"1")]
    assert s.pp.stats()["skipped"] == {} and s.pp.stats()["consumed"][IN] == 2


def test_retry_exhausted_then(partition: ModuleType) -> None:
    s = Setup(partition, on_error=goka.Retry(2, backoff=0, then=goka.Skip()))
    s.run((b"a", b"s1;t5"))
    assert ATTEMPTS == {b"a": 2} and s.sleeps == [0.0]
    assert s.pp.stats()["skipped"] == {IN: 1}
    s2 = Setup(partition, on_error=goka.Retry(2, backoff=0))  # then=Fail()
    with pytest.raises(ProcessingError, match="attempt 2"):
        s2.pp.process(Msg(IN, 0, b"a", b"s1;t5"))
    assert s2.pp.outbox == {} and s2.pp.table.current is None


def test_retry_interrupted_by_stop(partition: ModuleType) -> None:
    s = Setup(partition, on_error=goka.Retry(5, then=goka.Skip()))
    s.pp.sleep = lambda seconds: True  # the processor is stopping
    with pytest.raises(ProcessingError, match="attempt 1"):
        s.pp.process(Msg(IN, 0, b"a", b"t9"))
    assert ATTEMPTS == {b"a": 1}


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(st.tuples(st.sampled_from([IN, "in2"]), st.sampled_from([b"a", b"bb", b"ccc"]),
                               st.lists(st.sampled_from(["s1", "s2", "d", "e7", "h8", "l9", "w", "r", "f"]),
                                        max_size=4)), max_size=25),
       coalesce=st.booleans())
def test_skipped_messages_leave_no_trace(partition: ModuleType, msgs: list[tuple[str, bytes, list[str]]],
                                         coalesce: bool) -> None:
    """All or nothing, as a property: skipping the failing messages gives exactly the table
    and the records of never sending them."""

    def outcome(batch: list[tuple[str, bytes, list[str]]], on_error: Any) -> Any:
        s = Setup(partition, coalesce=coalesce, on_error=on_error)
        for i, (topic, key, cmds) in enumerate(batch):
            s.pp.process(Msg(topic, i, key, ";".join(cmds).encode()))
        s.pp.end_batch()
        s.producer.deliver()
        for done in DONES:
            done()
        s.pp.advance()
        return s.table(), s.producer.batches, s.pp.stats()["produced"], s.pp.in_flight()

    clean = [m for m in msgs if "f" not in m[2]]
    assert outcome(msgs, goka.Skip()) == outcome(clean, None)
