"""The table reader on per-partition queues read in compiled code
(``goka._core.tablequeue``) against the same reader on confluent-kafka's ``consume``
(the pure twin, the specification): same table contents, same table offsets, same
recovery, on the embedded cluster (the first test on Tansu too) -- tombstones, missing and empty keys, empty values,
headers, empty partitions, end of partition, live updates, partitions removed and added
again, a table with an update callback next to split ones, broker down and up."""
from __future__ import annotations

import os
from typing import Any

import pytest
from confluent_kafka import Producer

from goka._core import _tablequeue_py
from goka._core.tablequeue import TableQueues
from goka.runtime.table import PartitionTable, TableReader
from goka.storage.memory import MemoryStorage

from .conftest import wait_until

COMPILED = TableQueues is not _tablequeue_py.TableQueues
MODES = ["split", "consume"] if COMPILED else ["consume"]


def _produce(cluster: Any, topic: str, records: list[tuple[int, bytes | None, bytes | None, Any]]) -> None:
    """``cluster``: an EmbeddedCluster or a BrokerEnv (both have ``bootstrap``-able brokers)."""
    bootstrap = getattr(cluster, "bootstrap", None) or cluster.brokers
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, key, value, headers in records:
        p.produce(topic, value=value, key=key, partition=partition, headers=headers)
    assert p.flush(30) == 0


def _records(n: int, partitions: int, seed: int) -> list[tuple[int, bytes | None, bytes | None, Any]]:
    out: list[tuple[int, bytes | None, bytes | None, Any]] = []
    for i in range(n):
        partition = (i * 7 + seed) % partitions
        key: bytes | None = b"k%d" % (i % 97)
        value: bytes | None = b"v%d-%d" % (seed, i)
        headers = None
        if i % 13 == 0:
            value = None  # tombstone
        elif i % 17 == 0:
            value = b""  # an empty value is a value, not a tombstone
        if i % 19 == 0:
            key = None  # stored under b""
        elif i % 23 == 0:
            key = b""
        if i % 5 == 0:
            headers = [("h", b"x%d" % i), ("h", None)]
        out.append((partition, key, value, headers))
    return out


def _expected(records: list[tuple[int, bytes | None, bytes | None, Any]],
              partition: int) -> dict[bytes, bytes]:
    table: dict[bytes, bytes] = {}
    for p, key, value, _ in records:
        if p != partition:
            continue
        if value is None:
            table.pop(key or b"", None)
        else:
            table[key or b""] = value
    return table


def _contents(storage: MemoryStorage) -> dict[bytes, bytes]:
    return dict(storage.items())


def _reader(cluster: Any, mode: str, monkeypatch: Any, name: str, follow: bool) -> TableReader:
    monkeypatch.setenv("GOKA_SPLIT_TABLE_QUEUES", "1" if mode == "split" else "0")
    reader = TableReader(cluster, client_id=f"{name}-{mode}", follow=follow)
    reader.start()
    return reader


def _split(reader: TableReader) -> int:
    queues = reader._queues
    return 0 if queues is None else len(queues)


@pytest.mark.parametrize("mode", MODES)
def test_recovery_and_following_match_the_records(broker: Any, monkeypatch: Any, mode: str) -> None:
    topic = broker.name("tq-table")
    broker.create_topic(topic, 4)
    first = _records(3000, 3, seed=1)  # partition 3 stays empty until later
    _produce(broker, topic, first)
    tables = [PartitionTable(topic, p, MemoryStorage()) for p in range(4)]
    reader = _reader(broker.brokers, mode, monkeypatch, topic, follow=True)
    try:
        reader.add(tables)
        assert reader.wait_recovered(tables, 30)
        assert _split(reader) == (4 if mode == "split" else 0)
        ends = {p: cluster_end for p, cluster_end in enumerate([t.hwm for t in tables])}
        for p, table in enumerate(tables):
            assert _contents(table.storage) == _expected(first, p), p
            produced = sum(1 for r in first if r[0] == p)
            assert ends[p] == produced
            assert table.storage.get_offset() == (produced - 1 if produced else None)
        later = _records(1000, 4, seed=2)
        _produce(broker, topic, later)
        both = first + later
        for p, table in enumerate(tables):
            wait_until(lambda: _contents(table.storage) == _expected(both, p), 30, f"partition {p} to follow")
            assert table.storage.get_offset() == sum(1 for r in both if r[0] == p) - 1
            assert table.records == sum(1 for r in both if r[0] == p)
    finally:
        reader.stop()
    assert reader.error is None


@pytest.mark.parametrize("mode", MODES)
def test_released_partitions_and_callback_tables(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    """A processor's recovery: each partition released once recovered; added again later it
    resumes after its stored offset. A table with an update callback next to split ones
    still gets every record through consume()."""
    cluster = embedded_cluster
    cluster.create_topic("tq-own", 2)
    cluster.create_topic("tq-cb", 2)
    first = _records(2000, 2, seed=3)
    _produce(cluster, "tq-own", first)
    _produce(cluster, "tq-cb", first)
    seen: list[tuple[int, int, bytes, bytes | None, Any]] = []

    def update(ctx: Any, storage: Any, key: bytes, value: bytes | None) -> None:
        seen.append((ctx.partition, ctx.offset, key, value, ctx.headers))
        if value is None:
            storage.delete(key)
        else:
            storage.set(key, value)

    own = [PartitionTable("tq-own", p, MemoryStorage()) for p in range(2)]
    cb = [PartitionTable("tq-cb", p, MemoryStorage(), update) for p in range(2)]
    reader = _reader(cluster, mode, monkeypatch, "tq-release", follow=False)
    try:
        reader.add(own + cb)
        assert reader.wait_recovered(own + cb, 30)
        wait_until(lambda: not reader._tables, 10, "recovered partitions to be released")
        assert _split(reader) == 0
        for p in range(2):
            assert _contents(own[p].storage) == _expected(first, p)
            assert _contents(cb[p].storage) == _expected(first, p)
        assert sorted((s[0], s[1]) for s in seen) == sorted(
            (p, o) for p in range(2) for o in range(sum(1 for r in first if r[0] == p)))
        offsets = {0: 0, 1: 0}
        want_headers = {}
        for p, _, _, headers in first:
            want_headers[(p, offsets[p])] = headers
            offsets[p] += 1
        assert {(s[0], s[1]): s[4] for s in seen} == want_headers
        later = _records(500, 2, seed=4)
        _produce(cluster, "tq-own", later)
        reader.add(own)
        assert reader.wait_recovered(own, 30)
        for p in range(2):
            assert _contents(own[p].storage) == _expected(first + later, p)
            assert own[p].records == sum(1 for r in first + later if r[0] == p)
    finally:
        reader.stop()
    assert reader.error is None


@pytest.mark.parametrize("mode", MODES)
def test_broker_down_and_up_while_following(embedded_cluster: Any, monkeypatch: Any, mode: str) -> None:
    cluster = embedded_cluster
    cluster.create_topic("tq-down", 2)
    first = _records(500, 2, seed=5)
    _produce(cluster, "tq-down", first)
    tables = [PartitionTable("tq-down", p, MemoryStorage()) for p in range(2)]
    monkeypatch.setenv("GOKA_SPLIT_TABLE_QUEUES", "1" if mode == "split" else "0")
    reader = TableReader(cluster, client_id=f"tq-down-{mode}", follow=True,
                         consumer_config={"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200})
    reader.start()
    try:
        reader.add(tables)
        assert reader.wait_recovered(tables, 30)
        cluster.set_broker_down(1)
        wait_until(lambda: not reader.connected, 30, "the reader to notice the broker is gone")
        cluster.set_broker_up(1)
        later = _records(500, 2, seed=6)
        _produce(cluster, "tq-down", later)
        for p, table in enumerate(tables):
            wait_until(lambda: _contents(table.storage) == _expected(first + later, p), 30,
                       f"partition {p} after the broker came back")
        wait_until(lambda: reader.connected, 30, "the reader to reconnect")
    finally:
        reader.stop()
    assert reader.error is None


def test_compiled_twin_refuses_a_producer(embedded_cluster: Any) -> None:
    """The same client-name check as DirectProducer: anything but a consumer falls back."""
    if not COMPILED:
        pytest.skip("compiled twin not in use (GOKA_NO_EXTENSIONS)")
    from goka._kafka.clients import librdkafka_functions, table_queues

    functions = librdkafka_functions()
    assert functions is not None
    p = Producer({"bootstrap.servers": embedded_cluster.brokers})
    with pytest.raises(ValueError, match="not a confluent-kafka Consumer"):
        TableQueues(p, functions)
    os.environ["GOKA_SPLIT_TABLE_QUEUES"] = "1"  # asked for: still refused for a producer
    try:
        assert isinstance(table_queues(p), _tablequeue_py.TableQueues)
    finally:
        del os.environ["GOKA_SPLIT_TABLE_QUEUES"]


def test_a_busy_partition_does_not_starve_the_others(embedded_cluster: Any) -> None:
    """drain() with a small limit: every split partition gets its turn."""
    if not COMPILED:
        pytest.skip("compiled twin not in use (GOKA_NO_EXTENSIONS)")
    from confluent_kafka import Consumer, TopicPartition

    from goka._kafka.clients import librdkafka_functions

    cluster = embedded_cluster
    cluster.create_topic("tq-busy", 3)
    _produce(cluster, "tq-busy", [(p, b"k", b"v", None) for p in range(3) for _ in range(3000)])
    consumer = Consumer({"bootstrap.servers": cluster.brokers, "group.id": "tq-busy",
                         "enable.partition.eof": True})
    functions = librdkafka_functions()
    queues = TableQueues(consumer, functions)
    try:
        assert all(queues.add("tq-busy", p) for p in range(3))
        consumer.assign([TopicPartition("tq-busy", p, 0) for p in range(3)])
        got = {0: 0, 1: 0, 2: 0}
        eofs: set[int] = set()

        def step() -> bool:
            batches, events = queues.drain(50)
            for _, partition, pairs, last, _plain in batches:
                got[partition] += len(pairs)
                assert last == got[partition] - 1  # offsets contiguous, in order
            eofs.update(e[1] for e in events if e[2] == -191)
            assert not consumer.consume(100, 0)  # nothing of a split partition on the consumer queue
            if sum(got.values()) < 9000:
                queues.wait(0.05)
            return min(got.values()) > 0

        wait_until(step, 30, "every partition to be served")
        # by turns: long before any partition's 3000 records are all read (in offset
        # order from the first queue, the last partition would wait for 6000 records)
        assert sum(got.values()) < 3000, got
        wait_until(lambda: step() and eofs == {0, 1, 2}, 30, "all records and each partition's end")
        assert got == {0: 3000, 1: 3000, 2: 3000}
    finally:
        queues.close()
        consumer.close()


def test_a_split_partition_is_not_read_with_a_callback_later(embedded_cluster: Any, monkeypatch: Any) -> None:
    """librdkafka never forwards a split partition to the consumer queue again: a reader
    refuses to read it with an update callback afterwards, rather than wait forever."""
    if not COMPILED:
        pytest.skip("compiled twin not in use (GOKA_NO_EXTENSIONS)")
    cluster = embedded_cluster
    cluster.create_topic("tq-mixed", 1)
    _produce(cluster, "tq-mixed", _records(10, 1, seed=7))
    reader = _reader(cluster, "split", monkeypatch, "tq-mixed", follow=True)
    try:
        plain = PartitionTable("tq-mixed", 0, MemoryStorage())
        reader.add([plain])
        assert reader.wait_recovered([plain], 30)
        reader.remove([plain])
        later = PartitionTable("tq-mixed", 0, MemoryStorage(), lambda ctx, storage, key, value: None)
        reader.add([later])
        with pytest.raises(RuntimeError, match="was read without an update callback before"):
            reader.wait_recovered([later], 30)
    finally:
        reader.stop()
