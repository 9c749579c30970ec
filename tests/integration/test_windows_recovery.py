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
# The embedded cluster delays every rebalance after a group's first join (a restart in the same
# group) by session.timeout.ms minus 1 s: a short session keeps it quick (goka's default: 9 s).
GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}


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
        with goka.Processor(cluster, graph(), path=str(tmp_path / "a"), consumer_config=GROUP_CONFIG) as first:
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
        with goka.Processor(cluster, graph(), path=str(tmp_path / "b"), consumer_config=GROUP_CONFIG) as second:
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


def test_on_close_whose_effects_are_not_acknowledged_runs_again(tmp_path, wait_for):
    """The broker refuses the records of a close batch (the processor stops before they are
    acknowledged, as in a crash): no marker covers the close, so the next processor over
    the same local state closes the window again once stream time passes its close -- at
    least once, never lost."""
    import threading

    from confluent_kafka import KafkaError

    entered, release = threading.Event(), threading.Event()
    calls: list[tuple[str, int]] = []

    def on_click(ctx: goka.Context, msg: str) -> None:
        if msg == "click":
            w = ctx.window("per-minute")
            w.set_value((w.value() or 0) + 1)

    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: int) -> None:
        calls.append((ctx.key, value))
        entered.set()
        assert release.wait(30)
        ctx.emit("counts", ctx.key, f"{window.start_ms - T0}:{value}")

    g = goka.define_group("crashw", goka.Input("clicks", codec.String(), on_click),
                          goka.Output("counts", codec.String()),
                          goka.Window("per-minute", goka.Tumbling(timedelta(minutes=1)), codec.Int64(),
                                      on_close=on_close))

    def send(key: str, value: str, ts: int) -> None:
        p = Producer({"bootstrap.servers": cluster.brokers})
        p.produce("clicks", value.encode(), key.encode(), partition=0, timestamp=T0 + ts)
        assert p.flush(30) == 0

    with goka.EmbeddedCluster(partitions=1) as cluster:
        cluster.create_topic("clicks", 1)
        cluster.create_topic("counts", 1)
        send("a", "click", 5 * S)
        a = goka.Processor(cluster, g, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG)
        a.start()
        assert a.wait_recovered(30)
        wait_for(lambda: settled(a, {0: 5 * S}), 30, "the click to be stored")
        send("t", "tick", 65 * S)  # writes nothing; the close batch is the next produce
        assert entered.wait(30)
        cluster.push_request_errors(0, [KafkaError.TOPIC_AUTHORIZATION_FAILED])
        release.set()
        wait_for(lambda: a.state == "stopped", 30, "the processor to stop on the refused records")
        try:
            a.stop()
        except Exception as exc:  # the refused produce
            assert "counts" in str(exc)
        else:
            raise AssertionError("the processor should have failed")
        assert calls == [("a", 1)]
        with goka.Processor(cluster, g, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG) as b:
            assert b.wait_recovered(30)
            wait_for(lambda: 0 in b.stats()["partitions"], 30, "the partition to be assigned")
            assert windows_stats(b)[0]["open"] == 1  # no marker covers the close: still open
            send("t", "tick", 70 * S)
            wait_for(lambda: settled(b, {0: 70 * S}), 30, "the window to close again")
        assert calls == [("a", 1), ("a", 1)]
        counts = [(k.decode(), v.decode()) for _, k, v in read_all(cluster.brokers, "counts", 1) if v]
        assert counts == [("a", "0:1")]


def test_hot_standby_follows_window_topics_and_takes_them_over(tmp_path, wait_for):
    """A hot-standby instance follows the window topic of the partition it does not hold
    (its local copy stays current) and, when the other instance leaves, takes the
    partition over with its windows and stream time."""
    config = GROUP_CONFIG
    with goka.EmbeddedCluster(partitions=2) as cluster:
        cluster.create_topic("clicks", 2)
        cluster.create_topic("counts", 1)
        p1 = goka.Processor(cluster, graph(), path=str(tmp_path / "p1"), consumer_config=config)
        p2 = goka.Processor(cluster, graph(), path=str(tmp_path / "p2"), consumer_config=config, hot_standby=True)
        p1.start()
        p2.start()
        try:
            wait_for(lambda: len(p1.stats()["active"]) == 1 and len(p2.stats()["active"]) == 1, 60,
                     "both instances to hold one partition")
            produce(cluster.brokers, [("a", 0, 5 * S), ("b", 1, 10 * S), ("a", 0, 65 * S)])
            expected = {0: 65 * S, 1: 10 * S}
            wait_for(lambda: all(settled_part(p, expected) for p in (p1, p2)), 30, "both to settle")
            standby = 1 - p2.stats()["active"][0]
            end = len([r for r in read_all(cluster.brokers, TOPIC, 2) if r[0] == standby])
            assert end >= 2  # at least a window and a marker
            wait_for(lambda: p2.stats()["tables"][f"{TOPIC}/{standby}"]["offset"] == end - 1, 30,
                     "the standby copy of the other partition's windows to follow")
            p1.stop()
            wait_for(lambda: p2.stats()["active"] == [0, 1], 60, "p2 to take both partitions over")
            stats = windows_stats(p2)
            assert {p: s["stream_time"] - T0 for p, s in stats.items()} == expected
            assert {p: s["open"] for p, s in stats.items()} == {0: 1, 1: 1}
        finally:
            p1.stop()
            p2.stop()


def settled_part(proc: goka.Processor, stream_times: dict[int, int]) -> bool:
    parts = proc.stats()["partitions"]
    return bool(parts) and all(parts[p]["in_flight"] == 0 and parts[p]["windows"]["stream_time"] == T0 + stream_times[p]
                               for p in parts)
