"""TopicManager on the embedded cluster and on Tansu."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from goka._kafka.admin import (
    TopicCreateError,
    TopicError,
    TopicManager,
    TopicNotFoundError,
)
from goka.cluster import EmbeddedCluster
from goka.errors import CopartitionError


@pytest.fixture
def tm(broker: Any) -> Iterator[TopicManager]:
    manager = TopicManager.for_brokers(broker.brokers)
    yield manager
    manager.close()


def test_missing_topic(broker: Any, tm: TopicManager) -> None:
    name = broker.name("missing")
    with pytest.raises(TopicNotFoundError, match="requested topic was not found") as info:
        tm.partitions(name)
    assert name in str(info.value) and info.value.topic == name
    assert isinstance(info.value, LookupError)
    assert name not in tm.topics()  # the look-up did not auto-create it


def test_ensure_stream_and_table(broker: Any, tm: TopicManager, caplog: pytest.LogCaptureFixture) -> None:
    stream, table = broker.name("stream"), broker.name("table")
    tm.ensure_stream(stream, 3)
    tm.ensure_table(table, 3)
    assert tm.partitions(stream) == [0, 1, 2]
    assert tm.partitions(table) == [0, 1, 2]
    tm.ensure_stream(stream, 3)  # exists: no-op
    with caplog.at_level(logging.WARNING, logger="goka.kafka"):
        tm.ensure_table(table, 5)  # mismatch is logged, not changed (Goka's default)
    assert f"{table!r} exists with 3 partitions, 5 requested" in caplog.text
    assert tm.partitions(table) == [0, 1, 2]
    with pytest.raises(ValueError):
        tm.ensure_stream(broker.name(), 0)


def test_ensure_copartitioned(broker: Any, tm: TopicManager) -> None:
    a, b, c = broker.name("a"), broker.name("b"), broker.name("c")
    broker.create_topic(a, 4)
    broker.create_topic(b, 4)
    broker.create_topic(c, 3)
    assert tm.ensure_copartitioned([a, b, a]) == 4
    with pytest.raises(CopartitionError) as info:
        tm.ensure_copartitioned([a, b, c])
    message = str(info.value)
    for name, count in ((a, 4), (b, 4), (c, 3)):
        assert f"{name!r} has {count} partitions" in message
    missing = broker.name("nope")
    with pytest.raises(TopicNotFoundError, match=missing) as nf:
        tm.ensure_copartitioned([a, missing])
    assert nf.value.topics == (missing,)
    with pytest.raises(ValueError):
        tm.ensure_copartitioned([])


def test_broker_forms(broker: Any) -> None:
    topic = broker.name()
    broker.create_topic(topic, 2)
    host_ports = broker.bootstrap.split(",")
    for form in (host_ports, ", ".join(host_ports), broker.bootstrap, broker.brokers):
        with TopicManager.for_brokers(form) as manager:
            assert manager.partitions(topic) == [0, 1]


def test_embedded_bootstrap_string_cannot_create(embedded_cluster: EmbeddedCluster) -> None:
    """Another process holding only the bootstrap string can look up, not create."""
    embedded_cluster.create_topic("exists", 2)
    with TopicManager.for_brokers(embedded_cluster.brokers) as manager:
        assert manager.partitions("exists") == [0, 1]
        start = time.monotonic()
        with pytest.raises(TopicCreateError, match="EmbeddedCluster"):
            manager.ensure_stream("new-topic", 2)
        assert time.monotonic() - start < 5  # fails fast, no controller wait
    assert "new-topic" not in embedded_cluster.topics()


def test_embedded_cluster_object_creates(embedded_cluster: EmbeddedCluster) -> None:
    with TopicManager.for_brokers(embedded_cluster) as manager:
        manager.ensure_table("g-table", 6)
        manager.ensure_stream("g-loop", 6)
        assert manager.ensure_copartitioned(["g-table", "g-loop"]) == 6
    assert embedded_cluster.topics() == ["g-loop", "g-table"]


def test_tansu_topic_configs(tansu: str) -> None:
    with TopicManager.for_brokers(tansu) as manager:
        manager.ensure_table("cfg-table", 2)
        manager.ensure_stream("cfg-loop", 2)
    admin = AdminClient({"bootstrap.servers": tansu})
    wanted = {"cleanup.policy", "retention.ms"}
    found = {}
    for resource, future in admin.describe_configs(
        [ConfigResource("topic", "cfg-table"), ConfigResource("topic", "cfg-loop")]
    ).items():
        entries = future.result(timeout=10)
        found[resource.name] = {k: v.value for k, v in entries.items() if k in wanted}
    assert found["cfg-table"]["cleanup.policy"] == "compact"
    assert found["cfg-loop"] == {"cleanup.policy": "delete", "retention.ms": "3600000"}


def test_closed_and_unreachable() -> None:
    manager = TopicManager.for_brokers("127.0.0.1:1", request_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(TopicError, match="metadata request to 127.0.0.1:1 failed"):
        manager.partitions("x")
    assert time.monotonic() - start < 5
    manager.close()
    with pytest.raises(TopicError, match="closed"):
        manager.topics()
