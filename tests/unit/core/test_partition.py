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


def step(ctx: goka.Context, msg: str) -> None:
    """Commands in the message, ';'-separated: s<v> set, d delete, e emit, h emit with
    headers, l loopback, w defer commit, f fail, r read the table into an emit."""
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


def looped(ctx: goka.Context, msg: str) -> None:
    ctx.set_value("loop:" + msg)


def visited(ctx: goka.Context, meta: Any) -> None:
    ctx.set_value(f"{ctx.value()}+{meta}")


def group() -> Any:
    return goka.define_group(
        "g", goka.Input(IN, codec.String(), step), goka.Input("in2", codec.String(), step),
        goka.Output(OUT, codec.String()), goka.Loop(codec.String(), looped),
        goka.Persist(codec.String()), goka.Visitor("v", visited))


class Setup:
    def __init__(self, partition: ModuleType, storage: Any = None, nparts: int = 4,
                 ack_each: bool = True, coalesce: bool = False) -> None:
        DONES.clear()
        self.producer = Producer()
        self.failures: list[BaseException] = []
        self.storage = MemoryStorage() if storage is None else storage
        self.pp = partition.PartitionProcessor(
            group(), 1, produce_batch=self.producer.produce_batch, partitions_of=lambda topic: nparts,
            hasher=lambda key, n: len(key) % n, fail=self.failures.append, storage=self.storage,
            joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE, ack_each=ack_each,
            coalesce=coalesce)

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
    # the failed message's write was made before the failure: it is in the generation
    assert s.table()[b"a"] == b"x"


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

commands = st.lists(st.sampled_from(["s1", "s2", "d", "e7", "h8", "l9", "w", "r", "f"]), max_size=3)
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
           coalesce: bool = False) -> list[Any]:
    s = Setup(partition, ack_each=ack_each, coalesce=coalesce)
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
    return out


@settings(max_examples=300, deadline=None)
@given(evs=events, ack_each=st.booleans(), coalesce=st.booleans())
def test_differential(partition_c: ModuleType, evs: list[tuple[Any, ...]], ack_each: bool, coalesce: bool) -> None:
    from goka._core import _partition_py

    assert _trace(partition_c, evs, ack_each, coalesce) == _trace(_partition_py, evs, ack_each, coalesce)
