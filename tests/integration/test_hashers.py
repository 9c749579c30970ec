"""Hashers on every reader: a table or stream partitioned by the Java client's murmur2
(Kafka Streams, Java producers) is read right by ``View(hasher=)``, ``Lookup(hasher=)``
and ``Processor(hasher=)`` (get and loopback routing), on an EmbeddedCluster."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import goka
from goka import codec
from goka.cluster import EmbeddedCluster
from goka.hash import goka as goka_hash
from goka.hash import murmur2

TIMEOUT = 30.0
GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}
KEYS = [f"user-{i}" for i in range(40)]
#: keys whose partition differs between the two partitioners (4 partitions)
MOVED = [k for k in KEYS if murmur2(k, 4) != goka_hash(k, 4)]


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def java_table(cluster: EmbeddedCluster, topic: str) -> dict[str, str]:
    """``topic`` written as a Java producer would: partitioned by murmur2."""
    cluster.create_topic(topic, 4, {"cleanup.policy": "compact"})
    values = {k: f"value-of-{k}" for k in KEYS}
    with goka.Emitter(cluster, topic, codec.String(), hasher=murmur2) as emitter:
        for k, v in values.items():
            emitter.emit(k, v)
    return values


def test_keys_move_between_partitioners() -> None:
    assert len(MOVED) >= 10  # the tests below would not see a wrong hasher otherwise


def test_view_reads_a_murmur2_table_with_its_hasher(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> None:
    values = java_table(embedded_cluster, "java-table")
    with goka.View(embedded_cluster, "java-table", codec.String(), path=str(tmp_path / "m"), hasher=murmur2) as view, \
            goka.View(embedded_cluster, "java-table", codec.String(), path=str(tmp_path / "g")) as fnv:
        assert view.wait_recovered(TIMEOUT) and fnv.wait_recovered(TIMEOUT)
        assert {k: view.get(k) for k in KEYS} == values
        assert all(view.has(k) for k in KEYS)
        # goka's default partitioner looks in the wrong partition for the moved keys
        assert [k for k in KEYS if fnv.get(k) is None] == MOVED
        assert dict(fnv.items()) == values  # the data is there: only the routing differs


def look_up(ctx: goka.Context, msg: str) -> None:
    ctx.set_value(ctx.lookup("java-users", ctx.key))


def test_lookup_reads_a_murmur2_table_with_its_hasher(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> None:
    values = java_table(embedded_cluster, "java-users")
    embedded_cluster.create_topic("orders", 4)
    group = goka.define_group("orders-lookup", goka.Input("orders", codec.String(), look_up),
                              goka.Lookup("java-users", codec.String(), hasher=murmur2), goka.Persist(codec.String()))
    proc = goka.Processor(embedded_cluster, group, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG)
    with proc, goka.View(embedded_cluster, "orders-lookup-table", codec.String(), path=str(tmp_path / "v")) as view:
        with goka.Emitter(embedded_cluster, "orders", codec.String()) as emitter:
            for k in KEYS:
                emitter.emit(k, "order")
        wait_until(lambda: view.recovered() and len(dict(view.items())) == len(KEYS), TIMEOUT, "every order")
        assert dict(view.items()) == values


def first_visit(ctx: goka.Context, msg: str) -> None:
    ctx.set_value(msg)
    ctx.loopback(f"echo-{ctx.key}", msg)


def echo(ctx: goka.Context, msg: str) -> None:
    ctx.set_value(f"echo {msg} in partition {ctx.partition}")


def test_processor_gets_and_loops_back_with_its_hasher(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> None:
    embedded_cluster.create_topic("java-visits", 4)
    group = goka.define_group("visits-m2", goka.Input("java-visits", codec.String(), first_visit),
                              goka.Loop(codec.String(), echo), goka.Persist(codec.String()))
    with goka.Emitter(embedded_cluster, "java-visits", codec.String(), hasher=murmur2) as emitter:
        for k in KEYS:
            emitter.emit(k, f"visit-{k}")
    proc = goka.Processor(embedded_cluster, group, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG,
                          hasher=murmur2)
    with proc:
        echoes = [f"echo-{k}" for k in KEYS]

        def all_echoed() -> bool:
            try:
                return all(proc.get(k) is not None for k in echoes)
            except goka.PartitionNotHeldError:
                return False

        wait_until(all_echoed, TIMEOUT, "every loopback to be processed")
        assert {k: proc.get(k) for k in KEYS} == {k: f"visit-{k}" for k in KEYS}
        # the loopback went to murmur2's partition of its key, where get() looks for it
        assert {k: proc.get(k) for k in echoes} == {
            k: f"echo visit-{k[5:]} in partition {murmur2(k, 4)}" for k in echoes}
