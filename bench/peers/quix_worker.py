"""Click-count on Quix Streams 3.x, run by ``bench_peers.py`` with the throwaway venv's python.

Counts messages per key in Quix's default state store (RocksDB, changelog topic on) and
stops once ``--messages`` were processed; prints one ``RESULT {json}`` line (see clock.py).

``--metadata-only-admin`` is for brokers whose DescribeConfigs Quix cannot use:
librdkafka's mock cluster (goka.EmbeddedCluster) does not implement it, Tansu 0.6 answers
without ``retention.ms``. Quix then reads partition counts from metadata, takes Kafka's
default topic configs, and creates no topics (the bench pre-creates them, including the
changelog topic). It touches start-up only, not the processing path.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any, Optional

from clock import FETCH_TUNING, Clock
from quixstreams import Application, State
from quixstreams.models.topics import TopicConfig, TopicManager
from quixstreams.models.topics.admin import TopicAdmin


#: What the mock cannot describe: Apache Kafka's broker defaults (7 days, no size limit).
KAFKA_DEFAULT_TOPIC_CONFIG = {"retention.ms": "604800000", "retention.bytes": "-1", "cleanup.policy": "delete"}


class MetadataOnlyAdmin(TopicAdmin):
    """Topic inspection from cluster metadata alone (no DescribeConfigs request);
    topic configs are reported as Kafka's defaults."""

    def inspect_topics(self, topic_names: list[str], timeout: float = 30) -> dict[str, Optional[TopicConfig]]:
        topics = self.list_topics(timeout=timeout)
        configs: dict[str, Optional[TopicConfig]] = {}
        for name in topic_names:
            meta = topics.get(name)
            if meta is None or not meta.partitions:
                configs[name] = None
                continue
            replicas = len(next(iter(meta.partitions.values())).replicas)
            configs[name] = TopicConfig(num_partitions=len(meta.partitions), replication_factor=replicas,
                                        extra_config=dict(KAFKA_DEFAULT_TOPIC_CONFIG))
        return configs


def changelog_topic(group: str, topic: str) -> str:
    """Name of Quix's changelog topic for the default store of ``topic`` in ``group``."""
    return f"changelog__{group}--{topic}--default"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--metadata-only-admin", action="store_true")
    parser.add_argument("--consumer-config", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    consumer_config: dict[str, Any] = {**FETCH_TUNING, **dict(kv.split("=", 1) for kv in args.consumer_config)}
    topic_manager = None
    if args.metadata_only_admin:
        topic_manager = TopicManager(
            topic_admin=MetadataOnlyAdmin(broker_address=args.brokers), consumer_group=args.group,
            auto_create_topics=False,
        )
    app = Application(
        broker_address=args.brokers,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        consumer_extra_config=consumer_config,
        topic_manager=topic_manager,
        loglevel="WARNING",
    )
    clock = Clock(args.messages)

    def count(value: bytes, state: State[Any, Any]) -> None:
        state.set("clicks", state.get("clicks", 0) + 1)
        if clock.tick():
            app.stop()

    topic = app.topic(args.topic, key_deserializer="str", value_deserializer="bytes")
    sdf = app.dataframe(topic)
    sdf.update(count, stateful=True)
    app.run()
    clock.print_result()


if __name__ == "__main__":
    main()
