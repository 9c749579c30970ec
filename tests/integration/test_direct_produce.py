"""``goka._core.produce.DirectProducer``, both twins, on the embedded cluster: records
reach the partition in order with their bytes intact, without delivery reports, and
records the local queue refuses are marked, not lost silently."""
from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from goka import EmbeddedCluster
from goka._kafka.clients import direct_producer, librdkafka_functions, producer


def make(produce: ModuleType, cluster: EmbeddedCluster, **overrides: Any) -> Any:
    p = producer(cluster.brokers, client_id="direct-test", overrides=overrides, ordered=True)
    functions = librdkafka_functions() if produce.__name__.endswith("_c") else None
    if produce.__name__.endswith("_c"):
        assert functions is not None, "the compiled twin must find librdkafka's entry points here"
    return produce.DirectProducer(p, functions)


def read(cluster: EmbeddedCluster, topic: str, partition: int, count: int) -> list[tuple[Any, Any, int]]:
    c = Consumer({"bootstrap.servers": cluster.brokers, "group.id": "direct-reader", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        got: list[tuple[Any, Any, int]] = []
        for _ in range(100):
            for m in c.consume(1000, 0.2):
                assert m.error() is None, m.error()
                got.append((m.key(), m.value(), m.partition()))
            if len(got) >= count:
                break
        return got
    finally:
        c.close()


def test_records_in_order_without_reports(produce: ModuleType, embedded_cluster: EmbeddedCluster) -> None:
    topic = "direct-" + uuid.uuid4().hex[:8]
    embedded_cluster.create_topic(topic, 4)
    d = make(produce, embedded_cluster)
    records: list[dict[str, Any]] = [{"key": b"k%d" % i, "value": b"v%d" % i} for i in range(2000)]
    records[5] = {"key": b"tomb", "value": None}  # a tombstone
    records[6] = {"key": b"", "value": b"empty key"}
    records[7] = {"key": b"s", "value": "text"}  # str is sent as UTF-8
    reports: list[Any] = []
    assert d.produce(topic, 2, records) == len(records)
    assert d.produce(topic, 2, []) == 0
    d.producer.produce(topic, b"after", b"end", 2, on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert d.producer.flush(10) == 0
    assert reports == [(None, len(records))]  # ordered after the run, the only report
    got = read(embedded_cluster, topic, 2, len(records) + 1)
    expected = [(r["key"], r["value"].encode() if isinstance(r["value"], str) else r["value"], 2)
                for r in records] + [(b"end", b"after", 2)]
    assert got == expected
    assert not any("_error" in r for r in records)


def test_queue_full_marks_records(produce: ModuleType, embedded_cluster: EmbeddedCluster) -> None:
    topic = "direct-" + uuid.uuid4().hex[:8]
    embedded_cluster.create_topic(topic, 1)
    d = make(produce, embedded_cluster, **{"queue.buffering.max.messages": 10, "linger.ms": 1000})
    records = [{"key": b"k%d" % i, "value": b"v"} for i in range(25)]
    queued = d.produce(topic, 0, records)
    assert 0 < queued < 25
    assert [r.get("_error") for r in records] == [None] * queued + [-184] * (25 - queued)
    assert d.producer.flush(10) == 0
    assert [k for k, _, _ in read(embedded_cluster, topic, 0, queued)] == [b"k%d" % i for i in range(queued)]


def test_processor_batch_with_and_without_headers_in_order(embedded_cluster: EmbeddedCluster) -> None:
    """A processor batch whose emits to one partition mix records with headers (produced
    one by one) and without (runs through the DirectProducer): every record arrives, in
    emit order, with exactly its own headers; a batch without any header record goes out
    as one run, the same way."""
    import goka
    from goka import codec

    src, out = "mix-in-" + uuid.uuid4().hex[:6], "mix-out-" + uuid.uuid4().hex[:6]
    embedded_cluster.create_topic(src, 1)
    embedded_cluster.create_topic(out, 1)

    def fan(ctx: Any, msg: str) -> None:
        n = int(msg)
        for i in range(4):
            headers = {"i": str(i).encode(), "none": None, "empty": b""} if (n + i) % 3 == 0 else None
            ctx.emit(out, f"{n}-{i}", f"v{n}-{i}", headers=headers)

    graph = goka.define_group("mix-" + uuid.uuid4().hex[:6], goka.Input(src, codec.String(), fan),
                              goka.Output(out, codec.String()))
    with goka.Emitter(embedded_cluster, src, codec.String()) as em:
        for n in range(60):
            em.emit(f"k{n}", str(n))
    with goka.Processor(embedded_cluster, graph):
        c = Consumer({"bootstrap.servers": embedded_cluster.brokers, "group.id": "mix-reader",
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(out, 0, 0)])
            got: list[Any] = []
            for _ in range(300):
                for m in c.consume(1000, 0.2):
                    assert m.error() is None, m.error()
                    got.append((m.key(), m.value(), m.headers()))
                if len(got) >= 240:
                    break
        finally:
            c.close()
    expected = [(f"{n}-{i}".encode(), f"v{n}-{i}".encode(),
                 [("i", str(i).encode()), ("none", None), ("empty", b"")] if (n + i) % 3 == 0 else None)
                for n in range(60) for i in range(4)]
    assert got == expected
