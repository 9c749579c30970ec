"""Several processors of one group in one process: hot standby, recover-ahead, partition sharing
(ports of Go Goka's TestHotStandby, TestRecoverAhead, TestRebalanceSharePartitions)."""
from __future__ import annotations

import pytest

import goka
from goka import codec

# Most tests run on the embedded cluster only; the Tansu broker (a separate process, slower
# group joins) covers a representative subset -- the tests without this mark.
EMBEDDED_ONLY = pytest.mark.parametrize("broker", ["embedded"], indirect=True)



def emit(broker, topic, items, value_codec):
    with goka.Emitter(broker.brokers, topic, value_codec) as emitter:
        for f in [emitter.emit(k, v) for k, v in items]:
            f.result(10)


def make_processor(broker, graph, tmp_path, name, **kw):
    return goka.Processor(broker.brokers, graph, path=str(tmp_path / name),
                          consumer_config=broker.group_config, **kw)


def test_hot_standby(broker, tmp_path, wait_for):
    inp, join, group = broker.name("input"), broker.name("join"), broker.name("standby")
    broker.create_topic(inp, 2)
    broker.create_topic(join, 2)
    assert goka.hash.goka("key1", 2) != goka.hash.goka("key2", 2)
    graph = goka.define_group(group, goka.Input(inp, codec.String(), lambda ctx, msg: ctx.set_value(msg)),
                              goka.Join(join, codec.String()), goka.Persist(codec.String()))
    p1 = make_processor(broker, graph, tmp_path, "p1")
    p2 = make_processor(broker, graph, tmp_path, "p2", hot_standby=True)
    with p1, p2:
        wait_for(lambda: len(p1.stats()["active"]) == 1 and len(p2.stats()["active"]) == 1, 60,
                 "both processors to hold one partition")
        emit(broker, inp, [("key1", "message1"), ("key2", "message2")], codec.String())
        emit(broker, join, [("key1", "joinval1"), ("key2", "joinval2")], codec.String())
        # p2 serves both keys: one from its active partition, one from its standby replica
        wait_for(lambda: p2.get("key1") == "message1" and p2.get("key2") == "message2", 30,
                 "standby table to follow the other processor's writes")
        stats = p2.stats()
        assert stats["standby"] == [1 - stats["active"][0]]
        join_tables = {k: v for k, v in stats["tables"].items() if k.startswith(join)}
        assert sorted(join_tables) == [f"{join}/0", f"{join}/1"]  # joins of both partitions kept
        wait_for(lambda: all(t["offset"] == 0 for t in p2.stats()["tables"].values()
                             if t["offset"] is not None) and
                 sum(t["records"] for k, t in p2.stats()["tables"].items() if k.startswith(join)) == 2,
                 30, "both join partitions applied")
        in_use = [k for k, t in p1.stats()["tables"].items() if t["state"] != "idle"]
        assert len(in_use) == 2  # p1: only its active table and join partition


def test_recover_ahead(broker, tmp_path, wait_for):
    inp, join, group = broker.name("input"), broker.name("join"), broker.name("ahead")
    table = goka.group_table(group)
    for topic in (inp, join, table):
        broker.create_topic(topic, 1)
    emit(broker, join, [("key1", "joinval1")], codec.String())
    emit(broker, table, [("key1", "tableval1")], codec.String())
    graph = goka.define_group(group, goka.Input(inp, codec.String(), lambda ctx, msg: None),
                              goka.Join(join, codec.String()), goka.Persist(codec.String()))
    p1 = make_processor(broker, graph, tmp_path, "p1", recover_ahead=True)
    p2 = make_processor(broker, graph, tmp_path, "p2", recover_ahead=True)
    with p1, p2:
        assert p1.wait_recovered(60) and p2.wait_recovered(60)
        for proc in (p1, p2):  # even the member without the partition recovered both tables
            tables = proc.stats()["tables"]
            assert tables[f"{table}/0"]["offset"] == 0 and tables[f"{join}/0"]["offset"] == 0
            assert tables[f"{table}/0"]["records"] == 1 and tables[f"{join}/0"]["records"] == 1
        wait_for(lambda: any(held_value(p, "key1") == "tableval1" for p in (p1, p2)), 30,
                 "the member holding the partition to serve the recovered value")


def held_value(proc, key):
    try:
        return proc.get(key)
    except goka.PartitionNotHeldError:
        return None


def test_rebalance_share_partitions(broker, tmp_path, wait_for):
    inp, group = broker.name("input"), broker.name("share")
    broker.create_topic(inp, 4)
    graph = goka.define_group(group, goka.Input(inp, codec.Int64(), lambda ctx, msg: ctx.set_value(msg)),
                              goka.Persist(codec.Int64()))
    p1 = make_processor(broker, graph, tmp_path, "p1", hot_standby=True, recover_ahead=True)
    p1.start()
    wait_for(lambda: p1.stats()["active"] == [0, 1, 2, 3] and p1.stats()["standby"] == [], 30, "p1 holds all")
    p2 = make_processor(broker, graph, tmp_path, "p2", hot_standby=True, recover_ahead=True)
    p2.start()
    try:
        wait_for(lambda: len(p1.stats()["active"]) == 2 and len(p2.stats()["active"]) == 2, 60, "partitions shared")
        wait_for(lambda: len(p1.stats()["standby"]) == 2 and len(p2.stats()["standby"]) == 2, 30,
                 "the other half kept as standby")
        p1.stop()
        wait_for(lambda: p2.stats()["active"] == [0, 1, 2, 3] and p2.stats()["standby"] == [], 60,
                 "p2 takes everything over")
    finally:
        p1.stop()
        p2.stop()
    assert p1.state == "stopped" and p2.state == "stopped"
