"""Windowed tables on the real Kafka protocol: window state and each partition's stream-time
marker live in ``<group>-<name>`` and survive a restart on an empty local store; windows
closed before the restart are not closed again, late records stay late."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

import goka
from goka import codec
from goka.window import STREAM_TIME_KEY, decode_stream_time, parse_window_key

T0 = 1_714_564_800_000  # 2024-05-01 12:00 UTC, a whole minute
S = 1000
TOPIC = "wins-per-minute"


def graph() -> goka.GroupGraph:
    def on_click(ctx: goka.Context, msg: str) -> None:
        w = ctx.window("per-minute")
        w.set_value((w.value() or 0) + 1)

    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: int) -> None:
        ctx.emit("counts", ctx.key, f"{window.start_ms - T0}:{value}")

    return goka.define_group(
        "wins", goka.Input("clicks", codec.String(), on_click), goka.Output("counts", codec.String()),
        goka.Window("per-minute", goka.Tumbling(timedelta(minutes=1)), codec.Int64(), on_close=on_close,
                    retention=timedelta(minutes=10)))


def produce(brokers: str, records: list[tuple[str, int, int]]) -> None:
    """(key, partition, timestamp - T0 in ms), in order."""
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    for key, partition, ts in records:
        p.produce("clicks", b"click", key.encode(), partition=partition, timestamp=T0 + ts)
    assert p.flush(30) == 0


def read_all(brokers: str, topic: str, partitions: int) -> list[tuple[int, bytes, bytes | None]]:
    """Every record of ``topic``: (partition, key, value)."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"read-{time.monotonic_ns()}",
                  "enable.auto.commit": False})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: list[tuple[int, bytes, bytes | None]] = []
        seen = {p: 0 for p in range(partitions)}
        deadline = time.monotonic() + 30
        while any(seen[p] < ends[p] for p in seen) and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            out.append((msg.partition(), msg.key(), msg.value()))
            seen[msg.partition()] = msg.offset() + 1
        assert all(seen[p] >= ends[p] for p in seen), "could not read the whole topic"
        return out
    finally:
        c.close()


def scrape(proc: goka.Processor) -> dict[str, dict[tuple[str, ...], float]]:
    """The processor's metrics as /metrics serves them: {family: {labels: value}}."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from goka.web.metrics import GokaCollector

    registry = CollectorRegistry()
    registry.register(GokaCollector(processors=[proc]))
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name.removesuffix("_total"), {})[tuple(sample.labels.values())] = sample.value
    return out


def windows_stats(proc: goka.Processor) -> dict[int, Any]:
    return {p: e["windows"] for p, e in proc.stats()["partitions"].items()}


def settled(proc: goka.Processor, stream_times: dict[int, int]) -> bool:
    parts = proc.stats()["partitions"]
    return (sorted(parts) == sorted(stream_times) and all(parts[p]["in_flight"] == 0 for p in parts)
            and {p: parts[p]["windows"]["stream_time"] for p in parts} == {p: T0 + t for p, t in stream_times.items()})


def latest(records: list[tuple[int, bytes, bytes | None]]) -> dict[tuple[int, bytes], bytes | None]:
    out: dict[tuple[int, bytes], bytes | None] = {}
    for p, k, v in records:
        out[(p, k)] = v
    return out


def test_window_state_and_marker_survive_a_restart(tmp_path, wait_for):
    with goka.EmbeddedCluster(partitions=2) as cluster:
        cluster.create_topic("clicks", 2)
        cluster.create_topic("counts", 1)
        produce(cluster.brokers, [("a", 0, 5 * S), ("b", 1, 10 * S), ("a", 0, 30 * S), ("a", 0, 65 * S)])
        with goka.Processor(cluster, graph(), path=str(tmp_path / "a")) as first:
            assert first.wait_recovered(30)
            wait_for(lambda: settled(first, {0: 65 * S, 1: 10 * S}), 30, "the first instance to settle")
            assert windows_stats(first)[0]["edges"]["per-minute"]["closed"] == 1
        # the window topic: the state of every window and each partition's marker
        state = latest(read_all(cluster.brokers, TOPIC, 2))
        markers = {p: decode_stream_time(v) - T0 for (p, k), v in state.items() if k == STREAM_TIME_KEY and v}
        assert markers == {0: 65 * S, 1: 10 * S}
        windows = {(p, *(x - T0 if i else x for i, x in enumerate(parse_window_key(k)))): int(v)
                   for (p, k), v in state.items() if k != STREAM_TIME_KEY and v is not None}
        assert windows == {(0, b"a", 0, 60 * S): 2, (0, b"a", 60 * S, 120 * S): 1, (1, b"b", 0, 60 * S): 1}

        # a restart on an empty local store: recovered from the topic, markers included
        with goka.Processor(cluster, graph(), path=str(tmp_path / "b")) as second:
            assert second.wait_recovered(30)
            wait_for(lambda: sorted(second.stats()["partitions"]) == [0, 1], 30, "both partitions assigned")
            stats = windows_stats(second)
            assert {p: s["stream_time"] - T0 for p, s in stats.items()} == {0: 65 * S, 1: 10 * S}
            assert {p: s["open"] for p, s in stats.items()} == {0: 1, 1: 1}
            produce(cluster.brokers, [("a", 0, 20 * S), ("b", 1, 70 * S), ("a", 0, 125 * S)])
            wait_for(lambda: settled(second, {0: 125 * S, 1: 70 * S}), 30, "the second instance to settle")
            assert windows_stats(second)[0]["late"] == 1  # a at 0:20: its minute closed before the restart
            metrics = scrape(second)
            assert metrics["goka_late_messages"] == {("wins", "0"): 1.0, ("wins", "1"): 0.0}
            assert metrics["goka_open_windows"] == {("wins", "0"): 1.0, ("wins", "1"): 1.0}
            assert metrics["goka_stream_time_seconds"][("wins", "0")] == (T0 + 125 * S) / 1000
            from goka.web.monitor import processor_snapshot
            assert processor_snapshot("wins", second)["windows"] == [
                {"partition": 0, "stream_time": T0 + 125 * S, "open": 1, "late": 1},
                {"partition": 1, "stream_time": T0 + 70 * S, "open": 1, "late": 0}]
        counts = [(k.decode(), v.decode()) for _, k, v in read_all(cluster.brokers, "counts", 1) if v]
        assert sorted(counts) == [("a", "0:2"), ("a", "60000:1"), ("b", "0:1")]  # each window once
        state = latest(read_all(cluster.brokers, TOPIC, 2))
        assert decode_stream_time(state[(0, STREAM_TIME_KEY)] or b"") - T0 == 125 * S
