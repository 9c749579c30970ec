"""Graceful hand-overs between members of one group under a running stream, with exact
counts (issue 11: "no drain on revocation" and "the standby reader kept writing a partition
that became active" survived every earlier test).

Exactness needs a broker that accepts the old owner's commit while the group rebalances,
as Apache Kafka does. The embedded cluster refuses it (REBALANCE_IN_PROGRESS: see DESIGN.md
§5), so the next owner replays what the old one processed since its last commit; these
tests run on Tansu. ``test_handover_replay_on_embedded_cluster`` measures the difference.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer

import goka
from goka import codec

TANSU = pytest.mark.parametrize("broker", ["tansu"], indirect=True)
EMBEDDED = pytest.mark.parametrize("broker", ["embedded"], indirect=True)
KEYS = [f"key-{i:02d}" for i in range(40)]


class Stream:
    """Emits ``total`` messages (value 1, keys round-robin) at about ``rate`` per second."""

    def __init__(self, broker: Any, topic: str, total: int, rate: float) -> None:
        self.broker, self.topic, self.total, self.rate = broker, topic, total, rate
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            with goka.Emitter(self.broker.brokers, self.topic, codec.Int64()) as emitter:
                started = time.monotonic()
                for i in range(self.total):
                    emitter.emit(KEYS[i % len(KEYS)], 1)
                    ahead = (i + 1) / self.rate - (time.monotonic() - started)
                    if ahead > 0.01:
                        time.sleep(ahead)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def start(self) -> Stream:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive() and self.error is None, self.error


class Completer:
    """Calls deferred-commit ``done`` callables ``delay`` seconds after they were handed in
    (so that a revocation always finds deferred commits outstanding)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.items: queue.Queue[tuple[float, Callable[..., None]] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, done: Callable[..., None]) -> None:
        self.items.put((time.monotonic() + self.delay, done))

    def _run(self) -> None:
        while (item := self.items.get()) is not None:
            due, done = item
            time.sleep(max(0.0, due - time.monotonic()))
            done()

    def close(self) -> None:
        self.items.put(None)
        self.thread.join(10)


def counting_group(group: str, topic: str, seen: Counter[tuple[int, int]], lock: threading.Lock,
                   completer: Completer | None = None) -> goka.GroupGraph:
    def count(ctx: goka.Context, msg: int) -> None:
        with lock:
            seen[(ctx.partition, ctx.offset)] += 1
        ctx.set_value((ctx.value() or 0) + msg)
        if completer is not None:
            completer.add(ctx.defer_commit())

    return goka.define_group(group, goka.Input(topic, codec.Int64(), count), goka.Persist(codec.Int64()))


def expected_counts(total: int) -> dict[str, int]:
    return {k: total // len(KEYS) + (i < total % len(KEYS)) for i, k in enumerate(KEYS)}


def read_table(broker: Any, group: str, path: str, keys: list[str]) -> dict[str, int]:
    with goka.View(broker.brokers, goka.group_table(group), codec.Int64(), path=path,
                   consumer_config=broker.group_config) as view:
        assert view.wait_recovered(60)
        return {k: view.get(k) for k in keys}


def handover(broker: Any, tmp_path: Any, wait_for: Any, *, total: int, defer: float | None
             ) -> tuple[Counter[tuple[int, int]], str, list[int]]:
    """p1 processes a running stream; p2 joins (nobody is killed); both run until the stream
    is processed, then stop. Returns how often each (partition, offset) was processed, the
    group and every partition p2 held at some point (under load the group may rebalance
    more than once, and a partition can move to p2 and back)."""
    topic, group = broker.name("handover"), broker.name("handover")
    broker.create_topic(topic, 4)
    seen: Counter[tuple[int, int]] = Counter()
    lock = threading.Lock()
    completer = Completer(defer) if defer is not None else None
    graph = counting_group(group, topic, seen, lock, completer)
    held: set[int] = set()  # every partition assigned to p2, over all its rebalances
    procs = [goka.Processor(broker.brokers, graph, path=str(tmp_path / "p1"),
                            consumer_config=broker.group_config),
             goka.Processor(broker.brokers, graph, path=str(tmp_path / "p2"),
                            consumer_config=broker.group_config,
                            on_rebalance=lambda assignment: held.update(assignment))]
    p1, p2 = procs
    try:
        p1.start()
        assert p1.wait_recovered(60)
        stream = Stream(broker, topic, total, rate=2500).start()
        wait_for(lambda: len(seen) >= total // 10, 30, "p1 to process part of the stream")
        p2.start()  # the group rebalances while the stream runs
        wait_for(lambda: p2.stats()["active"] and p1.stats()["active"], 60, "both members to hold partitions")
        stream.join()
        wait_for(lambda: len(seen) >= total, 60, "every message to be processed")
        assert set(p2.stats()["active"]) <= held
    finally:
        for proc in procs:
            proc.stop()
        if completer is not None:
            completer.close()
    return seen, group, sorted(held)


@TANSU
@pytest.mark.parametrize("defer", [None, 0.5], ids=["plain", "deferred-commits"])
def test_graceful_handover_processes_each_message_once(broker, tmp_path, wait_for, defer):
    """No (partition, offset) is processed twice and the table is exact. With deferred
    commits outstanding at the revocation (completed 0.5 s after each message), only the
    drain in the revocation keeps them from being replayed by the new owner: without it
    this test fails (measured: ~1,250 of 20,000 messages replayed)."""
    total = 12_000
    seen, group, _ = handover(broker, tmp_path, wait_for, total=total, defer=defer)
    replayed = {k: n for k, n in seen.items() if n > 1}
    assert len(seen) == total and not replayed, f"{sum(replayed.values()) - len(replayed)} replays"
    assert read_table(broker, group, str(tmp_path / "view"), KEYS) == expected_counts(total)


@EMBEDDED
def test_handover_replay_on_embedded_cluster(broker, tmp_path, wait_for, caplog):
    """The embedded cluster refuses commits while its group rebalances, so the new owner
    replays (documented in goka/cluster.py): every message is still processed, at least
    once. The partitions the old owner gets back resume where it finished (not from its
    refused commit): only partitions that moved are replayed."""
    total = 6_000
    seen, _, moved = handover(broker, tmp_path, wait_for, total=total, defer=None)
    assert len(seen) == total
    replays = sum(n - 1 for n in seen.values())
    print(f"embedded cluster hand-over: {replays} of {total} messages replayed, "
          f"partitions that moved: {moved}")
    assert {p for (p, _), n in seen.items() if n > 1} <= set(moved)


@EMBEDDED
def test_kept_partitions_resume_over_repeated_rebalances(broker, tmp_path, wait_for):
    """The partitions an instance keeps through two rebalances resume where it finished,
    although every commit is refused meanwhile (the commit of the resumed offsets too, as when
    the group rebalances again before it goes through). Without retrying that commit, the
    second revocation forgot the offsets of the kept partitions, which were then replayed
    from the last accepted commit (seen in CI: 3,694 of 6,000 messages processed twice)."""
    topic, group = broker.name("resume"), broker.name("resume")
    broker.create_topic(topic, 4)
    seen: Counter[tuple[int, int]] = Counter()
    graph = counting_group(group, topic, seen, threading.Lock())
    assignments: list[list[int]] = []
    p1 = goka.Processor(broker.brokers, graph, path=str(tmp_path / "p1"), consumer_config=broker.group_config,
                        on_rebalance=lambda assignment: assignments.append(sorted(assignment)))
    cluster = broker.brokers

    def emit(n: int) -> None:
        with goka.Emitter(broker.brokers, topic, codec.Int64()) as emitter:
            for i in range(n):
                emitter.emit(KEYS[i % len(KEYS)], 1)

    def committed() -> dict[int, int]:
        return {p: s["committed"].get(topic, -1) for p, s in p1.stats()["partitions"].items()}

    def ends() -> dict[int, int]:
        offsets: dict[int, int] = {}
        for (p, off) in seen:
            offsets[p] = max(offsets.get(p, -1), off + 1)
        return offsets

    intruder_stop = threading.Event()

    def intrude() -> None:  # a second member that only holds partitions
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                             "enable.auto.commit": False, **broker.group_config})
        consumer.subscribe([topic])
        while not intruder_stop.is_set():
            consumer.poll(0.1)
        consumer.close()

    intruder = threading.Thread(target=intrude, daemon=True)
    try:
        p1.start()
        assert p1.wait_recovered(60)
        emit(400)
        wait_for(lambda: len(seen) == 400, 30, "the first 400 messages to be processed")
        wait_for(lambda: committed() == ends(), 30, "their offsets to be committed")
        cluster.push_request_errors(8, [27] * 1000)  # OffsetCommit: REBALANCE_IN_PROGRESS
        emit(400)
        wait_for(lambda: len(seen) == 800, 30, "400 more messages to be processed")
        intruder.start()
        wait_for(lambda: len(assignments) == 2 and p1.stats()["state"] == "running", 60,
                 "the group to rebalance with a second member")
        kept = assignments[1]
        assert len(kept) == 2, assignments
        intruder_stop.set()
        intruder.join(30)
        wait_for(lambda: len(assignments) == 3 and p1.stats()["state"] == "running", 60,
                 "the group to rebalance once the second member left")
        assert assignments[2] == [0, 1, 2, 3]
        cluster.clear_request_errors(8)
        wait_for(lambda: {p: c for p, c in committed().items() if p in kept}
                 == {p: e for p, e in ends().items() if p in kept}, 30,
                 "the kept partitions' offsets to be committed")
    finally:
        intruder_stop.set()
        cluster.clear_request_errors(8)
        p1.stop()
    replayed = sorted((p, off) for (p, off), n in seen.items() if n > 1 and p in kept)
    assert not replayed, f"{len(replayed)} messages of kept partitions {kept} replayed"


@EMBEDDED
def test_standby_takeover_single_writer(broker, tmp_path, wait_for):
    """Hot standby: p2 follows p1's partitions; p1 stops (no kill) under a running stream and
    p2 takes them over. From then on no table reader applies records to p2's table
    partitions (a standby reader still writing a partition that became active applies p2's
    own changelog behind it: this test fails), their local table offsets never go
    backwards, and at the end ``Processor.get``, a view of the changelog and the
    changelog's last value per key agree."""
    topic, group = broker.name("standby"), broker.name("standby")
    broker.create_topic(topic, 4)
    seen: Counter[tuple[int, int]] = Counter()
    graph = counting_group(group, topic, seen, threading.Lock())
    table = goka.group_table(group)
    p1, p2 = (goka.Processor(broker.brokers, graph, path=str(tmp_path / f"p{i}"), hot_standby=True,
                             consumer_config=broker.group_config) for i in (1, 2))
    backwards: list[str] = []
    sampling = threading.Event()

    def sample() -> None:
        last: dict[str, int] = {}
        while not sampling.is_set():
            for name, entry in p2.stats()["tables"].items():
                offset = entry["offset"]
                if offset is not None and offset < last.get(name, -1):
                    backwards.append(f"{name}: {last[name]} -> {offset}")
                if offset is not None:
                    last[name] = offset
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        p1.start()
        assert p1.wait_recovered(60)
        p2.start()
        wait_for(lambda: len(p1.stats()["active"]) == 2 and len(p2.stats()["active"]) == 2
                 and len(p2.stats()["standby"]) == 2, 60, "partitions shared, p2 standby for the rest")
        sampler.start()
        active = {f"{table}/{p}" for p in p2.stats()["active"]}
        applied = {name: t["records"] for name, t in p2.stats()["tables"].items() if name in active}
        stream = Stream(broker, topic, 8_000, rate=2000).start()
        wait_for(lambda: len(seen) >= 2_000 and all(sum(pp["consumed"].values()) > 100 for pp in
                                                    p2.stats()["partitions"].values()),
                 30, "part of the stream processed by both")
        # the processor is the only writer of its active table partitions: no table reader
        # applies records (their own changelog) to them
        assert {name: t["records"] for name, t in p2.stats()["tables"].items() if name in active} == applied
        p1.stop()
        wait_for(lambda: p2.stats()["active"] == [0, 1, 2, 3], 60, "p2 to take every partition over")
        # from now on the processor is the only writer of its table partitions: no table
        # reader applies records to them (their own changelog) any more
        applied = {name: t["records"] for name, t in p2.stats()["tables"].items()}
        stream.join()
        wait_for(lambda: len(seen) >= 8_000 and all(pp["in_flight"] == 0
                                                     for pp in p2.stats()["partitions"].values()),
                 60, "the stream to be processed")
        sampling.set()
        sampler.join(10)
        assert not backwards, backwards[:5]
        assert {name: t["records"] for name, t in p2.stats()["tables"].items()} == applied
        values = {k: p2.get(k) for k in KEYS}
    finally:
        sampling.set()
        p1.stop()
        p2.stop()
    assert read_table(broker, group, str(tmp_path / "view"), KEYS) == values
    assert last_values(broker, table) == values
    assert sum(values.values()) == sum(seen.values())  # each processing counted once in the table


def last_values(broker: Any, table: str) -> dict[str, int]:
    """The last value per key of the changelog ``table``, read to its end."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": table + "-check",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(table, p, 0) for p in range(4)])
    values: dict[str, int] = {}
    at_end: set[int] = set()
    try:
        while len(at_end) < 4:
            msg = consumer.poll(10)
            assert msg is not None, "the changelog did not reach its end"
            if msg.error() is not None:
                at_end.add(msg.partition())
            else:
                values[msg.key().decode()] = int(msg.value())
    finally:
        consumer.close()
    return values
