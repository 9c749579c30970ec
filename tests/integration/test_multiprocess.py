"""Processor processes killed, stopped and failing on real brokers.

Each processor runs in its own Python process (``mp_worker.py``, ``Processor.run()`` in its
main thread) against the ``broker`` fixture: an EmbeddedCluster held by this test process
(workers get its bootstrap string; topics are created here beforehand) or Tansu. The
workers report progress on stdout (``STATE ...`` and one ``MSG partition offset key value``
line per processed message), which the tests poll; an emitter thread in the test process
keeps a numbered stream going while workers are killed, stopped and restarted.
"""
from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

import goka
from goka import codec

WORKER = Path(__file__).with_name("mp_worker.py")
TIMEOUT = 45.0  # bound of every wait on a worker or the table
KEYS = [f"key-{i:02d}" for i in range(20)]

# Most tests run on the embedded cluster only; the Tansu broker (a separate process, slower
# group joins) covers a representative subset -- the tests without this mark.
EMBEDDED_ONLY = pytest.mark.parametrize("broker", ["embedded"], indirect=True)



def _load_worker_process() -> Any:
    spec = importlib.util.spec_from_file_location("worker_process", Path(__file__).with_name("worker_process.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker_process = _load_worker_process()


class Worker(worker_process.WorkerProcess):  # type: ignore[misc]
    """One processor process; ``start()`` again restarts it on the same state directory."""

    def __init__(self, name: str, broker: Any, group: str, topic: str, path: Path, mode: str, logs: Path) -> None:
        super().__init__(name, WORKER, [broker.bootstrap, group, topic, str(path), mode,
                                        "--consumer-config", json.dumps(broker.group_config)], logs)

    def processed(self, run: int = -1) -> list[tuple[int, int, str, int]]:
        """``(partition, offset, key, value)`` of every message the run's callback processed."""
        out = []
        for line in self.lines(run):
            if line.startswith("MSG "):
                _, p, o, key, value = line.split(" ")
                out.append((int(p), int(o), key, int(value)))
        return out

    def uncommitted(self, run: int = -1) -> int:
        """Messages processed after the run's last reported commit."""
        count = 0
        for line in self.lines(run):
            if line.startswith("COMMIT "):
                count = 0
            elif line.startswith("MSG "):
                count += 1
        return count

    def state(self, run: int = -1) -> tuple[str, set[int]]:
        """The last reported processor state and held partitions."""
        states = [line.split(" ") for line in self.lines(run) if line.startswith("STATE ")]
        if not states:
            return "", set()
        _, state, parts = states[-1]
        return state, {int(p) for p in parts.split(",") if p.isdigit()}

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        return int(super().wait_exit(timeout))


class StreamEmitter(threading.Thread):
    """Emits rounds of one message per key (``value_of(seq)``, ``seq`` numbering all messages)
    every ``interval`` seconds until stopped; records what the broker acknowledged."""

    def __init__(self, broker: Any, topic: str, partitions: int, value_of: Callable[[int], int],
                 interval: float = 0.05) -> None:
        super().__init__(name="stream-emitter", daemon=True)
        self.broker, self.topic, self.partitions = broker, topic, partitions
        self.value_of, self.interval = value_of, interval
        self.lock = threading.Lock()
        self.seqs: dict[str, list[int]] = {k: [] for k in KEYS}
        self.offsets: set[tuple[int, int]] = set()  # (partition, offset) acknowledged
        self.rounds = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            seq = 0
            with goka.Emitter(self.broker.brokers, self.topic, codec.Int64()) as emitter:
                while not self._halt.is_set():
                    batch = []
                    for key in KEYS:
                        batch.append((key, seq, emitter.emit(key, self.value_of(seq))))
                        seq += 1
                    for key, s, fut in batch:
                        offset = fut.result(30)
                        with self.lock:
                            self.seqs[key].append(s)
                            self.offsets.add((goka.hash.goka(key.encode(), self.partitions), offset))
                    self.rounds += 1
                    self._halt.wait(self.interval)  # pacing of the stream, not a wait for an event
        except BaseException as exc:
            self.error = exc

    @property
    def total(self) -> int:
        with self.lock:
            return len(self.offsets)

    def stop(self) -> None:
        self._halt.set()
        self.join(60)
        assert not self.is_alive(), "emitter thread did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """``make(name, broker, group, topic, mode)`` builds a worker (state in tmp_path/name);
    every process still running at the end is SIGKILLed."""
    made: list[Worker] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def make(name: str, broker: Any, group: str, topic: str, mode: str) -> Worker:
        worker = Worker(name, broker, group, topic, tmp_path / name, mode, logs)
        made.append(worker)
        return worker

    try:
        yield make
    finally:
        for worker in made:
            worker.kill()


def create_topics(broker: Any, topic: str, group: str, partitions: int) -> None:
    broker.create_topic(topic, partitions)
    broker.create_topic(goka.group_table(group), partitions, {"cleanup.policy": "compact"})


def committed(broker: Any, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        return {tp.partition: tp.offset for tp in
                consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)}
    finally:
        consumer.close()


def end_offsets(offsets: set[tuple[int, int]], partitions: int) -> dict[int, int]:
    return {p: max((o + 1 for q, o in offsets if q == p), default=0) for p in range(partitions)}


def table_view(broker: Any, group: str, value_codec: Any, path: Path) -> goka.View:
    return goka.View(broker.brokers, goka.group_table(group), value_codec, path=str(path),
                     consumer_config=broker.group_config)


def test_sigkill_and_restart_loses_no_update(broker, tmp_path, workers, wait_for):
    """Two processes share a 4-partition input; one is SIGKILLed mid-stream and restarted on
    its old state directory. Every sequence number emitted (acknowledged) for a key ends up
    in that key's table value: nothing acknowledged is lost, replays are harmless."""
    topic, group = broker.name("seq"), broker.name("seqset")
    create_topics(broker, topic, group, 4)
    a = workers("a", broker, group, topic, "seqset").start()
    b = workers("b", broker, group, topic, "seqset").start()

    def shared() -> bool:
        (sa, pa), (sb, pb) = a.state(), b.state()
        return a.alive() and b.alive() and sa == sb == "running" and pa and pb \
            and not pa & pb and pa | pb == {0, 1, 2, 3}

    wait_for(shared, TIMEOUT, "both workers to run, sharing the 4 partitions")
    emitter = StreamEmitter(broker, topic, 4, value_of=lambda seq: seq)
    emitter.start()
    try:
        wait_for(lambda: a.alive() and b.alive() and len(a.processed()) >= 100 and len(b.processed()) >= 100
                 and b.uncommitted() >= 5, TIMEOUT, "both workers to process 100 messages")
        b.proc.kill()  # SIGKILL mid-stream, with work processed after its last commit
        assert b.wait_exit() == -signal.SIGKILL
        killed_at = emitter.total
        b.start()  # same group, same state directory
        wait_for(lambda: a.alive() and b.alive() and b.state()[0] == "running" and len(b.processed()) >= 100,
                 TIMEOUT, "the restarted worker to process 100 messages")
        assert emitter.total > killed_at and emitter.is_alive()  # the stream went on throughout
    finally:
        emitter.stop()
    # the dead member holds a share until its session expires; then the two share again
    wait_for(shared, TIMEOUT, "the survivor and the restarted worker to share the 4 partitions")
    expected = {k: sorted(v) for k, v in emitter.seqs.items()}
    with table_view(broker, group, codec.Json(), tmp_path / "view") as view:
        assert view.wait_recovered(TIMEOUT)
        wait_for(lambda: a.alive() and b.alive() and all(view.get(k) == expected[k] for k in KEYS),
                 TIMEOUT, "every emitted sequence number in the table")
        assert dict(view.items()) == expected
    seen = {(p, o) for w in (a, b) for run in range(len(w.runs)) for p, o, _, _ in w.processed(run)}
    assert seen == emitter.offsets  # at least once, and nothing that was not emitted
    # the running workers commit everything (replays included), then stop cleanly on SIGTERM
    ends = end_offsets(emitter.offsets, 4)
    wait_for(lambda: a.alive() and b.alive() and committed(broker, group, topic, 4) == ends, TIMEOUT,
             "the group to commit every input offset", interval=0.2)
    a.signal(signal.SIGTERM)
    b.signal(signal.SIGTERM)
    assert (a.wait_exit(), b.wait_exit()) == (0, 0)
    assert committed(broker, group, topic, 4) == ends


def test_sigterm_commits_everything_processed(broker, tmp_path, workers, wait_for):
    """SIGTERM stops ``run()`` cleanly (exit code 0) after committing exactly what was
    processed; the restarted process continues from there and processes nothing twice."""
    topic, group = broker.name("count"), broker.name("sum")
    create_topics(broker, topic, group, 4)
    w = workers("w", broker, group, topic, "sum").start()
    wait_for(lambda: w.alive() and w.state() == ("running", {0, 1, 2, 3}), TIMEOUT, "the worker to run")
    emitter = StreamEmitter(broker, topic, 4, value_of=lambda seq: 1)
    emitter.start()
    try:
        wait_for(lambda: w.alive() and len(w.processed()) >= 200, TIMEOUT, "200 messages processed")
        w.signal(signal.SIGTERM)  # while the stream goes on
        assert w.wait_exit() == 0, w.stderr()
        assert w.lines()[-1] == "STATE stopped exited"
        rounds = emitter.rounds
        wait_for(lambda: emitter.is_alive() and emitter.rounds >= rounds + 5, TIMEOUT, "more input after the stop")
    finally:
        emitter.stop()
    first = [(p, o) for p, o, _, _ in w.processed()]
    assert len(first) == len(set(first))
    per_partition = Counter(p for p, _ in first)
    offsets = committed(broker, group, topic, 4)
    assert offsets == {p: per_partition[p] for p in range(4)}  # committed == processed, per partition
    assert set(first) == {(p, o) for p in range(4) for o in range(per_partition[p])}
    assert len(first) < emitter.total  # the restart has work left

    w.start()
    wait_for(lambda: w.alive() and emitter.offsets <= set(first) | {(p, o) for p, o, _, _ in w.processed()},
             TIMEOUT, "the restarted worker to process the rest")
    w.signal(signal.SIGTERM)
    assert w.wait_exit() == 0, w.stderr()
    second = [(p, o) for p, o, _, _ in w.processed()]
    assert not set(first) & set(second), "messages processed twice"
    assert len(second) == len(set(second)) and set(first) | set(second) == emitter.offsets
    assert committed(broker, group, topic, 4) == end_offsets(emitter.offsets, 4)
    with table_view(broker, group, codec.Int64(), tmp_path / "view") as view:
        assert view.wait_recovered(TIMEOUT)
        assert dict(view.items()) == {k: len(v) for k, v in emitter.seqs.items()}


@EMBEDDED_ONLY
def test_bad_input_stops_worker_with_codec_error(broker, tmp_path, workers):
    """An undecodable message makes ``run()`` raise ``goka.CodecError`` in the worker, which
    exits non-zero naming topic, partition and offset; the bad message is not committed and
    stops a restarted worker again at the same offset."""
    topic, group = broker.name("input"), broker.name("bad")
    create_topics(broker, topic, group, 2)
    bad_partition = goka.hash.goka(b"bad", 2)
    with goka.Emitter(broker.brokers, topic, codec.Int64()) as emitter:
        for f in [emitter.emit(k, 1) for k in KEYS]:
            f.result(10)
    with goka.Emitter(broker.brokers, topic, codec.String()) as emitter:
        bad_offset = emitter.emit_sync("bad", "not a number")
    with goka.Emitter(broker.brokers, topic, codec.Int64()) as emitter:
        for f in [emitter.emit(k, 1) for k in ["bad", *KEYS]]:
            f.result(10)
    assert bad_offset > 0

    w = workers("w", broker, group, topic, "sum")
    for run in range(2):
        w.start()
        assert w.wait_exit() == 2, w.stderr()
        errors = [line for line in w.stderr().splitlines() if line.startswith("CodecError: ")]
        assert len(errors) == 1, w.stderr()
        err = errors[0]
        assert f"topic={topic!r}" in err and f"partition={bad_partition}" in err and f"offset={bad_offset}" in err
        assert "key='bad'" in err and "Int64" in err
        processed = w.processed()
        bad_part = sorted(o for p, o, _, _ in processed if p == bad_partition)
        # first run: everything before the bad message, in order; the restart starts at it
        assert bad_part == (list(range(bad_offset)) if run == 0 else [])
        assert committed(broker, group, topic, 2)[bad_partition] == bad_offset
