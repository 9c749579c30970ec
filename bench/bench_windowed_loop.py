"""Windowed vs plain click count through the partition processor, without Kafka.

Plain script, not a test:  ``python bench/bench_windowed_loop.py [--messages N] [--keys K] [--rounds R]``

The per-partition share of ``bench_end_to_end.py windowed``: ``--messages`` clicks of
``--keys`` users in one partition, 40 ms of event time apart (a window closes every minute
of event time), in batches of 500 through ``PartitionProcessor`` (the twin this process
selects: ``GOKA_NO_EXTENSIONS=1`` for the pure one) with a producer that acknowledges at
once (``bench_core_loop.partition_processor``), LMDB storage, ``end_batch()``,
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
from bench_core_loop import TOPIC, FakeMessage, count, partition_processor  # noqa: E402
from goka import codec  # noqa: E402
from goka._core import partition  # noqa: E402
from goka.storage.lmdb import LMDB  # noqa: E402

T0 = 1_700_000_040_000  # a minute boundary (ms)
BATCH = 500


def count_window(ctx: goka.Context, _: str) -> None:
    minute = ctx.window("per-minute")
    if not minute.late:
        minute.set_value((minute.value() or 0) + 1)


def run(msgs: list[FakeMessage], windowed: bool) -> float:
    """msgs/s of one pass through a fresh partition processor."""
    path = tempfile.mkdtemp(prefix="windowed-loop-")
    lmdb = LMDB(path)
    kw: dict[str, Any]
    if windowed:
        graph = goka.define_group("w", goka.Input(TOPIC, codec.String(), count_window),
                                  goka.Window("per-minute", goka.Tumbling(timedelta(minutes=1)), codec.Int64()))
        kw = {"storage": None, "window_storages": {"per-minute": lmdb.open("w-per-minute", 0)}}
    else:
        graph = goka.define_group("p", goka.Input(TOPIC, codec.String(), count),
                                  goka.Persist(codec.Int64()))
        kw = {"storage": lmdb.open(graph.table_topic, 0)}
    failures: list[BaseException] = []
    pp = partition_processor(partition, graph, failures, **kw)
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
    msgs = [FakeMessage(i, b"user-%d" % rnd.randrange(args.keys), T0 + 40 * i) for i in range(args.messages)]
    best = {False: 0.0, True: 0.0}
    for _ in range(args.rounds):
        for windowed in (False, True):
            best[windowed] = max(best[windowed], run(msgs, windowed))
    twin = loaded["partition"].__name__.rsplit(".", 1)[-1]
    print(f"{twin}: plain click count {best[False]:,.0f} msgs/s, windowed {best[True]:,.0f} msgs/s "
          f"(best of {args.rounds}); ratio {best[True] / best[False]:.1%}")


if __name__ == "__main__":
    main()
