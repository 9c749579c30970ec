"""End-to-end benchmarks on an EmbeddedCluster (librdkafka's mock cluster, in process).

Plain script, not a test::

    python bench/bench_end_to_end.py processor [--messages 400000] [--partitions 4] [--keys 10000] [--coalesce]
    python bench/bench_end_to_end.py view      [--records 1000000] [--partitions 16] [--rounds 2]
    python bench/bench_end_to_end.py emitter   [--messages 400000]
    python bench/bench_end_to_end.py windowed  [--messages 400000] [--partitions 4] [--keys 10000] [--rounds 2]
    python bench/bench_end_to_end.py all

- processor: the click-count group (String input, Int64 table in LMDB, changelog on)
  consuming a pre-filled topic, against a raw confluent-kafka consumer reading the same
  topic with the same fetch tuning, in the same run. Steady state: timed from the first
  to the last message processed (group join and startup excluded).
- view: recovery of a table topic of ``--records`` distinct keys into LMDB.
- emitter: ``goka.Emitter.emit`` against raw ``Producer.produce`` with a delivery callback
  (same broker, same count), three alternating rounds, best of each.
- windowed: a per-minute click count (``goka.Window``, tumbling 1 min, Int64 values in
  LMDB, window changelog on, a window closing every minute of event time) against the plain
  click count, on the same pre-filled topic whose records are 10 ms of event time apart,
  alternating the two in ``--rounds`` rounds (fresh group and storage each time); steady
  state as for ``processor``.

The mock keeps at most ~5 MiB per partition: the defaults stay under that.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta

from confluent_kafka import Consumer, Producer, TopicPartition

import goka
from goka import codec
from goka.cli.demo_job import click_count_group, count_click

__all__ = ["main"]


def fill(brokers: str, topic: str, n: int, keys: int, partitions: int, value: bytes = b"click",
         timestamps: tuple[int, int] | None = None) -> None:
    """``n`` records for ``keys`` keys; ``timestamps = (first ms, step ms)`` sets their times."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 2000000})
    for i in range(n):
        key = f"user-{i % keys}".encode()
        while True:
            try:
                if timestamps is None:
                    producer.produce(topic, value, key, goka.hash.goka(key, partitions))
                else:
                    producer.produce(topic, value, key, goka.hash.goka(key, partitions),
                                     timestamp=timestamps[0] + i * timestamps[1])
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush()


def raw_consume(brokers: str, topic: str, partitions: int, n: int) -> float:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "raw-bench", "enable.auto.commit": False,
                         "fetch.queue.backoff.ms": 10, "queued.min.messages": 200000})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, start = 0, None
    while got < n:
        msgs = consumer.consume(10000, 1.0)
        if msgs and start is None:
            start = time.perf_counter()
        got += sum(1 for m in msgs if m.error() is None)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return n / elapsed


def run_processor(cluster: goka.EmbeddedCluster, graph: goka.GroupGraph, n: int, coalesce: bool = False) -> float:
    """Steady msgs/s of ``graph`` over the first ``n`` messages (fresh LMDB directory)."""
    with tempfile.TemporaryDirectory() as path:
        proc = goka.Processor(cluster, graph, path=path, coalesce_changelog=coalesce)
        proc.start()
        rate = steady_rate(proc, n)
        proc.stop()
        return rate


def bench_processor(args: argparse.Namespace) -> None:
    """Click-count vs a raw consume of the same topic. With ``--rounds N``: N rounds of
    the processor on per-partition queues read in compiled code (``split``) and on
    confluent-kafka's ``consume`` (``GOKA_SPLIT_QUEUES=0``), alternating, each round a
    new group (it reads the topic from the start into a fresh LMDB directory), raw consume
    measured once per round."""
    n, parts = args.messages, args.partitions
    mode = ", changelog coalesced per batch" if args.coalesce else ""
    with goka.EmbeddedCluster(partitions=parts) as cluster:
        cluster.create_topic("user-clicks", parts)
        fill(cluster.brokers, "user-clicks", n, args.keys, parts)
        if args.rounds <= 1 and "GOKA_SPLIT_QUEUES" in os.environ:
            raw = raw_consume(cluster.brokers, "user-clicks", parts, n)
            rate = run_processor(cluster, click_count_group(), n, args.coalesce)
            print(f"processor click-count (LMDB, changelog{mode}): {rate:,.0f} msgs/s")
            print(f"raw confluent-kafka consume (same topic): {raw:,.0f} msgs/s")
            print(f"ratio: {rate / raw:.1%} of raw consume")
            return
        from goka.cli.demo_job import count_click

        rates: dict[str, list[float]] = {"split": [], "consume": [], "raw": []}
        for r in range(max(args.rounds, 1)):
            rates["raw"].append(raw_consume(cluster.brokers, "user-clicks", parts, n))
            for variant in (("split", "consume") if r % 2 == 0 else ("consume", "split")):
                os.environ["GOKA_SPLIT_QUEUES"] = "1" if variant == "split" else "0"
                graph = goka.define_group(f"click-count-{variant}-{r}",
                                          goka.Input("user-clicks", codec.String(), count_click),
                                          goka.Persist(codec.Int64()))
                rate = run_processor(cluster, graph, n, args.coalesce)
                rates[variant].append(rate)
                print(f"processor click-count ({variant}, LMDB, changelog{mode}): {rate:,.0f} msgs/s "
                      f"({rate / rates['raw'][-1]:.1%} of raw consume {rates['raw'][-1]:,.0f})")
        os.environ.pop("GOKA_SPLIT_QUEUES", None)
        for variant, values in rates.items():
            print(f"{variant}: " + " / ".join(f"{v:,.0f}" for v in values) + " msgs/s")


def steady_rate(proc: goka.Processor, n: int) -> float:
    """msgs/s of a started processor from its first to its ``n``-th message."""

    def consumed() -> int:
        return sum(sum(p["consumed"].values()) for p in proc.stats()["partitions"].values())

    start = None
    while True:
        done = consumed()
        if done and start is None:
            start, first = time.perf_counter(), done
        if done >= n:
            break
        time.sleep(0.05)  # each look takes the GIL from the processor: look rarely
    return (n - first) / (time.perf_counter() - start)  # type: ignore[operator]


def windowed_count_group(group: str) -> goka.GroupGraph:
    """Clicks per user and minute (tumbling, no grace), the windowed twin of click-count."""

    def count(ctx: goka.Context, _: str) -> None:
        minute = ctx.window("per-minute")
        if not minute.late:
            minute.set_value((minute.value() or 0) + 1)

    return goka.define_group(group, goka.Input("user-clicks", codec.String(), count),
                             goka.Window("per-minute", goka.Tumbling(timedelta(minutes=1)), codec.Int64()))


def bench_windowed(args: argparse.Namespace) -> None:
    n, parts = args.messages, args.partitions
    rates: dict[str, list[float]] = {"plain": [], "windowed": []}
    with goka.EmbeddedCluster(partitions=parts) as cluster:
        cluster.create_topic("user-clicks", parts)
        fill(cluster.brokers, "user-clicks", n, args.keys, parts, timestamps=(1_700_000_040_000, 10))
        for r in range(args.rounds):
            for mode in (("plain", "windowed") if r % 2 == 0 else ("windowed", "plain")):
                if mode == "plain":
                    graph = goka.define_group(f"click-count-{r}", goka.Input("user-clicks", codec.String(), count_click),
                                              goka.Persist(codec.Int64()))
                else:
                    graph = windowed_count_group(f"click-count-windowed-{r}")
                rate = run_processor(cluster, graph, n)
                rates[mode].append(rate)
                print(f"{mode} click count: {rate:,.0f} msgs/s")
    plain, windowed = max(rates["plain"]), max(rates["windowed"])
    print(f"windowed (per minute, LMDB, changelog): {windowed:,.0f} msgs/s; plain click count: {plain:,.0f} "
          f"msgs/s (best of {args.rounds} each); ratio {windowed / plain:.1%}; per round "
          + ", ".join(f"{w / p:.0%}" for w, p in zip(rates["windowed"], rates["plain"])))


def reader_cpu_seconds() -> float | None:
    """CPU time the table reader thread of the running view has used (Linux: from
    ``/proc/self/task/<tid>/schedstat``; None elsewhere): unlike records/s, it hardly depends
    on what else the machine runs."""
    import threading

    for thread in threading.enumerate():
        if thread.name.startswith("goka-reader-") and thread.native_id is not None:
            try:
                with open(f"/proc/self/task/{thread.native_id}/schedstat") as f:
                    return int(f.read().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                return None
    return None


def bench_view(args: argparse.Namespace) -> None:
    """Recovery of the same table topic, alternating the table reader on per-partition
    queues read in compiled code (``split``) and on confluent-kafka's ``consume``
    (``GOKA_SPLIT_TABLE_QUEUES=0``), each round into a fresh LMDB directory. Besides
    records/s, the reader thread's CPU time per record (ns)."""
    n, parts = args.records, args.partitions
    rates: dict[str, list[float]] = {"split": [], "consume": []}
    cpu: dict[str, list[float]] = {"split": [], "consume": []}
    with goka.EmbeddedCluster(partitions=parts) as cluster:
        cluster.create_topic("bench-table", parts)
        fill(cluster.brokers, "bench-table", n, n, parts, value=b"42")
        for r in range(args.rounds):
            for mode in (("split", "consume") if r % 2 == 0 else ("consume", "split")):
                os.environ["GOKA_SPLIT_TABLE_QUEUES"] = "1" if mode == "split" else "0"
                with tempfile.TemporaryDirectory() as path:
                    view = goka.View(cluster, "bench-table", codec.Int64(), path=path)
                    start = time.perf_counter()
                    view.start()
                    view.wait_recovered()
                    elapsed = time.perf_counter() - start
                    reader = reader_cpu_seconds()
                    assert view.get("user-0") == 42 and view.get(f"user-{n - 1}") == 42
                    view.stop()
                rates[mode].append(n / elapsed)
                if reader is not None:
                    cpu[mode].append(reader / n * 1e9)
                print(f"view recovery into LMDB ({mode}): {n / elapsed:,.0f} records/s "
                      f"({n:,} records, {elapsed:.2f} s)"
                      + ("" if reader is None else f"; reader thread {reader / n * 1e9:,.0f} ns CPU/record"))
    os.environ.pop("GOKA_SPLIT_TABLE_QUEUES", None)
    for mode, values in rates.items():
        print(f"{mode}: " + " / ".join(f"{v:,.0f}" for v in values) + " records/s"
              + ("; reader CPU " + " / ".join(f"{c:,.0f}" for c in cpu[mode]) + " ns/record" if cpu[mode] else ""))


def bench_emitter(args: argparse.Namespace) -> None:
    """Three rounds of (raw, goka) on fresh topics; best of each, and each round's ratio
    (the VM's speed drifts within seconds, so a single pair is misleading)."""
    n = args.messages
    raws, rates = [], []
    with goka.EmbeddedCluster(partitions=4) as cluster:
        for r in range(3):
            cluster.create_topic(f"emit-raw-{r}", 4)
            cluster.create_topic(f"emit-goka-{r}", 4)
            producer = Producer({"bootstrap.servers": cluster.brokers, "linger.ms": 5,
                                 "queue.buffering.max.messages": 1000000})
            start = time.perf_counter()
            for i in range(n):
                key = f"user-{i % 10000}".encode()
                while True:
                    try:
                        producer.produce(f"emit-raw-{r}", b"click", key, goka.hash.goka(key, 4),
                                         on_delivery=lambda e, m: None)
                        break
                    except BufferError:
                        producer.poll(0.05)
                if i % 1000 == 0:
                    producer.poll(0)
            producer.flush()
            raws.append(n / (time.perf_counter() - start))
            del producer
            emitter = goka.Emitter(cluster, f"emit-goka-{r}", codec.String())
            start = time.perf_counter()
            for i in range(n):
                emitter.emit(f"user-{i % 10000}", "click")
            emitter.finish()
            rates.append(n / (time.perf_counter() - start))
    print(f"emitter: {max(rates):,.0f} msgs/s; raw produce with delivery callbacks: {max(raws):,.0f} msgs/s "
          f"(best of 3 each); ratio {max(rates) / max(raws):.1%}; per round "
          + ", ".join(f"{g / r:.0%}" for g, r in zip(rates, raws)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["processor", "view", "emitter", "windowed", "all"])
    parser.add_argument("--messages", type=int, default=400000)
    parser.add_argument("--records", type=int, default=1000000)
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--coalesce", action="store_true", help="processor: coalesce_changelog=True")
    parser.add_argument("--rounds", type=int, default=2, help="view, processor: rounds of (split, consume); windowed: rounds of (plain, windowed)")
    args = parser.parse_args(argv)
    from goka._core import loaded  # noqa: F401  (report which twins run)

    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {sys.version.split()[0]}, "
          f"GOKA_NO_EXTENSIONS={os.environ.get('GOKA_NO_EXTENSIONS', '')}")
    if args.which in ("processor", "all"):
        bench_processor(argparse.Namespace(**{**vars(args), "partitions": args.partitions or 4}))
    if args.which in ("view", "all"):
        bench_view(argparse.Namespace(**{**vars(args), "partitions": args.partitions or 16}))
    if args.which in ("emitter", "all"):
        bench_emitter(args)
    if args.which in ("windowed", "all"):
        bench_windowed(argparse.Namespace(**{**vars(args), "partitions": args.partitions or 4}))


if __name__ == "__main__":
    main()
