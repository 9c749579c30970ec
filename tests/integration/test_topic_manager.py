"""The public ``goka.TopicManager`` (Go Goka's NewTopicManager) on an EmbeddedCluster and
on Tansu (which reports topic configs: compaction of tables, retention of streams)."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

import goka
from goka.cluster import EmbeddedCluster
from goka.topics import TopicCreateError, TopicError, TopicNotFoundError


def test_create_and_inspect_topics_on_an_embedded_cluster(embedded_cluster: EmbeddedCluster,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with goka.TopicManager(goka.Kafka(embedded_cluster, {"client.id": "deploy-script"})) as tm:
        assert "clicks" not in tm.topics()
        tm.ensure_stream("clicks", 3)
        tm.ensure_table("profiles", 3)
        tm.ensure_topic("audit", 2, {"retention.ms": "86400000"})
        assert tm.partitions("clicks") == [0, 1, 2]
        assert tm.partitions("profiles") == [0, 1, 2]
        assert tm.partitions("audit") == [0, 1]
        assert {"clicks", "profiles", "audit"} <= set(tm.topics())
        assert tm.topics() == sorted(tm.topics())
        assert tm.ensure_copartitioned(["clicks", "profiles"]) == 3
        with pytest.raises(goka.CopartitionError, match="audit"):
            tm.ensure_copartitioned(["clicks", "audit"])
        with caplog.at_level(logging.WARNING, logger="goka.kafka"):
            tm.ensure_stream("clicks", 3)  # exists: nothing to do
            assert not caplog.records
            tm.ensure_stream("clicks", 5)  # exists with another count: a warning, as Goka
        assert "'clicks' exists with 3 partitions, 5 requested" in caplog.text
        assert tm.partitions("clicks") == [0, 1, 2]
        with pytest.raises(TopicNotFoundError, match="no-such-topic") as info:
            tm.partitions("no-such-topic")
        assert isinstance(info.value, LookupError) and isinstance(info.value, goka.GokaError)
        assert "no-such-topic" not in tm.topics()  # looking it up did not create it
    with pytest.raises(TopicError, match="closed"):
        tm.topics()
    tm.close()  # idempotent


@pytest.mark.parametrize("call, args", [
    ("ensure_stream", ("", 1)), ("ensure_stream", ("t", 0)), ("ensure_table", ("t", -1)),
    ("ensure_table", ("t", True)), ("ensure_topic", ("t", "3")), ("partitions", (None,)),
])
def test_bad_arguments(embedded_cluster: EmbeddedCluster, call: str, args: tuple[Any, ...]) -> None:
    with goka.TopicManager(embedded_cluster) as tm, pytest.raises(ValueError):
        getattr(tm, call)(*args)


def test_bootstrap_string_of_an_embedded_cluster_cannot_create(embedded_cluster: EmbeddedCluster) -> None:
    with goka.TopicManager(embedded_cluster.brokers, request_timeout=5) as tm:
        with pytest.raises(TopicCreateError, match="EmbeddedCluster"):
            tm.ensure_stream("t", 2)


def test_replication_is_validated() -> None:
    with pytest.raises(ValueError, match="replication"):
        goka.TopicManager("localhost:1", replication=0)


def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (fut,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    return {k: v.value for k, v in fut.result(15).items()}


def test_tables_are_compacted_and_streams_expire_on_tansu(tansu: str) -> None:
    table, stream = (f"tm-{kind}-{id(tansu)}" for kind in ("table", "stream"))
    with goka.TopicManager(goka.Kafka(tansu, {"client.id": "tm-test"})) as tm:
        tm.ensure_table(table, 3)
        tm.ensure_stream(stream, 2)
        assert tm.partitions(table) == [0, 1, 2] and tm.partitions(stream) == [0, 1]
        tm.ensure_table(table, 3)  # idempotent
    assert _configs(tansu, table)["cleanup.policy"] == "compact"
    streamed = _configs(tansu, stream)
    assert streamed["cleanup.policy"] == "delete" and streamed["retention.ms"] == "3600000"
