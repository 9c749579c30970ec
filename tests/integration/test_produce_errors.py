"""Records the producer or the broker refuses: emitter futures fail, a processor stops with a
``goka.ProduceError`` naming group, target topic, record key and the input message that
produced the record, and commits nothing past that message (issue 11, defect 7 and the
"delivery errors treated as success" mutations)."""
from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

import goka
from goka import codec
from goka._kafka.mock import ApiKey

# Pushed request errors and the producer's local checks: the embedded cluster only.
pytestmark = pytest.mark.parametrize("broker", ["embedded"], indirect=True)

MSG_SIZE_TOO_LARGE = 10  # Kafka error code (also librdkafka's local check against message.max.bytes)
NOT_ENOUGH_REPLICAS = 19  # retriable: fails a delivery only when retries are off
BIG = "x" * 1_200_000  # larger than librdkafka's default message.max.bytes (1,000,000)

ORDERED: dict[str, object] = {}  # goka's default: idempotent, gapless, one report per partition
REPORT_EACH = {"enable.idempotence": False, "message.send.max.retries": 0}  # one report per record


def committed(cluster: Any, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": cluster.brokers, "group.id": group})
    try:
        return {tp.partition: tp.offset for tp in
                consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)}
    finally:
        consumer.close()


def run_until_failure(proc: goka.Processor) -> BaseException:
    """Run ``proc`` until it fails (bounded by the test timeout); return its error."""
    with pytest.raises(goka.ProcessingError) as info:
        proc.run()
    return info.value


def failing_group(group: str, inp: str, out: str, kind: str) -> goka.GroupGraph:
    """Every message writes its value to ``kind``: the table, the output topic or the loop
    (the value "big" as :data:`BIG`)."""
    def cb(ctx: goka.Context, msg: str) -> None:
        if msg == "big":
            msg = BIG
        if kind == "changelog":
            ctx.set_value(msg)
        elif kind == "emit":
            ctx.emit(out, ctx.key, msg)
        elif kind == "emit-headers":
            ctx.emit(out, ctx.key, msg, headers={"h": b"1"})
        else:
            ctx.loopback(ctx.key, msg)

    return goka.define_group(group, goka.Input(inp, codec.String(), cb), goka.Persist(codec.String()),
                             goka.Output(out, codec.String()), goka.Loop(codec.String(), lambda ctx, msg: None))


@pytest.mark.parametrize("producer_config", [ORDERED, REPORT_EACH], ids=["ordered", "report-each"])
@pytest.mark.parametrize("position", ["middle", "last"])
@pytest.mark.parametrize("kind", ["changelog", "emit", "emit-headers", "loopback"])
def test_oversized_record_names_topic_key_and_input_offset(broker, tmp_path, kind, position,
                                                           producer_config):
    """Defect 7: a value larger than ``message.max.bytes`` (refused by the producer itself, in
    a run of records, alone at the end of a batch, or with headers) stops the processor with
    a ProduceError naming group, target topic, key and input offset; nothing at or after
    that input offset is committed."""
    cluster = broker.brokers
    inp, out, group = broker.name("in"), broker.name("out"), broker.name("big")
    cluster.create_topic(inp, 1)
    cluster.create_topic(out, 1)
    values = ["small"] * 3 + ["big"] + (["small"] * 2 if position == "middle" else [])
    with goka.Emitter(cluster, inp, codec.String()) as emitter:
        for i, value in enumerate(values):
            emitter.emit("big" if value == "big" else f"k{i}", value)
    proc = goka.Processor(cluster, failing_group(group, inp, out, kind), path=str(tmp_path / "p"),
                          producer_config=producer_config, consumer_config=broker.group_config)
    err = run_until_failure(proc)
    target = {"changelog": goka.group_table(group), "loopback": goka.group_loop(group)}.get(kind, out)
    assert isinstance(err, goka.ProduceError), repr(err)
    assert (err.group, err.topic, err.partition, err.offset, err.key) == (group, inp, 0, 3, "big")
    assert (err.produce_topic, err.produce_partition, err.code) == (target, 0, MSG_SIZE_TOO_LARGE)
    assert f"group={group!r}" in str(err) and f"topic={inp!r}" in str(err) and "offset=3" in str(err)
    assert target in str(err) and "key='big'" in str(err) and "too large" in str(err)
    assert committed(cluster, group, inp, 1)[0] <= 3


@pytest.mark.parametrize("producer_config, code", [
    (ORDERED, MSG_SIZE_TOO_LARGE),  # idempotent producer: a refused batch is a fatal gap
    (REPORT_EACH, NOT_ENOUGH_REPLICAS),  # retries off: a retriable error fails the delivery
], ids=["ordered", "report-each"])
@pytest.mark.parametrize("kind", ["changelog", "emit"])
def test_refused_delivery_stops_processor_without_commit(broker, tmp_path, kind, producer_config, code):
    """A delivery the broker refuses (pushed Produce errors) stops the processor with a
    ProduceError; no input offset is committed. (Treating a failed delivery report as a
    success in ``BatchAck.ack`` commits all five messages: this test fails.)"""
    cluster = broker.brokers
    inp, out, group = broker.name("in"), broker.name("out"), broker.name("refused")
    cluster.create_topic(inp, 1)
    cluster.create_topic(out, 1)
    with goka.Emitter(cluster, inp, codec.String()) as emitter:
        for f in [emitter.emit(f"k{i}", "v") for i in range(5)]:
            f.result(10)
    graph = failing_group(group, inp, out, kind)
    cluster.push_request_errors(ApiKey.PRODUCE, [code] * 20)
    proc = goka.Processor(cluster, graph, path=str(tmp_path / "p"), producer_config=producer_config,
                          consumer_config=broker.group_config)
    err = run_until_failure(proc)
    target = goka.group_table(group) if kind == "changelog" else out
    assert isinstance(err, goka.ProduceError), repr(err)
    assert err.produce_topic == target and err.group == group and err.code == code
    assert err.topic == inp and err.partition == 0 and err.offset in range(5)
    assert err.key == f"k{err.offset}"
    assert committed(cluster, group, inp, 1)[0] < 0  # nothing committed


def test_emitter_future_fails_on_refused_delivery(broker):
    """A failed delivery report fails the emit's future (a delivery error treated as a
    success would resolve it with an offset: this test fails)."""
    cluster = broker.brokers
    topic = broker.name("emit")
    cluster.create_topic(topic, 1)
    with goka.Emitter(cluster, topic, codec.String(), producer_config={"retries": 0}) as emitter:
        assert emitter.emit("ok", "v").result(10) == 0
        cluster.push_request_errors(ApiKey.PRODUCE, [NOT_ENOUGH_REPLICAS])
        failed = emitter.emit("refused", "v")
        with pytest.raises(Exception, match="refused.*Not enough in-sync replicas|Not enough in-sync.*") as info:
            failed.result(10)
        assert topic in str(info.value)
        assert emitter.emit("after", "v").result(10) == 1  # the emitter goes on
