"""EmbeddedCluster and Tansu through real confluent-kafka clients."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from goka._kafka.admin import TopicCreateError, TopicNotFoundError
from goka.cluster import EmbeddedCluster

pytestmark = pytest.mark.twin_neutral  # no core twin involved: the compiled pass covers it

TIMEOUT = 30.0


def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes | None, list[tuple[str, bytes]]]],
            **conf: Any) -> list[Message]:
    """Produce ``(partition, key, value, headers)`` records; return the delivered messages."""
    delivered: list[Message] = []
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        (errors.append(err) if err else delivered.append(msg))

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **conf})
    for partition, key, value, headers in records:
        p.produce(topic, value, key, partition=partition, headers=headers, on_delivery=on_delivery)
    assert p.flush(TIMEOUT) == 0
    assert errors == []
    return delivered


def consume_all(bootstrap: str, topic: str, partitions: list[int], count: int, **conf: Any) -> list[Message]:
    """Read ``count`` messages from the start of ``partitions`` (manual assignment)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False, **conf})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in partitions])
        got: list[Message] = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < count and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                assert m.error() is None, m.error()
                got.append(m)
        assert len(got) == count
        return got
    finally:
        c.close()


def test_context_manager_lifecycle() -> None:
    with EmbeddedCluster(partitions=2, brokers=3) as cluster:
        assert cluster.running
        addrs = cluster.brokers.split(",")
        assert len(addrs) == 3 and cluster.broker_count == 3
        ports = []
        for addr in addrs:
            host, port = addr.rsplit(":", 1)
            assert host == "127.0.0.1"
            ports.append(int(port))
            socket.create_connection((host, int(port)), timeout=2).close()
    assert not cluster.running
    with pytest.raises(RuntimeError, match="not running"):
        cluster.brokers
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    cluster.stop()  # idempotent


def test_create_topic_and_listing(embedded_cluster: EmbeddedCluster) -> None:
    c = embedded_cluster
    assert c.topics() == []
    c.create_topic("default")
    c.create_topic("two", 2, config={"cleanup.policy": "compact"})
    c.create_topic("two", 2)  # same count: no-op
    assert c.topics() == ["default", "two"]
    assert c.partitions("default") == [0, 1, 2, 3]
    assert c.partitions("two") == [0, 1]
    with pytest.raises(TopicCreateError, match="exists with 2 partitions, 3 requested"):
        c.create_topic("two", 3)
    with pytest.raises(TopicNotFoundError, match="requested topic was not found: 'missing'"):
        c.partitions("missing")
    assert "missing" not in c.topics()  # looking up did not auto-create it
    c.delete_topic("default")
    assert c.topics() == ["two"]


def test_round_trip_headers_and_tombstones(broker: Any) -> None:
    topic = broker.name()
    broker.create_topic(topic, 2)
    records = [
        (0, b"k0", b"v0", [("h", b"1"), ("empty", b"")]),
        (1, b"k1", b"v1", []),
        (1, b"k1", None, [("deleted", b"yes")]),  # tombstone
        (0, b"", b"empty-key", [("h", b"2"), ("h", b"3")]),  # repeated header keys
    ]
    delivered = produce(broker.bootstrap, topic, records)
    assert sorted((m.partition(), m.offset()) for m in delivered) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    got = consume_all(broker.bootstrap, topic, [0, 1], len(records))
    seen = sorted((m.partition(), m.offset(), m.key(), m.value(), m.headers() or []) for m in got)
    assert seen == [
        (0, 0, b"k0", b"v0", [("h", b"1"), ("empty", b"")]),
        (0, 1, b"", b"empty-key", [("h", b"2"), ("h", b"3")]),
        (1, 0, b"k1", b"v1", []),
        (1, 1, b"k1", None, [("deleted", b"yes")]),
    ]


def test_group_commit_survives_member(broker: Any) -> None:
    topic, group = broker.name(), broker.name("g")
    broker.create_topic(topic, 2)
    produce(broker.bootstrap, topic, [(i % 2, b"k%d" % i, b"v", []) for i in range(10)])
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "partition.assignment.strategy": "range", **broker.group_config}
    c = Consumer(conf)
    try:
        c.subscribe([topic])
        n, deadline = 0, time.monotonic() + TIMEOUT
        while n < 10 and time.monotonic() < deadline:
            n += sum(1 for m in c.consume(100, 0.2) if m.error() is None)
        assert n == 10
        c.commit(asynchronous=False)
    finally:
        c.close()
    fresh = Consumer(conf)
    try:
        committed = fresh.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=TIMEOUT)
    finally:
        fresh.close()
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 5), (1, 5)]


def test_first_group_join_is_fast(embedded_cluster: EmbeddedCluster) -> None:
    """initial_rebalance_delay_ms=0 is applied (the mock's own default delays 3 s)."""
    embedded_cluster.create_topic("t", 4)
    assigned: list[int] = []
    c = Consumer({"bootstrap.servers": embedded_cluster.brokers, "group.id": "g",
                  "partition.assignment.strategy": "range", "session.timeout.ms": 10000,
                  "heartbeat.interval.ms": 3000})
    try:
        start = time.monotonic()
        c.subscribe(["t"], on_assign=lambda _c, parts: assigned.extend(tp.partition for tp in parts))
        while not assigned and time.monotonic() - start < TIMEOUT:
            c.poll(0.01)
        elapsed = time.monotonic() - start
    finally:
        c.close()
    assert sorted(assigned) == [0, 1, 2, 3]
    assert elapsed < 2.0


def test_fetch_reports_high_watermark(broker: Any) -> None:
    topic = broker.name()
    broker.create_topic(topic, 1)
    produce(broker.bootstrap, topic, [(0, b"k", b"v%d" % i, []) for i in range(25)], **{"linger.ms": 50})
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "hwm", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got, deadline = 0, time.monotonic() + TIMEOUT
        while got < 25 and time.monotonic() < deadline:
            got += sum(1 for m in c.consume(100, 0.2) if m.error() is None)
        assert got == 25
        assert c.get_watermark_offsets(TopicPartition(topic, 0), cached=True) == (0, 25)
    finally:
        c.close()


SUBPROCESS_CLIENT = textwrap.dedent("""
    import json, sys, time
    from confluent_kafka import Consumer, Producer, TopicPartition
    bootstrap, topic = sys.argv[1], sys.argv[2]
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        p.produce(topic, b"from-child-%d" % i, b"child", partition=1)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "child", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got, deadline = [], time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        got += [m.value().decode() for m in c.consume(10, 0.2) if m.error() is None]
    c.close()
    print(json.dumps(got))
""")


def test_other_process_reaches_embedded_cluster(embedded_cluster: EmbeddedCluster) -> None:
    c = embedded_cluster
    c.create_topic("shared", 2)
    produce(c.brokers, "shared", [(0, b"parent", b"from-parent-%d" % i, []) for i in range(3)])
    out = subprocess.run([sys.executable, "-c", SUBPROCESS_CLIENT, c.brokers, "shared"],
                         capture_output=True, timeout=60, check=True)
    assert json.loads(out.stdout) == ["from-parent-0", "from-parent-1", "from-parent-2"]
    got = consume_all(c.brokers, "shared", [1], 5)
    assert [m.value() for m in got] == [b"from-child-%d" % i for i in range(5)]


def test_broker_down_and_up() -> None:
    with EmbeddedCluster(partitions=1) as cluster:
        cluster.create_topic("t", 1)
        p = Producer({"bootstrap.servers": cluster.brokers, "reconnect.backoff.ms": 10,
                      "reconnect.backoff.max.ms": 100, "message.timeout.ms": 60000})
        results: list[KafkaError | None] = []
        p.produce("t", b"before", b"k", partition=0, on_delivery=lambda err, msg: results.append(err))
        assert p.flush(TIMEOUT) == 0 and results == [None]
        cluster.set_broker_down(1)
        p.produce("t", b"during", b"k", partition=0, on_delivery=lambda err, msg: results.append(err))
        assert p.flush(1.0) == 1  # not deliverable while the only broker is down
        cluster.set_broker_up(1)
        assert p.flush(TIMEOUT) == 0
        assert results == [None, None]
        with pytest.raises(ValueError, match="no broker 2"):
            cluster.set_broker_down(2)


def test_push_request_errors(embedded_cluster: EmbeddedCluster) -> None:
    c = embedded_cluster
    c.create_topic("t", 1)
    c.push_request_errors(0, [KafkaError.NOT_ENOUGH_REPLICAS])  # ApiKey 0 = Produce
    results: list[KafkaError | None] = []
    p = Producer({"bootstrap.servers": c.brokers, "retries": 0})
    p.produce("t", b"v1", b"k", partition=0, on_delivery=lambda err, msg: results.append(err))
    assert p.flush(TIMEOUT) == 0
    p.produce("t", b"v2", b"k", partition=0, on_delivery=lambda err, msg: results.append(err))
    assert p.flush(TIMEOUT) == 0
    assert results[0] is not None and results[0].code() == KafkaError.NOT_ENOUGH_REPLICAS
    assert results[1] is None


def test_partition_size_limit_drops_old_data(embedded_cluster: EmbeddedCluster) -> None:
    """Documented mock limit: ~5 MiB per partition, older batches vanish silently."""
    c = embedded_cluster
    c.create_topic("big", 1)
    value = b"x" * 100_000
    produce(c.brokers, "big", [(0, b"k", value, []) for _ in range(80)], **{"enable.idempotence": False})
    consumer = Consumer({"bootstrap.servers": c.brokers, "group.id": "wm"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition("big", 0), timeout=TIMEOUT)
    finally:
        consumer.close()
    assert high == 80
    assert low > 0


def test_tansu_restart_loses_memory_storage(tansu_broker: Any) -> None:
    """A restarted tansu (memory storage) comes back on its port, empty."""
    bootstrap = tansu_broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("before-restart", 1, 1)])["before-restart"].result(timeout=TIMEOUT)
    produce(bootstrap, "before-restart", [(0, b"k", b"v", [])])
    tansu_broker.stop()
    assert tansu_broker.start(port=int(bootstrap.rsplit(":", 1)[1])) == bootstrap
    assert "before-restart" not in admin.list_topics(timeout=TIMEOUT).topics
