"""A processor's group consumer on per-partition queues read in compiled code
(``goka._core.consume``, ``split``) against the same consumer on confluent-kafka's
``consume`` (the pure twin, the specification, ``consume``): the same records with the
same fields (tombstones, missing and empty keys, empty values, headers, timestamps,
end-of-partition events), a rebalance while a partition's queue holds fetched records
(delivery restarts at the committed offset, nothing stale), revocation and assignment
again, pause and resume; and the processor itself on the split path by default."""
from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition

import goka
from goka import codec
from goka._core import _consume_py
from goka._core.consume import PartitionQueues
from goka._kafka.clients import group_consumer, partition_queues

from .conftest import wait_until

COMPILED = PartitionQueues is not _consume_py.PartitionQueues
MODES = ["split", "consume"] if COMPILED else ["consume"]
TIMEOUT = 60

Fields = tuple[Any, ...]


def _fields(m: Any) -> Fields:
    err = m.error()
    if err is not None:
        return (m.topic(), m.partition(), m.offset(), "error", err.code())
    return (m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.timestamp(), m.headers())


class Member:
    """A group member the way the processor drives one: split on assignment (before it
    takes effect), drop on revocation, records of partitions not held are dropped, every
    batch committed synchronously (a commit refused during a rebalance is replayed). Records the first offset each assignment starts at
    (the committed offset, read in the assignment callback)."""

    def __init__(self, brokers: Any, group: str, topic: str, mode: str, monkeypatch: Any,
                 config: dict[str, Any] | None = None, commit: bool = True) -> None:
        monkeypatch.setenv("GOKA_SPLIT_QUEUES", "1" if mode == "split" else "0")
        self.consumer = group_consumer(brokers, group, client_id=f"{group}-{mode}", auto_offset_reset="earliest",
                                       overrides={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                                                  **(config or {})})
        self.queues = partition_queues(self.consumer)
        module = "goka._core._consume_c" if mode == "split" else "goka._core._consume_py"
        assert type(self.queues).__module__ == module
        self.commit = commit
        self.assigned: set[int] = set()
        self.starts: dict[int, int] = {}  # partition -> committed offset at the last assignment
        self.runs: list[tuple[int, int, list[Fields]]] = []  # (assignment number, partition, records)
        self.assignments = 0
        self.consumer.subscribe([topic], on_assign=self._assign, on_revoke=self._revoke)

    def _assign(self, consumer: Any, parts: list[Any]) -> None:
        self.assignments += 1
        committed = consumer.committed(parts, timeout=10) if parts else []
        for tp in committed:
            self.starts[tp.partition] = max(tp.offset, 0)
        for tp in parts:
            self.queues.add(tp.topic, tp.partition)
            self.assigned.add(tp.partition)

    def _revoke(self, consumer: Any, parts: list[Any]) -> None:
        for tp in parts:
            self.queues.remove(tp.topic, tp.partition)
            self.assigned.discard(tp.partition)

    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Fields]:
        msgs = self.queues.consume(max_records, timeout)
        kept = [m for m in msgs if m.error() is not None or m.partition() in self.assigned]
        got = [_fields(m) for m in kept]
        by_part: dict[int, list[Fields]] = {}
        for f in got:
            if f[3] != "error":
                by_part.setdefault(f[1], []).append(f)
        for p, records in by_part.items():
            self.runs.append((self.assignments, p, records))
        if self.commit and by_part:
            offsets = [TopicPartition(f[0], p, f[2] + 1) for p, records in by_part.items() for f in records[-1:]]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException:  # refused while the group rebalances: replayed from the last commit
                pass
        return got

    def close(self) -> None:
        self.queues.close()
        self.consumer.close()


def _produce(bootstrap: str, topic: str, records: list[tuple[int, bytes | None, bytes | None, Any, int]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, key, value, headers, ts in records:
        p.produce(topic, value=value, key=key, partition=partition, headers=headers, timestamp=ts)
    assert p.flush(30) == 0


def _records(n: int, partitions: int) -> list[tuple[int, bytes | None, bytes | None, Any, int]]:
    out: list[tuple[int, bytes | None, bytes | None, Any, int]] = []
    base = 1_700_000_000_000
    for i in range(n):
        key: bytes | None = b"k%d" % (i % 97)
        value: bytes | None = b"v%d" % i
        headers: Any = None
        if i % 13 == 0:
            value = None  # tombstone
        elif i % 17 == 0:
            value = b""
        if i % 19 == 0:
            key = None
        elif i % 23 == 0:
            key = b""
        if i % 5 == 0:
            headers = [("h", b"x%d" % i), ("h", None), ("\u00e9", b"")]
        out.append((i % partitions, key, value, headers, base + i))
    return out


def _consume_all(member: Member, total: int, errors: int = 0) -> list[Fields]:
    got: list[Fields] = []

    def done() -> bool:
        got.extend(member.poll())
        return sum(1 for f in got if f[3] != "error") >= total and \
            sum(1 for f in got if f[3] == "error") >= errors

    wait_until(done, TIMEOUT, f"{total} records (got {got})")
    return got


def test_same_records_as_consume(broker: Any, monkeypatch: Any) -> None:
    topic = broker.name("cq")
    broker.create_topic(topic, 3)
    records = _records(600, 3)
    _produce(broker.bootstrap, topic, records)
    seen: dict[str, list[Fields]] = {}
    for mode in MODES:
        member = Member(broker.brokers, broker.name("g"), topic, mode, monkeypatch, broker.group_config)
        try:
            got = _consume_all(member, len(records))
            assert len(member.queues) == (3 if mode == "split" else 0)
        finally:
            member.close()
        seen[mode] = sorted(got, key=lambda f: (f[1], f[2]))
    expected = []
    offsets = [0, 0, 0]
    for partition, key, value, headers, ts in records:
        expected.append((topic, partition, offsets[partition], key, value, (1, ts), headers))
        offsets[partition] += 1
    expected.sort(key=lambda f: (f[1], f[2]))
    for mode in MODES:
        assert seen[mode] == expected, mode


@pytest.mark.parametrize("mode", MODES)
def test_end_of_partition_events_come_in_their_place(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    topic = "cq-eof"
    embedded_cluster.create_topic(topic, 2)
    _produce(embedded_cluster.brokers, topic, [(p, b"k", b"v", None, 1_700_000_000_000) for p in (0, 1, 1)])
    member = Member(embedded_cluster, f"g-eof-{mode}", topic, mode, monkeypatch, {"enable.partition.eof": True})
    try:
        got = _consume_all(member, 3, errors=2)
    finally:
        member.close()
    for p, last in ((0, 0), (1, 1)):
        mine = [f for f in got if f[1] == p]
        assert [f[2] for f in mine[:last + 1]] == list(range(last + 1))
        assert mine[last + 1] == (topic, p, last + 1, "error", -191), mine  # _PARTITION_EOF after the records


def _check_runs(member_runs: list[list[tuple[int, int, list[Fields]]]], starts: list[dict[tuple[int, int], int]],
                counts: dict[int, int]) -> None:
    """Each assignment's delivery of a partition starts at the offset committed when it
    was assigned and is contiguous; together they cover every record."""
    covered: dict[int, set[int]] = {p: set() for p in counts}
    for runs, start in zip(member_runs, starts):
        per: dict[tuple[int, int], list[int]] = {}
        for assignment, p, records in runs:
            per.setdefault((assignment, p), []).extend(f[2] for f in records)
        for (assignment, p), offsets in per.items():
            first = start[(assignment, p)]
            assert offsets == list(range(first, first + len(offsets))), (assignment, p, offsets[:5], first)
            covered[p].update(offsets)
    assert covered == {p: set(range(n)) for p, n in counts.items()}


class Recording(Member):
    """A member that keeps the committed start of every assignment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.history: dict[tuple[int, int], int] = {}
        super().__init__(*args, **kwargs)

    def _assign(self, consumer: Any, parts: list[Any]) -> None:
        super()._assign(consumer, parts)
        for tp in parts:
            self.history[(self.assignments, tp.partition)] = self.starts[tp.partition]


@pytest.mark.parametrize("mode", MODES)
def test_rebalance_while_partition_queues_hold_records(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """A member that has taken only a few records (the rest fetched, buffered in its
    queues) loses its partitions to a second member: nothing buffered for the old
    assignment is delivered after it; every assignment starts at the committed offset."""
    topic, group = "cq-rebalance", f"g-rebalance-{mode}"
    embedded_cluster.create_topic(topic, 4)
    n = 4000
    _produce(embedded_cluster.brokers, topic, [(i % 4, b"k%d" % i, b"v", None, 1_700_000_000_000) for i in range(n)])
    a = Recording(embedded_cluster, group, topic, mode, monkeypatch)
    b: Recording | None = None
    try:
        wait_until(lambda: bool(a.poll(20)), TIMEOUT, "the first records")
        for _ in range(5):
            a.poll(20)  # a few small batches: the rest stays in the queues
        b = Recording(embedded_cluster, group, topic, mode, monkeypatch)
        members = [a, b]

        def balanced_and_done() -> bool:
            for m in members:
                m.poll(100)
            delivered = {(p, f[2]) for m in members for _, p, recs in m.runs for f in recs}
            return bool(a.assigned) and bool(b.assigned) and len(delivered) >= n

        wait_until(balanced_and_done, TIMEOUT, "both members to hold partitions and every record delivered")
        assert a.assignments >= 2 and not (a.assigned & b.assigned)
        _check_runs([a.runs, b.runs], [a.history, b.history], {p: n // 4 for p in range(4)})
    finally:
        a.close()
        if b is not None:
            b.close()


@pytest.mark.parametrize("mode", MODES)
def test_revoked_and_assigned_again(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """Unsubscribe with records buffered, subscribe again: delivery resumes at the commit."""
    topic, group = "cq-again", f"g-again-{mode}"
    embedded_cluster.create_topic(topic, 2)
    n = 2000
    _produce(embedded_cluster.brokers, topic, [(i % 2, b"k", b"v%d" % i, None, 1_700_000_000_000) for i in range(n)])
    m = Recording(embedded_cluster, group, topic, mode, monkeypatch)
    try:
        wait_until(lambda: bool(m.poll(30)), TIMEOUT, "the first records")
        m.consumer.unsubscribe()
        wait_until(lambda: not m.poll(30) and not m.assigned, TIMEOUT, "the revocation")
        assert len(m.queues) == 0
        m.consumer.subscribe([topic], on_assign=m._assign, on_revoke=m._revoke)
        wait_until(lambda: m.poll(500) is not None and
                   len({(p, f[2]) for _, p, r in m.runs for f in r}) >= n, TIMEOUT, "every record")
        assert m.assignments == 2
        _check_runs([m.runs], [m.history], {0: n // 2, 1: n // 2})
    finally:
        m.close()


@pytest.mark.parametrize("mode", MODES)
def test_pause_and_resume(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """A paused partition delivers nothing (what was buffered is dropped); resumed, it
    continues right after the last record delivered."""
    topic = "cq-pause"
    embedded_cluster.create_topic(topic, 2)
    n = 3000
    _produce(embedded_cluster.brokers, topic, [(i % 2, b"k", b"v%d" % i, None, 1_700_000_000_000) for i in range(n)])
    m = Recording(embedded_cluster, f"g-pause-{mode}", topic, mode, monkeypatch, commit=False)
    try:
        wait_until(lambda: any(f[1] == 0 for f in m.poll(50)), TIMEOUT, "records of partition 0")
        m.consumer.pause([TopicPartition(topic, 0)])
        paused_at = len([f for _, p, r in m.runs if p == 0 for f in r])
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # partition 1 keeps flowing, 0 stays silent
            m.poll(50)
        assert len([f for _, p, r in m.runs if p == 0 for f in r]) == paused_at
        m.consumer.resume([TopicPartition(topic, 0)])
        wait_until(lambda: m.poll(500) is not None and len({(p, f[2]) for _, p, r in m.runs for f in r}) >= n,
                   TIMEOUT, "every record")
        _check_runs([m.runs], [m.history], {0: n // 2, 1: n // 2})
    finally:
        m.close()


@pytest.mark.parametrize("mode", MODES)
def test_processor_counts_on_either_path(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """The processor takes the split path by default where the compiled twin is loaded
    (``GOKA_SPLIT_QUEUES=0``: ``consume``) and counts every click either way, headers
    and empty keys included."""
    if mode == "split":
        monkeypatch.delenv("GOKA_SPLIT_QUEUES", raising=False)
    else:
        monkeypatch.setenv("GOKA_SPLIT_QUEUES", "0")
    embedded_cluster.create_topic("clicks", 4)
    seen: list[Any] = []

    def count(ctx: goka.Context, msg: Any) -> None:
        if ctx.key == "h":
            seen.append(ctx.headers)
        ctx.set_value((ctx.value() or 0) + 1)

    graph = goka.define_group("cq-counter", goka.Input("clicks", codec.String(), count), goka.Persist(codec.Int64()))
    keys = [f"user-{i}" for i in range(50)] + [""]
    with goka.Emitter(embedded_cluster, "clicks", codec.String()) as emitter:
        for _ in range(3):
            for k in keys:
                emitter.emit(k, "click")
        emitter.emit_sync("h", "click", headers={"a": b"1"})
    with goka.Processor(embedded_cluster, graph, consumer_config={"session.timeout.ms": 6000}) as proc:
        assert proc.wait_recovered(TIMEOUT)
        backend = proc._backend
        module = "goka._core._consume_c" if mode == "split" else "goka._core._consume_py"
        assert type(backend._queues).__module__ == module
        assert len(backend._queues) == (4 if mode == "split" else 0)
        wait_until(lambda: all(proc.get(k) == 3 for k in keys) and proc.get("h") == 1, TIMEOUT, "every click counted")
    assert seen and dict(seen[0]) == {"a": b"1"}


@pytest.mark.parametrize("mode", MODES)
def test_callback_sees_every_field_on_either_path(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """What a callback sees of each message (topic, partition, offset, key, value,
    timestamp, headers) is what was produced, on the split path (the compiled partition
    processor reads the compiled record's fields directly) as on ``consume``: null and
    empty keys, tombstones (``NilHandling.PROCESS``), empty values, headers with None and
    empty values mixed with records without headers in one batch; and a failing callback
    under the skip policy does not shift what the next message sees."""
    monkeypatch.setenv("GOKA_SPLIT_QUEUES", "1" if mode == "split" else "0")
    topic = f"cq-fields-{mode}"
    embedded_cluster.create_topic(topic, 2)
    records = _records(300, 2)
    _produce(embedded_cluster.brokers, topic, records)
    expected: dict[tuple[int, int], Fields] = {}
    offsets = {0: 0, 1: 0}
    for partition, key, value, headers, ts in records:
        seen_headers = {name: b"" if v is None else v for name, v in headers or []}  # the last value wins
        expected[(partition, offsets[partition])] = (
            topic, partition, offsets[partition], (key or b"").decode(), value, ts, seen_headers)
        offsets[partition] += 1
    got: dict[tuple[int, int], Fields] = {}

    def look(ctx: goka.Context, msg: Any) -> None:
        got[(ctx.partition, ctx.offset)] = (ctx.topic, ctx.partition, ctx.offset, ctx.key, msg,
                                            round(ctx.timestamp.timestamp() * 1000), ctx.headers)
        if ctx.offset % 29 == 7:  # skipped by the policy: its fields were seen first
            raise RuntimeError("refused")

    graph = goka.define_group(f"cq-fields-{mode}", goka.Input(topic, codec.Bytes(), look))
    with goka.Processor(embedded_cluster, graph, nil_handling=goka.NilHandling.PROCESS, on_error=goka.Skip(),
                        consumer_config={"session.timeout.ms": 6000}) as proc:
        module = "goka._core._consume_c" if mode == "split" else "goka._core._consume_py"
        wait_until(lambda: len(got) >= len(expected), TIMEOUT, "every message seen")
        assert type(proc._backend._queues).__module__ == module
    assert got == expected


@pytest.mark.parametrize("mode", MODES)
def test_partition_error_comes_as_an_error_record(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """A committed offset beyond the end with ``auto.offset.reset=error``: the partition's
    error (``_AUTO_OFFSET_RESET``, raised on its fetch queue) comes out as an error record
    with the partition, on either path; the other partition's records still come."""
    topic, group = "cq-reset", f"g-reset-{mode}"
    embedded_cluster.create_topic(topic, 2)
    _produce(embedded_cluster.brokers, topic, [(p, b"k", b"v", None, 1_700_000_000_000) for p in (0, 0, 1, 1)])
    setup = group_consumer(embedded_cluster, group, client_id="setup", auto_offset_reset="earliest")
    try:
        setup.commit(offsets=[TopicPartition(topic, 0, 1000), TopicPartition(topic, 1, 0)], asynchronous=False)
    finally:
        setup.close()
    m = Member(embedded_cluster, group, topic, mode, monkeypatch, {"auto.offset.reset": "error"}, commit=False)
    try:
        got = _consume_all(m, 2, errors=1)
    finally:
        m.close()
    errors = [f for f in got if f[3] == "error"]
    assert errors and {(f[0], f[1], f[4]) for f in errors} == {(topic, 0, -140)}, errors  # _AUTO_OFFSET_RESET
    assert sorted((f[1], f[2]) for f in got if f[3] != "error") == [(1, 0), (1, 1)]


@pytest.mark.parametrize("mode", MODES)
def test_after_close_the_partitions_come_through_consume(embedded_cluster: Any, monkeypatch: Any,
                                                         mode: str) -> None:
    """Closing the queues while partitions are assigned (with records fetched into their
    queues) hands the partitions back to the consumer queue: ``consume`` then delivers the
    rest, contiguously."""
    topic = "cq-close"
    embedded_cluster.create_topic(topic, 2)
    n = 2000
    _produce(embedded_cluster.brokers, topic, [(i % 2, b"k", b"v%d" % i, None, 1_700_000_000_000) for i in range(n)])
    m = Recording(embedded_cluster, f"g-close-{mode}", topic, mode, monkeypatch, commit=False)
    try:
        wait_until(lambda: bool(m.poll(30)), TIMEOUT, "the first records")
        m.queues.close()
        assert len(m.queues) == 0
        wait_until(lambda: m.poll(500) is not None and len({(p, f[2]) for _, p, r in m.runs for f in r}) >= n,
                   TIMEOUT, "every record through consume")
        _check_runs([m.runs], [m.history], {0: n // 2, 1: n // 2})
    finally:
        m.consumer.close()
