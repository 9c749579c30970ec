"""Windowed vs plain click count through the partition processor, without Kafka.

Plain script, not a test:  ``python bench/bench_windowed_loop.py [--messages N] [--keys K] [--rounds R]``

The per-partition share of ``bench_end_to_end.py windowed``: ``--messages`` clicks of
``--keys`` users in one partition, 40 ms of event time apart (a window closes every minute
of event time), in batches of 500 through ``PartitionProcessor`` (the twin this process
selects: ``GOKA_NO_EXTENSIONS=1`` for the pure one) with a producer that acknowledges at
once (``bench_core_loop.InstantProducer``), LMDB storage, ``end_batch()``,
``close_windows()`` and ``advance()`` after every batch as ``KafkaProcessor`` does. The
windowed group counts per user and minute (``goka.Tumbling(timedelta(minutes=1))``), the
plain one is click-count (``Persist(Int64)``). The two alternate for ``--rounds`` rounds,
fresh storage each time; prints the best msgs/s of each and their ratio. Without the
consumer's cost the ratio is lower than end to end: it isolates the windowed path.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import goka  # noqa: E402
from bench_core_loop import InstantProducer  # noqa: E402
from goka import codec  # noqa: E402
from goka._core.partition import PartitionProcessor  # noqa: E402
from goka.hash import goka as goka_hash  # noqa: E402
from goka.storage.lmdb import LMDB  # noqa: E402

T0 = 1_700_000_040_000  # a minute boundary (ms)
BATCH = 500


class Msg:
    """What the partition processor reads of a confluent-kafka message."""

    __slots__ = ("_offset", "_key", "_ts")

    def __init__(self, offset: int, key: bytes, ts: int) -> None:
        self._offset, self._key, self._ts = offset, key, ts

    def topic(self) -> str:
        return "user-clicks"

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


def count_click(ctx: goka.Context, _: str) -> None:
    ctx.set_value((ctx.value() or 0) + 1)


def count_window(ctx: goka.Context, _: str) -> None:
    minute = ctx.window("per-minute")
    if not minute.late:
        minute.set_value((minute.value() or 0) + 1)


def run(msgs: list[Msg], windowed: bool) -> float:
    """msgs/s of one pass through a fresh partition processor."""
    path = tempfile.mkdtemp(prefix="windowed-loop-")
    lmdb = LMDB(path)
    kw: dict[str, Any]
    if windowed:
        graph = goka.define_group("w", goka.Input("user-clicks", codec.String(), count_window),
                                  goka.Window("per-minute", goka.Tumbling(timedelta(minutes=1)), codec.Int64()))
        kw = {"storage": None, "window_storages": {"per-minute": lmdb.open("w-per-minute", 0)}}
    else:
        graph = goka.define_group("p", goka.Input("user-clicks", codec.String(), count_click),
                                  goka.Persist(codec.Int64()))
        kw = {"storage": lmdb.open(graph.table_topic, 0)}
    failures: list[BaseException] = []
    pp = PartitionProcessor(graph, 0, produce_batch=InstantProducer().produce_batch, partitions_of=lambda t: 1,
                            hasher=goka_hash, fail=failures.append, joins={}, lookups={},
                            nil_handling=goka.NilHandling.IGNORE, **kw)
    start = time.perf_counter()
    for i in range(0, len(msgs), BATCH):
        for msg in msgs[i:i + BATCH]:
            pp.process(msg)
        pp.end_batch()
        if windowed:
            pp.close_windows()
            pp.end_batch()
        pp.advance()
    elapsed = time.perf_counter() - start
    assert not failures, failures
    shutil.rmtree(path, ignore_errors=True)
    return len(msgs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=2_500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from goka._core import loaded

    rnd = random.Random(1)
    msgs = [Msg(i, b"user-%d" % rnd.randrange(args.keys), T0 + 40 * i) for i in range(args.messages)]
    best = {False: 0.0, True: 0.0}
    for _ in range(args.rounds):
        for windowed in (False, True):
            best[windowed] = max(best[windowed], run(msgs, windowed))
    twin = loaded["partition"].__name__.rsplit(".", 1)[-1]
    print(f"{twin}: plain click count {best[False]:,.0f} msgs/s, windowed {best[True]:,.0f} msgs/s "
          f"(best of {args.rounds}); ratio {best[True] / best[False]:.1%}")


if __name__ == "__main__":
    main()
