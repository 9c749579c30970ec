"""Processors, views and emitters on the real Kafka protocol (ports of Go Goka's systemtest/)."""
from __future__ import annotations

import threading

import pytest
from confluent_kafka import Consumer, TopicPartition

import goka
from goka import codec
from goka.storage.memory import Memory

# Most tests run on the embedded cluster only; the Tansu broker (a separate process, slower
# group joins) covers a representative subset -- the tests without this mark.
EMBEDDED_ONLY = pytest.mark.parametrize("broker", ["embedded"], indirect=True)



def summing_group(name, topics, *, visitor=None):
    def add(ctx, msg):
        ctx.set_value((ctx.value() or 0) + msg)

    edges = [goka.Inputs(topics, codec.Int64(), add), goka.Persist(codec.Int64())]
    if visitor is not None:
        edges.append(goka.Visitor("visitor", visitor))
    return goka.define_group(name, *edges)


def processor(broker, graph, tmp_path, **kw):
    kw.setdefault("path", str(tmp_path / graph.group))
    return goka.Processor(broker.brokers, graph, consumer_config=broker.group_config, **kw)


def emit_all(broker, topic, items, value_codec=None):
    with goka.Emitter(broker.brokers, topic, value_codec or codec.Int64()) as emitter:
        futures = [emitter.emit(k, v) for k, v in items]
    return [f.result(10) for f in futures]


def committed(broker, group, topic, partitions):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        return {tp.partition: tp.offset for tp in
                consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)}
    finally:
        consumer.close()


def test_click_count_processor_and_view(broker, tmp_path, wait_for):
    topic, group = broker.name("clicks"), broker.name("counter")
    broker.create_topic(topic, 4)
    graph = summing_group(group, [topic])
    keys = [f"user-{i}" for i in range(20)]
    emit_all(broker, topic, [(k, 1) for k in keys for _ in range(5)])
    with processor(broker, graph, tmp_path) as proc:
        assert proc.wait_recovered(30)
        view = goka.View(broker.brokers, goka.group_table(group), codec.Int64(), path=str(tmp_path / "view"),
                         consumer_config=broker.group_config)
        with view:
            assert view.wait_recovered(30)
            wait_for(lambda: all(view.get(k) == 5 for k in keys), 30, "view to show every count")
            assert dict(view.items()) == {k: 5 for k in keys}
            assert list(view.items(prefix="user-1")) == [(k, 5) for k in sorted(keys) if k.startswith("user-1")]
            assert all(proc.get(k) == 5 for k in keys)
        stats = proc.stats()
        assert stats["state"] == "running" and sorted(stats["partitions"]) == [0, 1, 2, 3]
    assert proc.state == "stopped"


def test_message_commit_across_restarts(broker, tmp_path, wait_for):
    """TestMessageCommit: the sum is 10 after each of three runs -- nothing is reprocessed."""
    topic, group = broker.name("input"), broker.name("sum")
    broker.create_topic(topic, 4)
    emit_all(broker, topic, [("1", 1)] * 10)
    for _ in range(3):
        with processor(broker, summing_group(group, [topic]), tmp_path) as proc:
            assert proc.wait_recovered(30)
            wait_for(lambda: proc.get("1") == 10, 30, "the sum to reach 10")
        assert committed(broker, group, topic, 4)[goka.hash.goka("1", 4)] == 10


def test_recovery_from_changelog_with_fresh_storage(broker, tmp_path, wait_for):
    """A processor without local state recovers its table from the changelog topic."""
    topic, group = broker.name("input"), broker.name("sum")
    broker.create_topic(topic, 2)
    emit_all(broker, topic, [(f"k{i}", i) for i in range(50)])
    with processor(broker, summing_group(group, [topic]), tmp_path, storage=Memory()) as proc:
        assert proc.wait_recovered(30)
        wait_for(lambda: proc.get("k49") == 49, 30, "all messages processed")
    emit_all(broker, topic, [("k1", 100)])
    with processor(broker, summing_group(group, [topic]), tmp_path, storage=Memory()) as proc:
        assert proc.wait_recovered(30)
        assert proc.get("k7") == 7  # recovered before processing started
        wait_for(lambda: proc.get("k1") == 101, 30, "the new message to be added")


def changelog(broker, group, partitions):
    """Every record of the group table's changelog topic, read to its end: (key, value)."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group + "-reader",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(goka.group_table(group), p, 0) for p in range(partitions)])
    records, at_end = [], set()
    try:
        while len(at_end) < partitions:
            msg = consumer.poll(10)
            assert msg is not None, "the changelog did not reach its end"
            if msg.error() is not None:
                at_end.add(msg.partition())
            else:
                records.append((msg.key().decode(), int(msg.value())))
    finally:
        consumer.close()
    return records


@EMBEDDED_ONLY
@pytest.mark.parametrize("coalesce, producer_config", [
    (True, {}),
    (False, {"enable.idempotence": False}),  # not ordered: every record gets its report
], ids=["coalesced", "report-per-record"])
def test_changelog_modes(broker, tmp_path, wait_for, coalesce, producer_config):
    """Both acknowledgement modes and changelog coalescing end with the same table, the same
    commits and a changelog whose last value per key is the table's; coalescing writes
    fewer records when keys repeat within a batch."""
    topic, group = broker.name("input"), broker.name("modes")
    broker.create_topic(topic, 2)
    emit_all(broker, topic, [(f"k{i % 5}", 1) for i in range(50)])
    with processor(broker, summing_group(group, [topic]), tmp_path, coalesce_changelog=coalesce,
                   producer_config=producer_config) as proc:
        assert proc.wait_recovered(30)
        wait_for(lambda: all(proc.get(f"k{i}") == 10 for i in range(5)), 30, "every sum to reach 10")
    assert sum(committed(broker, group, topic, 2).values()) == 50
    records = changelog(broker, group, 2)
    assert dict(records) == {f"k{i}": 10 for i in range(5)}
    if coalesce:
        assert len(records) < 50
    else:
        assert len(records) == 50


def test_unmarked_messages(broker, tmp_path):
    """TestUnmarkedMessages: a failing message is not committed and is seen again after a restart."""
    topic, group = broker.name("input"), broker.name("unmarked")
    broker.create_topic(topic, 1)
    emit_all(broker, topic, [("key", 1), ("key", 2)])
    seen = []

    def make():
        def cb(ctx, msg):
            seen.append(msg)
            if msg == 2:
                ctx.fail(RuntimeError("fail on 2"))
        return goka.define_group(group, goka.Input(topic, codec.Int64(), cb))

    for expected in ([1, 2], [2]):
        seen.clear()
        proc = processor(broker, make(), tmp_path)
        with pytest.raises(goka.ProcessingError, match="fail on 2") as info:
            proc.run()
        assert info.value.offset == 1 and info.value.topic == topic
        assert seen == expected
        assert committed(broker, group, topic, 1)[0] == 1


@EMBEDDED_ONLY
def test_bad_input_stops_with_codec_error(broker, tmp_path):
    topic, group = broker.name("input"), broker.name("bad")
    broker.create_topic(topic, 1)
    emit_all(broker, topic, [("a", "1"), ("b", "not a number"), ("c", "3")], value_codec=codec.String())
    seen = []
    graph = goka.define_group(group, goka.Input(topic, codec.Int64(), lambda ctx, msg: seen.append(msg)))
    with pytest.raises(goka.CodecError) as info:
        processor(broker, graph, tmp_path).run()
    err = info.value
    assert (err.topic, err.partition, err.offset, err.key) == (topic, 0, 1, "b")
    assert "Int64" in str(err) and f"topic={topic!r}" in str(err) and "offset=1" in str(err)
    assert seen == [1]
    assert committed(broker, group, topic, 1)[0] == 1


@EMBEDDED_ONLY
def test_callback_fail_undeclared_emit(broker, tmp_path):
    """TestCallbackFail: an emit to an undeclared topic stops the processor with an error."""
    topic, group = broker.name("input"), broker.name("fail")
    broker.create_topic(topic, 4)
    emit_all(broker, topic, [(f"key-{i}", i) for i in range(200)])

    def cb(ctx, msg):
        if ctx.key == "key-95":
            ctx.emit("some-invalid-emit", ctx.key, msg)

    graph = goka.define_group(group, goka.Input(topic, codec.Int64(), cb))
    with pytest.raises(goka.ProcessingError, match="some-invalid-emit") as info:
        processor(broker, graph, tmp_path).run()
    assert isinstance(info.value.__cause__, goka.UndeclaredTopicError)
    assert info.value.key == "key-95"


@EMBEDDED_ONLY
def test_multi_topics(broker, tmp_path, wait_for):
    """TestMultiTopics: several inputs into one table; view and processor agree."""
    topics = [broker.name(f"in{i}") for i in range(3)]
    group = broker.name("multi")
    for t in topics:
        broker.create_topic(t, 2)
    total = 0
    for i in range(30):
        emit_all(broker, topics[i % 3], [("key", i)])
        total += i
    with processor(broker, summing_group(group, topics), tmp_path) as proc:
        assert proc.wait_recovered(30)
        view = goka.View(broker.brokers, goka.group_table(group), codec.Int64(), path=str(tmp_path / "v"),
                         consumer_config=broker.group_config)
        with view:
            assert view.wait_recovered(30)
            wait_for(lambda: proc.get("key") == total and view.get("key") == total, 30, "sums to agree")


def test_visit_all(broker, tmp_path, wait_for):
    """TestProcessorVisit: a visitor sets every value; a visitor failure stops the processor."""
    topic, group = broker.name("input"), broker.name("visit")
    broker.create_topic(topic, 2)
    emit_all(broker, topic, [("value1", 1), ("value2", 2)])
    graph = summing_group(group, [topic], visitor=lambda ctx, meta: ctx.set_value(meta))
    with processor(broker, graph, tmp_path) as proc:
        assert proc.wait_recovered(30)
        wait_for(lambda: proc.get("value2") == 2, 30, "input processed")
        assert proc.visit_all("visitor", 25) == 2
        assert proc.get("value1") == 25 and proc.get("value2") == 25
        with pytest.raises(goka.UndeclaredTopicError):
            proc.visit_all("nope", 1)
    proc = processor(broker, graph, tmp_path)
    proc.start()
    assert proc.wait_recovered(30)
    with pytest.raises(goka.ProcessingError):
        proc.visit_all("visitor", "asdf")  # Int64 cannot encode a str: the processor fails
    with pytest.raises(goka.ProcessingError):
        proc.stop()


def test_emitter_offsets_monotonic(broker):
    """TestEmitterOffset: acknowledged offsets of one partition never go backwards."""
    topic = broker.name("emit")
    broker.create_topic(topic, 1)
    offsets = emit_all(broker, topic, [(str(i), i) for i in range(5000)])
    assert offsets == sorted(offsets) and offsets[-1] == 4999
    emitter = goka.Emitter(broker.brokers, topic, codec.Int64())
    emitter.finish()
    with pytest.raises(goka.EmitterClosedError):
        emitter.emit("k", 1).result(5)


def test_join_and_lookup(broker, tmp_path, wait_for):
    users, clicks, devices = broker.name("users"), broker.name("clicks"), broker.name("devices")
    group = broker.name("enrich")
    broker.create_topic(users, 2)
    broker.create_topic(clicks, 2)
    broker.create_topic(devices, 3)  # lookups need not be co-partitioned
    emit_all(broker, users, [("u1", "Alice"), ("u2", "Bob")], value_codec=codec.String())
    emit_all(broker, devices, [("d1", "phone")], value_codec=codec.String())

    def cb(ctx, msg):
        ctx.set_value(f"{ctx.join(users)} on {ctx.lookup(devices, msg)}")

    graph = goka.define_group(group, goka.Input(clicks, codec.String(), cb), goka.Join(users, codec.String()),
                              goka.Lookup(devices, codec.String()), goka.Persist(codec.String()))
    emit_all(broker, clicks, [("u1", "d1"), ("u2", "d2")], value_codec=codec.String())
    with processor(broker, graph, tmp_path) as proc:
        assert proc.wait_recovered(30)
        wait_for(lambda: proc.get("u1") == "Alice on phone" and proc.get("u2") == "Bob on None", 30, "enriched")
        emit_all(broker, users, [("u1", "Alicia")], value_codec=codec.String())
        wait_for(lambda: _processed_after_join_update(broker, clicks, proc), 30, "join update seen")


def _processed_after_join_update(broker, clicks, proc):
    emit_all(broker, clicks, [("u1", "d1")], value_codec=codec.String())
    return proc.get("u1") == "Alicia on phone"


@EMBEDDED_ONLY
def test_stop_from_another_thread_commits(broker, tmp_path, wait_for):
    topic, group = broker.name("input"), broker.name("stopper")
    broker.create_topic(topic, 2)
    emit_all(broker, topic, [(f"k{i}", 1) for i in range(100)])
    proc = processor(broker, summing_group(group, [topic]), tmp_path)
    runner = threading.Thread(target=proc.run)
    runner.start()
    wait_for(lambda: proc.state == "running" and all(proc.get(f"k{i}") == 1 for i in range(100)
                                                     if goka.hash.goka(f"k{i}", 2) in proc.stats()["partitions"]),
             30, "all processed")
    proc.stop()
    runner.join(30)
    assert not runner.is_alive()
    offsets = committed(broker, group, topic, 2)
    assert sum(offsets.values()) == 100
    with pytest.raises(goka.ProcessorStoppedError):
        proc.run()


def test_missing_input_topic_and_copartitioning(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    cluster.create_topic("four", 4)
    cluster.create_topic("three", 3)
    noop = lambda ctx, msg: None  # noqa: E731
    with pytest.raises(goka.GokaError, match="group 'g1': Input topic 'absent' was not found"):
        goka.Processor(cluster, goka.define_group("g1", goka.Input("absent", codec.String(), noop)),
                       path=str(tmp_path))
    with pytest.raises(goka.CopartitionError, match="'four' has 4 partitions, 'three' has 3 partitions"):
        goka.Processor(cluster, goka.define_group("g2", goka.Input("four", codec.String(), noop),
                                                  goka.Join("three", codec.String())), path=str(tmp_path))
    # the group's own topics are created with the inputs' partition count
    goka.Processor(cluster, goka.define_group("g3", goka.Input("four", codec.String(), noop),
                                              goka.Loop(codec.String(), noop), goka.Persist(codec.String())),
                   path=str(tmp_path))
    assert cluster.partitions("g3-table") == [0, 1, 2, 3]
    assert cluster.partitions("g3-loop") == [0, 1, 2, 3]
    # a lookup may have any partition count
    goka.Processor(cluster, goka.define_group("g4", goka.Input("four", codec.String(), noop),
                                              goka.Lookup("three", codec.String())), path=str(tmp_path))


def test_loopback_delete_headers_and_outputs(broker, tmp_path, wait_for):
    """Loopback re-keys across partitions; delete writes a tombstone that views apply; emits
    carry headers and go to the partition Go Goka's hasher picks."""
    inp, out, group = broker.name("input"), broker.name("output"), broker.name("loopy")
    broker.create_topic(inp, 4)
    broker.create_topic(out, 3)

    def on_input(ctx, msg):
        if msg == "delete":
            ctx.delete()
            return
        ctx.set_value(msg)
        ctx.loopback(f"per-letter-{msg[0]}", ctx.key)
        ctx.emit(out, ctx.key, msg.upper(), headers={"origin": ctx.topic, "seen": ctx.headers.get("h", b"")})

    def on_loop(ctx, msg):
        ctx.set_value(",".join(sorted(set(filter(None, (ctx.value() or "").split(",") + [msg])))))

    graph = goka.define_group(group, goka.Input(inp, codec.String(), on_input), goka.Loop(codec.String(), on_loop),
                              goka.Output(out, codec.String()), goka.Persist(codec.String()))
    with goka.Emitter(broker.brokers, inp, codec.String()) as em:
        for key, value in [("k1", "apple"), ("k2", "avocado"), ("k3", "banana")]:
            em.emit_sync(key, value, headers={"h": b"x"})
    with processor(broker, graph, tmp_path) as proc:
        view = goka.View(broker.brokers, goka.group_table(group), codec.String(), path=str(tmp_path / "v"),
                         consumer_config=broker.group_config)
        with view:
            assert view.wait_recovered(30)
            wait_for(lambda: view.get("per-letter-a") == "k1,k2" and view.get("per-letter-b") == "k3", 30,
                     "loopback results")
            assert view.get("k1") == "apple"
            with goka.Emitter(broker.brokers, inp, codec.String()) as em:
                em.emit_sync("k1", "delete")
            wait_for(lambda: not view.has("k1"), 30, "the tombstone to delete k1")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": broker.name("check"),
                         "auto.offset.reset": "earliest", **broker.group_config})
    consumer.subscribe([out])
    seen = {}
    try:
        wait_for(lambda: _poll_into(consumer, seen) and len(seen) == 3, 30, "three output records")
    finally:
        consumer.close()
    for key, value in [("k1", "APPLE"), ("k2", "AVOCADO"), ("k3", "BANANA")]:
        msg = seen[key]
        assert msg.value() == value.encode() and msg.partition() == goka.hash.goka(key, 3)
        assert dict(msg.headers()) == {"origin": inp.encode(), "seen": b"x"}


def _poll_into(consumer, seen):
    msg = consumer.poll(0.5)
    if msg is not None and msg.error() is None:
        seen[msg.key().decode()] = msg
    return True


@EMBEDDED_ONLY
def test_graceful_shutdown_continue(broker, tmp_path, wait_for):
    """TestProcessorGracefulShutdownContinue: start/stop cycles while an emitter keeps
    writing; each stop is clean, a stopped processor cannot run again, and in the end every
    key's sum is at least what was emitted (at-least-once: nothing lost)."""
    topic, group = broker.name("input"), broker.name("cycles")
    broker.create_topic(topic, 4)
    emitted: dict[str, int] = {}
    stop = threading.Event()

    def emit_forever():
        with goka.Emitter(broker.brokers, topic, codec.Int64()) as em:
            i = 0
            while not stop.is_set():
                key = f"key-{i % 23}"
                em.emit_sync(key, i)
                emitted[key] = emitted.get(key, 0) + i
                i += 1

    emitter = threading.Thread(target=emit_forever)
    emitter.start()
    try:
        for cycle in range(2):  # a fresh start, then a restart on its state; the final run restarts again
            proc = processor(broker, summing_group(group, [topic]), tmp_path)
            proc.start()
            assert proc.wait_recovered(30)
            wait_for(lambda: sum(sum(p["consumed"].values()) for p in proc.stats()["partitions"].values()) > 0,
                     30, f"cycle {cycle} to process something")
            proc.stop()  # raises if the processor failed
            with pytest.raises(goka.ProcessorStoppedError):
                proc.start()
    finally:
        stop.set()
        emitter.join(30)
    final = dict(emitted)
    with processor(broker, summing_group(group, [topic]), tmp_path) as proc:
        assert proc.wait_recovered(30)
        wait_for(lambda: all((proc.get(k) or 0) >= v for k, v in final.items()), 30,
                 "every key's sum to cover what was emitted")
