"""Processor options and lifecycles no other test covered (issue 11): ``update_callback``,
``initial_offset=Offset.NEWEST``, a stop and a rebalance while tables are recovering."""
from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Producer

import goka
from goka import codec

EMBEDDED = pytest.mark.parametrize("broker", ["embedded"], indirect=True)


def fill_table(broker, table, partitions, total):
    """Write ``total`` records ``k<i>`` = i to ``table``, each to its key's partition (as a
    processor's changelog holds them); returns the expected table and the record count
    of each partition."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50})
    expected, counts = {}, [0] * partitions
    for i in range(total):
        key = f"k{i}"
        p = partition_of(key, partitions)
        producer.produce(table, str(i).encode(), key.encode(), partition=p)
        expected[key] = i
        counts[p] += 1
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return expected, counts


def partition_of(key, partitions):
    return goka.hash.goka(key.encode(), partitions)


@EMBEDDED
def test_update_callback_applies_recovered_records(broker, tmp_path):
    """Recovery hands every changelog record, tombstones included, to ``update_callback``
    with its topic, partition and offset; the table holds what the callback stored."""
    inp, group = broker.name("in"), broker.name("update")
    table = goka.group_table(group)
    broker.create_topic(inp, 1)
    broker.create_topic(table, 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for key, value in [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"b", None)]:
        producer.produce(table, value, key, partition=0)
    assert producer.flush(10) == 0
    calls = []

    def update(ctx, storage, key, value):
        calls.append((ctx.topic, ctx.partition, ctx.offset, key, value))
        if value is None:
            storage.delete(key)
        else:
            storage.set(key, str(int(value) * 10).encode())

    graph = goka.define_group(group, goka.Input(inp, codec.Int64(), lambda ctx, msg: None),
                              goka.Persist(codec.Int64()))
    with goka.Processor(broker.brokers, graph, path=str(tmp_path / "p"), update_callback=update,
                        consumer_config=broker.group_config) as proc:
        assert proc.wait_recovered(30)
        assert calls == [(table, 0, 0, b"a", b"1"), (table, 0, 1, b"b", b"2"), (table, 0, 2, b"a", b"3"),
                         (table, 0, 3, b"b", None)]
        assert proc.get("a") == 30 and proc.get("b") is None
        assert proc.stats()["tables"][f"{table}/0"]["offset"] == 3


def test_initial_offset_newest_skips_existing_input(broker, tmp_path, wait_for):
    """A new group with ``initial_offset=Offset.NEWEST`` starts after what its input already
    holds: only messages emitted once it consumes are processed (and committed)."""
    inp, group = broker.name("in"), broker.name("newest")
    broker.create_topic(inp, 2)
    with goka.Emitter(broker.brokers, inp, codec.Int64()) as emitter:
        for i in range(20):
            # one record per batch: Tansu 0.6.0 answers ListOffsets(latest) with the last
            # batch's base offset + 1 (DESIGN.md §5), which would start "newest" inside it
            emitter.emit(f"old-{i}", i).result(10)
    seen = []
    graph = goka.define_group(group, goka.Input(inp, codec.Int64(), lambda ctx, msg: seen.append(ctx.key)))
    with goka.Processor(broker.brokers, graph, path=str(tmp_path / "p"), initial_offset=goka.Offset.NEWEST,
                        consumer_config=broker.group_config) as proc:
        assert proc.wait_recovered(60)
        # the consumer has fetched (its start position is resolved) once it reports watermarks
        wait_for(lambda: all(pp["hwm"] for pp in proc.stats()["partitions"].values()), 30,
                 "the processor to fetch from both partitions")
        with goka.Emitter(broker.brokers, inp, codec.Int64()) as emitter:
            for f in [emitter.emit(f"new-{i}", i) for i in range(10)]:
                f.result(10)
        wait_for(lambda: len(seen) >= 10, 30, "the new messages to be processed")
    assert sorted(seen) == sorted(f"new-{i}" for i in range(10))


def wait_state(proc, state, timeout=30.0):
    deadline = time.monotonic() + timeout
    while proc.state != state:
        assert proc.state != "stopped", f"stopped before reaching {state}"
        assert time.monotonic() < deadline, f"state {proc.state}, never {state}"
        time.sleep(0.002)


@EMBEDDED
def test_stop_during_recovery_then_restart(broker, tmp_path, wait_for):
    """``stop()`` while a large table is recovering returns promptly without error; a new
    processor on the same storage recovers the rest and serves every value."""
    inp, group = broker.name("in"), broker.name("stoprec")
    table = goka.group_table(group)
    broker.create_topic(inp, 4)
    broker.create_topic(table, 4)
    expected, counts = fill_table(broker, table, 4, 160_000)
    graph = goka.define_group(group, goka.Input(inp, codec.Int64(), lambda ctx, msg: None),
                              goka.Persist(codec.Int64()))
    proc = goka.Processor(broker.brokers, graph, path=str(tmp_path / "p"), consumer_config=broker.group_config)
    proc.start()
    wait_state(proc, "recovering")
    started = time.monotonic()
    proc.stop()  # raises if the processor failed
    assert time.monotonic() - started < 10 and proc.state == "stopped"
    assert proc.stats()["state"] == "stopped"  # (no read of the closed table storage)
    with goka.Processor(broker.brokers, graph, path=str(tmp_path / "p"),
                        consumer_config=broker.group_config) as again:
        assert again.wait_recovered(60)
        sample = list(expected)[::997]
        assert {k: again.get(k) for k in sample} == {k: expected[k] for k in sample}
        tables = again.stats()["tables"]
        assert [tables[f"{table}/{p}"]["offset"] for p in range(4)] == [n - 1 for n in counts]


@EMBEDDED
def test_rebalance_during_recovery(broker, tmp_path, wait_for):
    """A second member joins while the first recovers a large table: the group settles with
    both holding partitions, each serving its partitions' recovered values and processing."""
    inp, group = broker.name("in"), broker.name("rebrec")
    table = goka.group_table(group)
    broker.create_topic(inp, 4)
    broker.create_topic(table, 4)
    expected, _ = fill_table(broker, table, 4, 160_000)

    def add(ctx, msg):
        ctx.set_value((ctx.value() or 0) + msg)

    graph = goka.define_group(group, goka.Input(inp, codec.Int64(), add), goka.Persist(codec.Int64()))
    p1, p2 = (goka.Processor(broker.brokers, graph, path=str(tmp_path / f"p{i}"),
                             consumer_config=broker.group_config) for i in (1, 2))
    try:
        p1.start()
        wait_state(p1, "recovering")
        p2.start()
        wait_for(lambda: p1.stats()["active"] and p2.stats()["active"], 90, "both members to hold partitions")
        # (emitted after the hand-over: the embedded cluster refuses commits during one)
        with goka.Emitter(broker.brokers, inp, codec.Int64()) as emitter:
            for f in [emitter.emit("fresh", 1) for _ in range(5)]:
                f.result(10)
        owner = p1 if partition_of("fresh", 4) in p1.stats()["active"] else p2
        wait_for(lambda: owner.get("fresh") == 5, 30, "the input to be counted")
        last = {partition_of(k, 4): k for k in expected}  # the last key written to each partition
        for proc in (p1, p2):
            for p in proc.stats()["active"]:
                assert proc.get(last[p]) == expected[last[p]]
    finally:
        p1.stop()
        p2.stop()
