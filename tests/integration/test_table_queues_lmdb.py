"""The table reader into LMDB on split partition queues (batches without tombstones or
empty keys go to ``LMDBStorage.write_puts`` as they are) against the same reader on
``consume`` (the specification): same tables, same offsets, on the embedded cluster --
repeated keys within a batch, tombstones, empty and missing keys, live updates; and the
``plain`` mark of every batch ``TableQueues.drain`` returns."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from goka._core import _tablequeue_py
from goka._core.tablequeue import TableQueues
from goka.runtime.table import PartitionTable, TableReader
from goka.storage.lmdb import LMDB

from .conftest import wait_until

COMPILED = TableQueues is not _tablequeue_py.TableQueues
MODES = ["split", "consume"] if COMPILED else ["consume"]

Record = tuple[int, "bytes | None", "bytes | None"]


def _produce(cluster: Any, topic: str, records: list[Record]) -> None:
    p = Producer({"bootstrap.servers": cluster.brokers, "linger.ms": 5})
    for partition, key, value in records:
        p.produce(topic, value=value, key=key, partition=partition)
    assert p.flush(30) == 0


def _plain(n: int, partition: int, seed: int) -> list[Record]:
    """Puts only, each key written several times (within one batch too)."""
    return [(partition, b"k%d" % ((i * 7919 + seed) % 211), b"v%d-%d" % (seed, i)) for i in range(n)]


def _mixed(n: int, partition: int, seed: int, tombstones: bool = True, empty_keys: bool = True) -> list[Record]:
    out = []
    for i in range(n):
        key: bytes | None = b"k%d" % ((i * 31 + seed) % 97)
        value: bytes | None = b"v%d-%d" % (seed, i)
        if i % 11 == 0 and tombstones:
            value = None  # tombstone
        elif i % 17 == 0:
            value = b""  # an empty value is a value
        if i % 19 == 0 and empty_keys:
            key = None  # stored under b""
        elif i % 23 == 0 and empty_keys:
            key = b""
        out.append((partition, key, value))
    return out


def _expected(records: list[Record], partition: int) -> tuple[dict[bytes, bytes], int | None]:
    table: dict[bytes, bytes] = {}
    count = 0
    for p, key, value in records:
        if p != partition:
            continue
        count += 1
        if value is None:
            table.pop(key or b"", None)
        else:
            table[key or b""] = value
    return table, (count - 1 if count else None)


def _state(storage: Any) -> tuple[dict[bytes, bytes], int | None]:
    return dict(storage.items()), storage.get_offset()


@pytest.mark.parametrize("mode", MODES)
def test_lmdb_tables_match_the_records(embedded_cluster: Any, monkeypatch: Any, tmp_path: Path,
                                       mode: str) -> None:
    cluster = embedded_cluster
    topic = f"tql-{mode}"
    cluster.create_topic(topic, 3)
    # partition 0: puts only; 1: tombstones and empty keys; 2: puts, later tombstones
    first = _plain(4000, 0, 1) + _mixed(3000, 1, 2) + _plain(2500, 2, 3)
    _produce(cluster, topic, first)
    monkeypatch.setenv("GOKA_SPLIT_TABLE_QUEUES", "1" if mode == "split" else "0")
    builder = LMDB(tmp_path)
    tables = [PartitionTable(topic, p, builder.open(topic, p)) for p in range(3)]
    reader = TableReader(cluster, client_id=f"tql-{mode}", follow=True)
    reader.start()
    try:
        reader.add(tables)
        assert reader.wait_recovered(tables, 30)
        assert (len(reader._queues) == 3) == (mode == "split")
        for p, table in enumerate(tables):
            assert _state(table.storage) == _expected(first, p), p
        later = _plain(700, 0, 4) + _mixed(500, 1, 5) + _mixed(600, 2, 6)
        _produce(cluster, topic, later)
        for p, table in enumerate(tables):
            wait_until(lambda: _state(table.storage) == _expected(first + later, p), 30,
                       f"partition {p} to follow")
            assert table.records == sum(1 for r in first + later if r[0] == p)
    finally:
        reader.stop()
        for table in tables:
            table.storage.close()
    assert reader.error is None


def test_drain_marks_batches_without_tombstones_or_empty_keys(embedded_cluster: Any) -> None:
    if not COMPILED:
        pytest.skip("compiled twin not in use (GOKA_NO_EXTENSIONS)")
    from goka._kafka.clients import librdkafka_functions

    cluster = embedded_cluster
    cluster.create_topic("tql-mark", 3)
    # partition 0: puts only; 1: tombstones, no empty key; 2: puts, then empty keys, no tombstone
    records = (_plain(3000, 0, 7) + _mixed(3000, 1, 8, empty_keys=False) + _plain(1500, 2, 9)
               + _mixed(1500, 2, 10, tombstones=False))
    _produce(cluster, "tql-mark", records)
    consumer = Consumer({"bootstrap.servers": cluster.brokers, "group.id": "tql-mark",
                         "enable.partition.eof": True})
    queues = TableQueues(consumer, librdkafka_functions())
    seen: dict[int, list[Record]] = {0: [], 1: [], 2: []}
    marks: dict[tuple[int, bool], int] = {}
    eofs: set[int] = set()
    try:
        assert all(queues.add("tql-mark", p) for p in range(3))
        consumer.assign([TopicPartition("tql-mark", p, 0) for p in range(3)])

        def step() -> bool:
            batches, events = queues.drain(700)  # small: many batches, some across both kinds
            for _, partition, pairs, last, plain in batches:
                assert plain == all(k != b"" and v is not None for k, v in pairs), (partition, last)
                marks[(partition, plain)] = marks.get((partition, plain), 0) + 1
                seen[partition] += [(partition, k, v) for k, v in pairs]
                assert last == len(seen[partition]) - 1
            eofs.update(e[1] for e in events if e[2] == -191)
            if not batches:
                queues.wait(0.05)
            return eofs == {0, 1, 2} and sum(map(len, seen.values())) == len(records)

        wait_until(step, 30, "every record and each partition's end")
        for p in range(3):
            assert [(k or b"", v) for _, k, v in seen[p]] == [(k or b"", v) for q, k, v in records if q == p]
        assert set(marks) == {(0, True), (1, False), (2, True), (2, False)}, marks
    finally:
        queues.close()
        consumer.close()
