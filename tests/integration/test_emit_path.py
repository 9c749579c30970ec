"""``goka._core.emit.EmitPath`` (issue 14, a compiled emit path), both twins on the embedded
cluster: the same emits give the same records (partition, key, value, headers, timestamp),
the same future results and the same errors; plus ``Emitter.emit(timestamp=...)``."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, Consumer, TopicPartition

import goka
from goka import codec
from goka._kafka.clients import producer
from goka._kafka.emitting import _emit_functions, _refusal, emit_path
from goka.runtime.emitter import EmitFuture, _Abort
from tests.conftest import import_twin, twin_fixture

emit = twin_fixture("emit")

UTC = timezone.utc
SEEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))


def make(twin: ModuleType, cluster: goka.EmbeddedCluster, topic: str, the_codec: Any,
         hasher: Any = goka.hash.goka, default_headers: dict[str, Any] | None = None,
         partitions: int = 4, **overrides: Any) -> Any:
    p = producer(cluster.brokers, client_id="emit-path-test", overrides=overrides)
    future = type("EmitFuture", (EmitFuture,), {"_abort": _Abort()})
    functions = _emit_functions() if twin.__name__.endswith("_c") else None
    if twin.__name__.endswith("_c"):
        assert functions is not None, "the compiled twin must find librdkafka's entry points here"
    path = twin.EmitPath(p, topic, the_codec, hasher, partitions, default_headers or {}, future, functions)
    path.refused = _refusal(topic)  # as goka._kafka.emitting.emit_path sets it
    return path


def read(cluster: goka.EmbeddedCluster, topic: str, partitions: int, count: int) -> list[tuple[Any, ...]]:
    c = Consumer({"bootstrap.servers": cluster.brokers, "group.id": "emit-reader", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                assert m.error() is None, m.error()
                got.append((m.partition(), m.offset(), m.key(), m.value(), m.headers(), m.timestamp()))
        assert len(got) == count
        return sorted(got)
    finally:
        c.close()


def emit_all(path: Any) -> list[Any]:
    """A spread of records: key and value kinds, tombstones, headers, timestamps."""
    futures = [path.emit(f"user-{i % 37}", f"click {i}") for i in range(600)]  # inline polls every 256
    futures += [
        path.emit(b"bytes-key", "v"),
        path.emit(bytearray(b"ba"), "v"),
        path.emit(memoryview(b"mv"), "v"),
        path.emit("", "empty key"),
        path.emit(b"", None),  # a tombstone with an empty key
        path.emit("tomb", None),
        path.emit("ünï-😀", "ünï-😀 value"),
        path.emit("lone-\udcff", "surrogate key"),  # kept as its byte (surrogateescape)
        path.emit("h1", "v", {"a": b"1", "b": "two"}),
        path.emit("h2", "v", {"d": b"override"}),
        path.emit("h3", None, {}),
        path.emit("t1", "v", None, 1_700_000_000_123),
        path.emit("t2", "v", {"x": b"y"}, SEEN),
        path.emit("t3", None, None, datetime(2001, 1, 1, tzinfo=UTC)),
    ]
    return futures


def test_twins_write_the_same_records(embedded_cluster: goka.EmbeddedCluster) -> None:
    """Per twin a topic, the same emits: the same records and the same offsets."""
    results = {}
    start_ms = int(time.time() * 1000)
    for kind in ("py", "c"):
        twin = import_twin("emit", kind)
        topic = f"emit-{kind}-" + uuid.uuid4().hex[:6]
        embedded_cluster.create_topic(topic, 4)
        path = make(twin, embedded_cluster, topic, codec.String(), default_headers={"d": b"default"})
        futures = emit_all(path)
        assert path.producer.flush(30) == 0
        offsets = [f.result(0) for f in futures]
        assert path.emitted == len(futures)
        path.release()
        records = read(embedded_cluster, topic, 4, len(futures))
        results[kind] = (offsets, records)
    end_ms = int(time.time() * 1000)
    (py_offsets, py_records), (c_offsets, c_records) = results["py"], results["c"]
    assert c_offsets == py_offsets
    # producer-set timestamps differ between the runs: compare their type and range only
    def fixed(records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out = []
        for part, offset, key, value, headers, (ts_type, ts) in records:
            assert ts_type == TIMESTAMP_CREATE_TIME
            if ts >= start_ms:
                assert ts <= end_ms
                ts = "now"
            out.append((part, offset, key, value, headers, ts))
        return out

    assert fixed(c_records) == fixed(py_records)
    by_key = {r[2]: r for r in py_records}
    assert by_key[b"user-1"][0] == goka.hash.goka(b"user-1", 4)
    assert by_key[b"ba"][3] == b"v" and by_key[b"mv"][3] == b"v"
    assert by_key[b""][3] is None and by_key[b"tomb"][3] is None
    assert by_key["ünï-😀".encode()][3] == "ünï-😀 value".encode()
    assert by_key[b"lone-\xff"][3] == b"surrogate key"
    assert by_key[b"h1"][4] == [("d", b"default"), ("a", b"1"), ("b", b"two")]
    assert by_key[b"h2"][4] == [("d", b"override")]
    assert by_key[b"user-1"][4] == [("d", b"default")]
    assert by_key[b"t1"][5] == (TIMESTAMP_CREATE_TIME, 1_700_000_000_123)
    assert by_key[b"t2"][5][1] == int(SEEN.timestamp() * 1000) == 1_714_972_089_123
    assert by_key[b"t3"][5][1] == 978_307_200_000


def test_twins_agree_on_other_codecs_and_hashers(embedded_cluster: goka.EmbeddedCluster) -> None:
    """``codec.Bytes`` (inlined for ``bytes``; ``bytearray`` through the codec), ``codec.Int64``
    (through the codec) and hashers other than the default (called, not inlined)."""
    results = {}
    for kind in ("py", "c"):
        twin = import_twin("emit", kind)
        got = []
        for the_codec, hasher, values in [
            (codec.Bytes(), goka.hash.murmur2, [b"raw", bytearray(b"ba"), memoryview(b"mv"), b"", None]),
            (codec.Int64(), goka.hash.crc32, [0, -7, 1 << 62, None]),
            (codec.String(), lambda key, n: len(key) % n, ["a", "bb", "ccc", None]),
        ]:
            topic = f"emit-{kind}-" + uuid.uuid4().hex[:6]
            embedded_cluster.create_topic(topic, 3)
            path = make(twin, embedded_cluster, topic, the_codec, hasher=hasher, partitions=3)
            futures = [path.emit(f"key-{i}-{j}" + "x" * i, v) for i in range(40) for j, v in enumerate(values)]
            assert path.producer.flush(30) == 0
            got.append(([f.result(0) for f in futures],
                        [r[:5] for r in read(embedded_cluster, topic, 3, len(futures))]))
            path.release()
        results[kind] = got
    assert results["c"] == results["py"]
    records = results["py"][0][1]
    assert {r[3] for r in records} == {b"raw", b"ba", b"mv", b"", None}
    assert all(r[0] == goka.hash.murmur2(r[2], 3) for r in records)
    assert {r[0] for r in results["py"][2][1]} == {0, 1, 2}


def outcome(call: Any) -> tuple[str, str]:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the point is to compare them
        return type(exc).__name__, str(exc)
    return "ok", ""


def bad_hasher_str(key: bytes, n: int) -> Any:
    return "1"


def bad_hasher_range(key: bytes, n: int) -> int:
    return 7


def test_twins_raise_the_same_errors(embedded_cluster: goka.EmbeddedCluster) -> None:
    """Wrong key types, codec failures, bad timestamps, an oversized record, odd hasher
    results, a finished path: the same exception, the same message, nothing queued."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for kind in ("py", "c"):
        twin = import_twin("emit", kind)
        topic = "emit-err-" + uuid.uuid4().hex[:6]  # the same name length for both twins
        embedded_cluster.create_topic(topic, 4)
        s = make(twin, embedded_cluster, topic, codec.String())
        i = make(twin, embedded_cluster, topic, codec.Int64())
        b = make(twin, embedded_cluster, topic, codec.Bytes())
        odd = make(twin, embedded_cluster, topic, codec.String(), hasher=bad_hasher_str)
        far = make(twin, embedded_cluster, topic, codec.String(), hasher=bad_hasher_range)
        # librdkafka refuses partition 7 at once when it knows the topic's partitions, later
        # (in the delivery report) otherwise: let both twins' producers know them
        far.producer.list_topics(topic, timeout=10)
        calls = [
            lambda: s.emit(5, "v"), lambda: s.emit(None, "v"), lambda: s.emit(True, "v"),
            lambda: s.emit(1.5, "v"),
            lambda: s.emit("k", 5), lambda: s.emit("k", b"bytes"), lambda: s.emit("k", "\udcff"),
            lambda: i.emit("k", "x"), lambda: i.emit("k", 1 << 64), lambda: i.emit("k", True),
            lambda: b.emit("k", "text"),
            lambda: s.emit("k", "v", None, True), lambda: s.emit("k", "v", None, 1.5),
            lambda: s.emit("k", "v", None, 0), lambda: s.emit("k", "v", None, -5),
            lambda: s.emit("k", "v", None, datetime(2020, 1, 1)),
            lambda: s.emit("k", "v", None, datetime(1960, 1, 1, tzinfo=UTC)),
            lambda: s.emit("big", "x" * 1_200_000),  # larger than message.max.bytes
            lambda: s.emit("big", "x" * 1_200_000, {"h": b"1"}),
            lambda: b.emit("big", bytearray(1_200_000)),
            lambda: s.emit("k", "v", {"h": 5}),  # a header value confluent-kafka refuses
            lambda: odd.emit("k", "v"), lambda: far.emit("k", "v"),
        ]
        got = [outcome(c) for c in calls]
        for path in (s, i, b, odd, far):
            assert path.producer.flush(10) == 0
            assert path.emitted == 0  # nothing was queued
        s.release()
        got.append(outcome(lambda: s.emit("k", "v")))
        seen[kind] = [(name, text.replace(topic, "TOPIC")) for name, text in got]
    assert seen["c"] == seen["py"]
    names = [name for name, _ in seen["py"]]
    assert names[:4] == ["TypeError"] * 4 and names[4:11] == ["CodecError"] * 7
    assert names[11:13] == ["TypeError"] * 2 and names[13:17] == ["ValueError"] * 4
    assert names[17:20] == ["ProduceError"] * 3 and "too large" in seen["py"][17][1]
    assert "MSG_SIZE_TOO_LARGE" in seen["py"][17][1] and "partition" in seen["py"][17][1]
    assert names[-2] == "ProduceError" and "Unknown partition" in seen["py"][-2][1]
    assert names[-1] == "EmitterClosedError"
    assert "TOPIC" in seen["py"][4][1] and "key='k'" in seen["py"][4][1]  # codec errors name topic and key


def test_queue_full_waits_instead_of_failing(emit: ModuleType, embedded_cluster: goka.EmbeddedCluster) -> None:
    """A full local queue makes emit poll until there is room: every record gets through."""
    topic = "emit-full-" + uuid.uuid4().hex[:6]
    embedded_cluster.create_topic(topic, 1)
    path = make(emit, embedded_cluster, topic, codec.String(), partitions=1,
                **{"queue.buffering.max.messages": 10, "linger.ms": 20})
    futures = [path.emit(f"k{i}", f"v{i}") for i in range(300)]
    assert path.producer.flush(30) == 0
    assert [f.result(0) for f in futures] == list(range(300))
    path.release()
    assert [r[2] for r in read(embedded_cluster, topic, 1, 300)] == [b"k%d" % i for i in range(300)]


def test_future_waited_on_before_delivery(emit: ModuleType, embedded_cluster: goka.EmbeddedCluster) -> None:
    """A future someone waits on (condition created) before its report is resolved too;
    done-callbacks run."""
    topic = "emit-wait-" + uuid.uuid4().hex[:6]
    embedded_cluster.create_topic(topic, 4)
    path = make(emit, embedded_cluster, topic, codec.String(), **{"linger.ms": 200})
    fut = path.emit("k", "v")
    seen: list[int] = []
    fut.add_done_callback(lambda f: seen.append(f.result()))
    assert not fut.done()
    while path.producer.poll(0.1) == 0 and not fut.done():
        pass
    assert fut.result(10) == 0 and seen == [0]
    path.release()


def test_refused_delivery_fails_the_future_alike(embedded_cluster: goka.EmbeddedCluster) -> None:
    from goka._kafka.mock import ApiKey

    messages = {}
    for kind in ("py", "c"):
        twin = import_twin("emit", kind)
        topic = "emit-ref-" + uuid.uuid4().hex[:6]
        embedded_cluster.create_topic(topic, 1)
        path = make(twin, embedded_cluster, topic, codec.String(), partitions=1, retries=0)
        ok = path.emit("ok", "v")
        assert path.producer.flush(10) == 0 and ok.result(0) == 0
        embedded_cluster.push_request_errors(ApiKey.PRODUCE, [19])  # NOT_ENOUGH_REPLICAS
        failed = path.emit("refused", "v")
        assert path.producer.flush(10) == 0
        exc = failed.exception(0)
        assert isinstance(exc, RuntimeError)
        messages[kind] = str(exc).replace(topic, "TOPIC")
        path.release()
    assert messages["c"] == messages["py"]
    assert "TOPIC" in messages["py"] and "refused" in messages["py"]


@pytest.mark.c_extension
def test_fallback_to_the_pure_twin(embedded_cluster: goka.EmbeddedCluster, monkeypatch: Any) -> None:
    import goka._kafka.emitting as emitting

    import_twin("emit", "c")
    p = producer(embedded_cluster.brokers, client_id="emit-fallback")
    args = (p, "t", codec.String(), goka.hash.goka, 4, {}, EmitFuture)
    monkeypatch.setattr(emitting, "_emit_functions", lambda: None)
    assert type(emit_path(*args)).__module__ == "goka._core._emit_py"


@pytest.mark.c_extension
def test_compiled_twin_refuses_what_it_cannot_drive() -> None:
    c = import_twin("emit", "c")
    with pytest.raises(ValueError, match="entry points"):
        c.EmitPath(object(), "t", codec.String(), goka.hash.goka, 4, {}, EmitFuture, None)
    functions = _emit_functions()
    assert functions is not None
    from confluent_kafka import Consumer as C

    consumer = C({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        with pytest.raises(ValueError, match="not a confluent-kafka Producer"):
            c.EmitPath(consumer, "t", codec.String(), goka.hash.goka, 4, {}, EmitFuture, functions)
    finally:
        consumer.close()


# -- the public surface: Emitter.emit(timestamp=...) ---------------------------------------

def test_emitter_timestamps(embedded_cluster: goka.EmbeddedCluster) -> None:
    cluster = embedded_cluster
    cluster.create_topic("ts", 2)
    with goka.Emitter(cluster, "ts", codec.Int64()) as emitter:
        emitter.emit("a", 1, timestamp=1_600_000_000_000)
        emitter.emit_sync("b", 2, timestamp=datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
        emitter.emit("c", 3)
        with pytest.raises(ValueError, match="aware datetime"):
            emitter.emit("d", 4, timestamp=datetime(2021, 1, 1))
        with pytest.raises(TypeError, match="timestamp must be int"):
            emitter.emit("d", 4, timestamp="2021-01-01")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="after the epoch"):
            emitter.emit_sync("d", 4, timestamp=-1)
    stamps = {key: ts for _, _, key, _, _, (_, ts) in read(cluster, "ts", 2, 3)}
    assert stamps[b"a"] == 1_600_000_000_000 and stamps[b"b"] == 1_614_834_367_890
    assert abs(stamps[b"c"] - time.time() * 1000) < 60_000


def test_emitter_shared_by_threads(embedded_cluster: goka.EmbeddedCluster) -> None:
    """Four threads emit through one emitter (inline polls, the background poller and
    queued reports interleave): every future resolves, offsets are unique per partition."""
    import threading

    cluster = embedded_cluster
    cluster.create_topic("shared", 4)
    per_thread = 3000
    futures: list[list[Any]] = [[] for _ in range(4)]
    with goka.Emitter(cluster, "shared", codec.String()) as emitter:
        def run(n: int) -> None:
            futures[n] = [emitter.emit(f"t{n}-{i}", "v") for i in range(per_thread)]

        threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    placed = [(goka.hash.goka(f"t{n}-{i}", 4), f.result(0)) for n in range(4) for i, f in enumerate(futures[n])]
    assert len(placed) == 4 * per_thread == len(set(placed))
    for p in range(4):
        offsets = sorted(o for part, o in placed if part == p)
        assert offsets == list(range(len(offsets)))


def test_emitter_refusing_a_record_raises_produce_error(embedded_cluster: goka.EmbeddedCluster) -> None:
    """A record the producer refuses at once is a ``goka.ProduceError`` naming topic,
    partition, key and code (confluent-kafka's bare ``KafkaException`` before); nothing is
    queued and the emitter goes on."""
    topic = f"refuse-{uuid.uuid4().hex[:8]}"
    embedded_cluster.create_topic(topic, 2)
    with goka.Emitter(embedded_cluster, topic, codec.String()) as emitter:
        with pytest.raises(goka.ProduceError) as info:
            emitter.emit("big-key", "x" * 1_200_000)
        err = info.value
        assert (err.produce_topic, err.key, err.code) == (topic, "big-key", 10)  # MSG_SIZE_TOO_LARGE
        assert err.produce_partition == goka.hash.goka(b"big-key", 2)
        assert topic in str(err) and "MSG_SIZE_TOO_LARGE" in str(err)
        assert emitter.emit_sync("small", "v", timeout=10) >= 0
