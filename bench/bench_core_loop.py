"""Core loop benchmark: the click-count group through both dispatch twins.

Plain script, not a test:  ``python bench/bench_core_loop.py [--messages N] ...``

The group is the README's click counter: ``Input("user-clicks", String, count)`` with
``count`` doing ``ctx.set_value((ctx.value() or 0) + 1)`` and ``Persist(Int64)``.
Messages are prepared in memory as batches of ``--keys`` messages (every key once per
batch, in a shuffled order), ``--messages`` in all. Variants:

- ``dispatcher``: ``Dispatcher.process`` per message with a dict-backed table (``get``/
  ``set`` are the dict's own methods) and a null sink. Run on the compiled twin
  (``c``), the pure twin (``py``) and ``inline``: the same work hand-written in one
  Python function without goka (no dispatcher, no callback, no codec objects), the
  yardstick of "as fast as plain Python". Then again with trivial subclasses of the
  codecs, which the compiled twin does not inline;
- ``processor``: ``PartitionProcessor`` per message (``c``: the compiled twins of both
  ``goka._core.partition`` and ``goka._core.dispatch``; ``py``: both pure twins), fed
  confluent-kafka ``Message`` objects built in memory, with a producer whose
  ``produce`` calls the delivery callback at once (tickets and table generations are
  resolved as on Kafka), ``end_batch()``/``advance()`` after every batch, so each batch's
  table writes are flushed to LMDB (in a temporary directory).

Timing: each batch runs on every runner in turn, so all see the same machine state; a
runner's time is the sum over batches of its best time for that batch over ``--repeat``
passes (robust against other load on the machine). Prints msgs/s per runner and the
compiled/pure ratio measured in the same run. Profile one variant and twin with e.g.
``py-spy record --native -o profile.svg -- python bench/bench_core_loop.py --variant processor --twin c``.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

import goka
from goka import codec
from goka._core import _dispatch_py, _partition_py
from goka.hash import goka as goka_hash
from goka.storage.lmdb import LMDB

_dispatch_c: ModuleType | None
_partition_c: ModuleType | None
try:
    _dispatch_c = importlib.import_module("goka._core._dispatch_c")
    _partition_c = importlib.import_module("goka._core._partition_c")
except ImportError:  # not built: only the pure twins can run
    _dispatch_c = _partition_c = None

__all__ = ["main"]

TOPIC = "user-clicks"
TIMESTAMP = 1_700_000_000_000


def count(ctx: goka.Context, msg: str) -> None:
    ctx.set_value((ctx.value() or 0) + 1)


def click_group(string: Any = codec.String, int64: Any = codec.Int64) -> Any:
    return goka.define_group("clicks", goka.Input(TOPIC, string(), count), goka.Persist(int64()))


class UserString(codec.String):
    """Behaves as ``codec.String``; a subclass, so the compiled twin calls its methods."""


class UserInt64(codec.Int64):
    """Behaves as ``codec.Int64``; a subclass, so the compiled twin calls its methods."""


class DictTable:
    """The group table in a dict. ``set(key, None)`` stores ``None``, which reads as absent."""

    __slots__ = ("data", "get", "set")

    def __init__(self) -> None:
        self.data: dict[bytes, bytes | None] = {}
        self.get = self.data.get
        self.set = self.data.__setitem__


class NullSink:
    """Drops every record."""

    __slots__ = ()

    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Any) -> None:
        pass

    def defer(self) -> Callable[..., None]:
        return lambda exc=None: None


def key_batches(keys: int, messages: int, seed: int = 42) -> list[list[bytes]]:
    rnd = random.Random(seed)
    names = [b"user-%d" % i for i in range(keys)]
    batches = []
    for start in range(0, messages, keys):
        batch = names[: min(keys, messages - start)]
        rnd.shuffle(batch)
        batches.append(batch)
    return batches


# -- variant "dispatcher" ---------------------------------------------------------------

Tuples = list[list[tuple[str, int, bytes, bytes, int, None]]]


def tuple_batches(keys: list[list[bytes]]) -> Tuples:
    offset = 0
    out = []
    for batch in keys:
        out.append([(TOPIC, offset + i, k, b"click", TIMESTAMP, None) for i, k in enumerate(batch)])
        offset += len(batch)
    return out


class DispatcherRun:
    """One pass of the messages through a fresh dispatcher, a batch at a time."""

    def __init__(self, twin: ModuleType, graph: Any) -> None:
        self.table = DictTable()
        self.process = twin.Dispatcher(graph, 0, NullSink(), table=self.table).process

    def batch(self, batch: list[tuple[str, int, bytes, bytes, int, None]]) -> None:
        process = self.process
        for topic, offset, key, value, ts, headers in batch:
            process(topic, offset, key, value, ts, headers)

    def check(self, messages: int) -> None:
        counts = [int(v) for v in self.table.data.values() if v is not None]
        assert sum(counts) == messages, (sum(counts), messages)

    def close(self) -> None:
        pass


class InlineRun(DispatcherRun):
    """No goka: the same work (decode, table read, +1, encode, table write, emit)
    hand-written in one Python function."""

    def __init__(self) -> None:
        self.table = DictTable()
        get, put, emit = self.table.get, self.table.set, NullSink().emit
        table_topic = "clicks-table"

        def process(topic: str, offset: int, key: bytes, value: bytes, ts: int, headers: None) -> None:
            value.decode()
            data = get(key)
            data = b"%d" % ((0 if data is None else int(data)) + 1)
            put(key, data)
            emit(table_topic, key, data, None)

        self.process = process


# -- variant "processor" ----------------------------------------------------------------

def message_batches(keys: list[list[bytes]]) -> list[list[Any]]:
    try:
        from confluent_kafka import Message

        def make(offset: int, key: bytes) -> Any:
            return Message(topic=TOPIC, partition=0, offset=offset, key=key, value=b"click",
                           headers=None, error=None, timestamp=(1, TIMESTAMP))
        make(0, b"")
    except (ImportError, TypeError):  # confluent-kafka < 2.4 cannot build messages
        make = FakeMessage
    offset = 0
    out = []
    for batch in keys:
        out.append([make(offset + i, k) for i, k in enumerate(batch)])
        offset += len(batch)
    return out


class FakeMessage:
    """What the partition processor reads of a confluent-kafka message (a click of
    ``key`` on ``TOPIC``, partition 0, at ``ts`` ms)."""

    __slots__ = ("_offset", "_key", "_ts")

    def __init__(self, offset: int, key: bytes, ts: int = TIMESTAMP) -> None:
        self._offset = offset
        self._key = key
        self._ts = ts

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return b"click"

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def headers(self) -> None:
        return None

    def error(self) -> None:
        return None


class Delivered:
    """The message a delivery report carries; reused (the callback reads it at once)."""

    __slots__ = ("_topic", "_offset")

    def __init__(self) -> None:
        self._topic = ""
        self._offset = -1

    def topic(self) -> str:
        return self._topic

    def offset(self) -> int:
        return self._offset


class InstantProducer:
    """``produce`` acknowledges every record immediately, with increasing offsets."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}
        self.delivered = Delivered()

    def produce(self, topic: str, value: bytes | None, key: bytes, partition: int,
                headers: Any, on_delivery: Callable[[Any, Any], None]) -> None:
        offset = self.offsets.get(topic, -1) + 1
        self.offsets[topic] = offset
        delivered = self.delivered
        delivered._topic = topic
        delivered._offset = offset
        on_delivery(None, delivered)

    def produce_batch(self, topic: str, partition: int, records: list[dict[str, Any]],
                      on_delivery: Callable[[Any, Any], None]) -> None:
        for record in records:
            self.produce(topic, record["value"], record["key"], partition, None, on_delivery)


def partition_processor(partition: Any, graph: Any, failures: list[BaseException], **kw: Any) -> Any:
    """``partition.PartitionProcessor`` (a twin module or ``goka._core.partition``) for
    partition 0 of ``graph``: every topic has one partition, records go to an
    :class:`InstantProducer`, failures are appended to ``failures``; ``kw`` adds the
    storages (``storage``, ``window_storages``)."""
    return partition.PartitionProcessor(
        graph, 0, produce_batch=InstantProducer().produce_batch, partitions_of=lambda topic: 1, hasher=goka_hash,
        fail=failures.append, joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE, **kw,
    )


class ProcessorRun:
    """One pass of the messages through a fresh partition processor over a new LMDB store."""

    def __init__(self, twins: tuple[ModuleType, ModuleType], graph: Any, directory: str) -> None:
        dispatch, partition = twins
        self.path = tempfile.mkdtemp(prefix=f"run-{partition.__name__.rsplit('.', 1)[-1]}-", dir=directory)
        self.storage = LMDB(self.path).open(graph.table_topic, 0)
        self.failures: list[BaseException] = []
        saved = getattr(partition, "Dispatcher")
        setattr(partition, "Dispatcher", dispatch.Dispatcher)  # the module's name for it
        try:
            self.pp = partition_processor(partition, graph, self.failures, storage=self.storage)
        finally:
            setattr(partition, "Dispatcher", saved)

    def batch(self, batch: list[Any]) -> None:
        pp = self.pp
        process = pp.process
        for msg in batch:
            process(msg)
        pp.end_batch()
        pp.advance()

    def check(self, messages: int) -> None:
        pp, storage = self.pp, self.storage
        assert not self.failures, self.failures
        assert pp.in_flight() == 0
        assert pp.committable == {TOPIC: messages}, pp.committable
        assert storage.get_offset() == messages - 1
        assert sum(int(v) for _, v in storage.items()) == messages

    def close(self) -> None:
        self.storage.close()
        shutil.rmtree(self.path, ignore_errors=True)


# -- driver -----------------------------------------------------------------------------

def measure(label: str, runs: dict[str, Callable[[], Any]], batches: list[Any], messages: int,
            repeat: int) -> None:
    """Time every batch on each runner in turn (so all see the same machine state); a
    runner's time is the sum over batches of its best time for that batch."""
    best = {name: [float("inf")] * len(batches) for name in runs}
    clock = time.perf_counter
    for _ in range(repeat):
        started = {name: start() for name, start in runs.items()}
        gc.collect()
        try:
            for i, batch in enumerate(batches):
                for name, run in started.items():
                    t0 = clock()
                    run.batch(batch)
                    elapsed = clock() - t0
                    if elapsed < best[name][i]:
                        best[name][i] = elapsed
            for run in started.values():
                run.check(messages)
        finally:
            for run in started.values():
                run.close()
    total = {name: sum(times) for name, times in best.items()}
    parts = [f"{name} {messages / t:>10,.0f} msgs/s ({t / messages * 1e9:>5.0f} ns/msg)"
             for name, t in total.items()]
    if "c" in total and "py" in total:
        parts.append(f"ratio c/py {total['py'] / total['c']:.2f}x")
    if "inline" in total and "c" in total:
        parts.append(f"c/inline {total['inline'] / total['c']:.2f}x")
    print(f"{label:<38} " + " | ".join(parts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys = messages per batch")
    parser.add_argument("--repeat", type=int, default=3, help="runs per twin; the best counts")
    parser.add_argument("--variant", choices=["all", "dispatcher", "processor"], default="all")
    parser.add_argument("--twin", choices=["both", "c", "py"], default="both")
    parser.add_argument("--dir", default=None, help="where LMDB files go (default: a temp dir)")
    args = parser.parse_args()

    twins: dict[str, ModuleType] = {}
    pp_twins: dict[str, tuple[ModuleType, ModuleType]] = {}  # (dispatch, partition)
    if args.twin in ("both", "c"):
        if _dispatch_c is None or _partition_c is None:
            parser.error("goka._core._dispatch_c / _partition_c are not built (pip install -e .)")
        twins["c"] = _dispatch_c
        pp_twins["c"] = (_dispatch_c, _partition_c)
    if args.twin in ("both", "py"):
        twins["py"] = _dispatch_py
        pp_twins["py"] = (_dispatch_py, _partition_py)

    n = args.messages
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"click-count, {n:,} messages in batches of {args.keys:,} keys; best of {args.repeat}")
    keys = key_batches(args.keys, n)
    if args.variant in ("all", "dispatcher"):
        tuples = tuple_batches(keys)
        gc.freeze()  # a consumer holds one batch, not a million messages, for the GC to scan
        builtin, user = click_group(), click_group(UserString, UserInt64)
        runs: dict[str, Callable[[], Any]] = {
            name: partial(DispatcherRun, twin, builtin) for name, twin in twins.items()}
        if args.twin == "both":
            runs["inline"] = InlineRun
        measure("dispatcher, dict table, null sink", runs, tuples, n, args.repeat)
        runs = {name: partial(DispatcherRun, twin, user) for name, twin in twins.items()}
        measure("  same, codec subclasses (no inlining)", runs, tuples, n, args.repeat)
        del tuples
    if args.variant in ("all", "processor"):
        msgs = message_batches(keys)
        gc.freeze()
        base = args.dir or tempfile.mkdtemp(prefix="goka-bench-core-")
        os.makedirs(base, exist_ok=True)
        try:
            graph = click_group()
            runs = {name: partial(ProcessorRun, pair, graph, base) for name, pair in pp_twins.items()}
            measure("PartitionProcessor + LMDB flush/batch", runs, msgs, n, args.repeat)
        finally:
            if args.dir is None:
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
