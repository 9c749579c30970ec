"""A failed message leaves no trace (issue 11, defect 1) and the error policies (issue 12,
part 2) on the real Kafka protocol (the embedded cluster)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

import goka
from goka import codec

EMBEDDED_ONLY = pytest.mark.parametrize("broker", ["embedded"], indirect=True)
TIMEOUT = 30


def emit_all(broker: Any, topic: str, items: list[tuple[str, Any]], value_codec: Any = None,
             headers: dict[str, bytes] | None = None) -> None:
    with goka.Emitter(broker.brokers, topic, value_codec or codec.Int64()) as emitter:
        futures = [emitter.emit(k, v, headers=headers) for k, v in items]
    for f in futures:
        f.result(10)


def read_topic(broker: Any, topic: str, partitions: int) -> list[tuple[str, bytes | None, dict[str, bytes]]]:
    """Every record of ``topic``, read to its end: (key, value, headers), partition by partition."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": broker.name("reader"),
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records: list[tuple[int, int, str, bytes | None, dict[str, bytes]]] = []
    at_end: set[int] = set()
    try:
        while len(at_end) < partitions:
            msg = consumer.poll(10)
            assert msg is not None, f"{topic} did not reach its end"
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
            else:
                records.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value(),
                                dict(msg.headers() or [])))
    finally:
        consumer.close()
    return [(k, v, h) for _, _, k, v, h in sorted(records, key=lambda r: (r[0], r[1]))]


def committed(broker: Any, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        return {tp.partition: tp.offset for tp in
                consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)}
    finally:
        consumer.close()


def scrape(proc: goka.Processor) -> dict[str, dict[tuple[str, str, str], float]]:
    """The policy counters as /metrics serves them: {family: {(group, topic, partition): value}}."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from goka.web.metrics import GokaCollector

    registry = CollectorRegistry()
    registry.register(GokaCollector(processors=[proc]))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    return {name: {(s.labels["group"], s.labels["topic"], s.labels["partition"]): s.value
                   for s in families[name].samples if s.name.endswith("_total")}
            for name in ("goka_skipped_messages", "goka_dead_lettered_messages")}


def processor(broker: Any, graph: goka.GroupGraph, path: Path, **kw: Any) -> goka.Processor:
    return goka.Processor(broker.brokers, graph, path=str(path), consumer_config=broker.group_config, **kw)


def counter(group: str, topic: str, out: str, fail: Any, on_error: Any = None) -> goka.GroupGraph:
    """Counts messages per key, emits each count to ``out``, then raises if ``fail(msg)``
    (after taking a deferred commit it never completes: a discarded attempt's deferred
    commit must not hold the partition)."""

    def count(ctx: goka.Context, msg: int) -> None:
        n = (ctx.value() or 0) + 1
        ctx.set_value(n)
        ctx.emit(out, ctx.key, n)
        if fail(msg):
            ctx.defer_commit()
            raise RuntimeError(f"cannot process {msg}")

    return goka.define_group(group, goka.Input(topic, codec.Int64(), count, on_error=on_error),
                             goka.Output(out, codec.Int64()), goka.Persist(codec.Int64()))


@EMBEDDED_ONLY
def test_failed_callback_leaves_no_trace_and_restart_counts_exactly(broker: Any, tmp_path: Path,
                                                                    wait_for: Any) -> None:
    """10 messages; the callback counts, emits and raises on the 6th once. The processor
    stops; neither the table (view, changelog) nor the output shows the failed attempt;
    a new processor on the same storage ends with exactly 10 and 10 emits."""
    topic, out, group = broker.name("input"), broker.name("out"), broker.name("count")
    broker.create_topic(topic, 1)
    broker.create_topic(out, 1)
    emit_all(broker, topic, [("k", i) for i in range(1, 11)])
    marker = tmp_path / "failed-once"

    def fail_once(msg: int) -> bool:
        if msg == 6 and not marker.exists():
            marker.touch()
            return True
        return False

    graph = counter(group, topic, out, fail_once)
    with pytest.raises(goka.ProcessingError, match="cannot process 6") as info:
        processor(broker, graph, tmp_path / "state").run()
    assert (info.value.topic, info.value.offset, info.value.key) == (topic, 5, "k")
    assert committed(broker, group, topic, 1)[0] == 5
    table = goka.group_table(group)
    assert [(k, int(v)) for k, v, _ in read_topic(broker, table, 1)] == [("k", n) for n in range(1, 6)]
    assert [int(v) for _, v, _ in read_topic(broker, out, 1)] == [1, 2, 3, 4, 5]
    with goka.View(broker.brokers, table, codec.Int64(), path=str(tmp_path / "view"),
                   consumer_config=broker.group_config) as view:
        assert view.wait_recovered(TIMEOUT)
        assert view.get("k") == 5

    with processor(broker, graph, tmp_path / "state") as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: proc.stats()["partitions"].get(0, {}).get("committed", {}).get(topic) == 10,
                 TIMEOUT, "every message committed")
        assert proc.get("k") == 10
    assert [int(v) for _, v, _ in read_topic(broker, out, 1)] == list(range(1, 11))
    assert [int(v) for _, v, _ in read_topic(broker, table, 1)] == list(range(1, 11))


@EMBEDDED_ONLY
def test_fail_policy_unchanged(broker: Any, tmp_path: Path) -> None:
    """The edge's Fail() wins over the processor's Skip(): the processor stops at the message."""
    topic, out, group = broker.name("input"), broker.name("out"), broker.name("fail")
    broker.create_topic(topic, 1)
    broker.create_topic(out, 1)
    emit_all(broker, topic, [("k", i) for i in range(1, 5)])
    graph = counter(group, topic, out, lambda msg: msg == 3, on_error=goka.Fail())
    proc = processor(broker, graph, tmp_path / "state", on_error=goka.Skip())
    with pytest.raises(goka.ProcessingError, match="cannot process 3"):
        proc.run()
    assert committed(broker, group, topic, 1)[0] == 2


@EMBEDDED_ONLY
def test_skip(broker: Any, tmp_path: Path, wait_for: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A callback error and an undecodable value are skipped with a WARNING, counted, and
    committed past; they leave nothing in the table or the output."""
    topic, out, group = broker.name("input"), broker.name("out"), broker.name("skip")
    broker.create_topic(topic, 1)
    broker.create_topic(out, 1)
    emit_all(broker, topic, [("k", "1"), ("k", "2"), ("bad", "not a number"), ("k", "3"), ("k", "4")],
             value_codec=codec.String())
    graph = counter(group, topic, out, lambda msg: msg == 2, on_error=goka.Skip())
    with processor(broker, graph, tmp_path / "state") as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: proc.stats()["partitions"].get(0, {}).get("committed", {}).get(topic) == 5,
                 TIMEOUT, "every message committed")
        assert proc.get("k") == 3 and proc.get("bad") is None
        assert proc.stats()["partitions"][0]["skipped"] == {topic: 2}
        metrics = scrape(proc)
        assert metrics["goka_skipped_messages"] == {(group, topic, "0"): 2.0}
        assert metrics["goka_dead_lettered_messages"] == {(group, topic, "0"): 0.0}
        from goka.web.monitor import processor_snapshot

        snap = processor_snapshot("p", proc)
        assert snap["totals"]["skipped"] == 2 and snap["totals"]["dead_lettered"] == 0
        assert [(r["topic"], r["skipped"]) for r in snap["partitions"]] == [(topic, 2)]
    assert [int(v) for _, v, _ in read_topic(broker, out, 1)] == [1, 2, 3]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "skipped" in r.getMessage()]
    assert any(f"topic={topic!r}, partition=0, offset=1, key='k'): RuntimeError: cannot process 2" in w
               for w in warnings)
    assert any(f"topic={topic!r}, partition=0, offset=2, key='bad'): CodecError" in w for w in warnings)


@EMBEDDED_ONLY
def test_dead_letter(broker: Any, tmp_path: Path, wait_for: Any) -> None:
    """The failed message goes unchanged (key, value, headers) to the dead-letter topic,
    which the processor created, with goka.error.* headers."""
    topic, out, group, dlq = broker.name("input"), broker.name("out"), broker.name("dlq"), broker.name("dead")
    broker.create_topic(topic, 2)
    broker.create_topic(out, 2)
    emit_all(broker, topic, [("k", 1), ("k", 2), ("k", 3)], headers={"trace": b"t-1"})
    graph = counter(group, topic, out, lambda msg: msg == 2, on_error=goka.DeadLetter(dlq))
    p = goka.hash.goka("k", 2)
    with processor(broker, graph, tmp_path / "state") as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: proc.stats()["partitions"].get(p, {}).get("committed", {}).get(topic) == 3,
                 TIMEOUT, "every message committed")
        assert proc.get("k") == 2
        assert proc.stats()["partitions"][p]["dead_lettered"] == {topic: 1}
        assert scrape(proc)["goka_dead_lettered_messages"] == {(group, topic, str(q)): float(q == p) for q in (0, 1)}
    assert dlq in broker.brokers.topics() and len(broker.brokers.partitions(dlq)) == 2
    records = read_topic(broker, dlq, 2)
    assert len(records) == 1
    key, value, headers = records[0]
    assert (key, value) == ("k", b"2")
    assert headers == {"trace": b"t-1", "goka.error.group": group.encode(), "goka.error.topic": topic.encode(),
                       "goka.error.partition": str(p).encode(), "goka.error.offset": b"1",
                       "goka.error.class": b"builtins.RuntimeError", "goka.error.message": b"cannot process 2"}


@EMBEDDED_ONLY
def test_dead_letter_commit_waits_for_ack(broker: Any, tmp_path: Path, wait_for: Any) -> None:
    """While the dead-letter record is refused, the input is not committed past the message
    (the processor stops); after a restart it is dead-lettered and committed."""
    topic, group, dlq = broker.name("input"), broker.name("dlq"), broker.name("dead")
    broker.create_topic(topic, 1)
    broker.create_topic(dlq, 1)
    emit_all(broker, topic, [("k", 1), ("k", 2), ("k", 3)])

    def cb(ctx: goka.Context, msg: int) -> None:
        if msg == 2:
            raise RuntimeError("poison")

    graph = goka.define_group(group, goka.Input(topic, codec.Int64(), cb, on_error=goka.DeadLetter(dlq)))
    # the only records this stateless group produces are dead letters: refuse the first
    # (a permanent error; with the processor's gapless producer it is fatal)
    broker.brokers.push_request_errors(0, [KafkaError.TOPIC_AUTHORIZATION_FAILED])  # ApiKey 0: Produce
    with pytest.raises((goka.GokaError, KafkaException), match=dlq):
        processor(broker, graph, tmp_path / "state").run()
    assert committed(broker, group, topic, 1)[0] < 2  # never past the poison message
    assert read_topic(broker, dlq, 1) == []
    with processor(broker, graph, tmp_path / "state") as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: proc.stats()["partitions"].get(0, {}).get("committed", {}).get(topic) == 3,
                 TIMEOUT, "every message committed")
    assert [(k, v) for k, v, _ in read_topic(broker, dlq, 1)] == [("k", b"2")]


@EMBEDDED_ONLY
def test_retry(broker: Any, tmp_path: Path, wait_for: Any) -> None:
    """A callback that fails twice, then succeeds: its effects exactly once; the partition
    waits meanwhile, so the order within it is kept."""
    topic, out, group = broker.name("input"), broker.name("out"), broker.name("retry")
    broker.create_topic(topic, 1)
    broker.create_topic(out, 1)
    emit_all(broker, topic, [("a", 1), ("b", 2), ("a", 3), ("b", 4)])
    tries: dict[int, int] = {}
    calls: list[tuple[int, float]] = []

    def flaky(msg: int) -> bool:
        tries[msg] = tries.get(msg, 0) + 1
        calls.append((msg, time.monotonic()))
        return msg == 2 and tries[msg] <= 2

    graph = counter(group, topic, out, flaky, on_error=goka.Retry(3, backoff=0.2))
    with processor(broker, graph, tmp_path / "state") as proc:
        assert proc.wait_recovered(TIMEOUT)
        wait_for(lambda: proc.stats()["partitions"].get(0, {}).get("committed", {}).get(topic) == 4,
                 TIMEOUT, "every message committed")
        assert (proc.get("a"), proc.get("b")) == (2, 2)
        assert proc.stats()["partitions"][0]["skipped"] == {}
    assert tries == {1: 1, 2: 3, 3: 1, 4: 1}
    assert [m for m, _ in calls] == [1, 2, 2, 2, 3, 4]
    assert calls[2][1] - calls[1][1] >= 0.19 and calls[3][1] - calls[2][1] >= 0.19  # the backoff
    assert [(k, int(v)) for k, v, _ in read_topic(broker, out, 1)] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
