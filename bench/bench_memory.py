"""Memory over a long run: does a processor's RSS stay flat?

Plain script, not a test::

    python bench/bench_memory.py [--messages 10000000] [--chunk 100000] [--keys 10000]

Runs the click-count processor on an EmbeddedCluster (in this process) and feeds it in
chunks: a raw producer writes ``--chunk`` messages, then the script waits until the
processor has consumed them (the mock cluster keeps only ~5 MiB per partition, so input
must not run ahead). After every chunk it records the process RSS; it prints RSS after the
first 25 % of messages (warm: caches, LMDB map, librdkafka's fetch queues and the mock's
retained segments -- up to ~5 MiB per partition, in this process -- are full) and at the
end, and the change between them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from confluent_kafka import Producer

import goka
from goka.cli.demo_job import click_count_group

__all__ = ["main"]


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args(argv)
    parts = 4
    with goka.EmbeddedCluster(partitions=parts) as cluster, tempfile.TemporaryDirectory() as path:
        cluster.create_topic("user-clicks", parts)
        producer = Producer({"bootstrap.servers": cluster.brokers, "linger.ms": 20,
                             "queue.buffering.max.messages": 2_000_000})
        proc = goka.Processor(cluster, click_count_group(), path=path)
        proc.start()
        proc.wait_recovered(60)

        def consumed() -> int:
            return sum(sum(p["consumed"].values()) for p in proc.stats()["partitions"].values())

        samples: list[tuple[int, float]] = []
        sent, start = 0, time.perf_counter()
        while sent < args.messages:
            for i in range(sent, sent + args.chunk):
                key = f"user-{i % args.keys}".encode()
                while True:
                    try:
                        producer.produce("user-clicks", b"click", key, goka.hash.goka(key, parts))
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.flush()
            sent += args.chunk
            while consumed() < sent:
                time.sleep(0.01)
            samples.append((sent, rss_mib()))
            if len(samples) % 10 == 0:
                print(f"{sent:>11,} messages  RSS {samples[-1][1]:8.1f} MiB", flush=True)
        elapsed = time.perf_counter() - start
        proc.stop()
    warm = next(r for n, r in samples if n >= args.messages // 4)
    end = samples[-1][1]
    print(f"# Python {sys.version.split()[0]}, {os.cpu_count()} cpus; {args.messages:,} messages in {elapsed:.0f} s")
    print(f"RSS after 25 %: {warm:.1f} MiB; at the end: {end:.1f} MiB; change {100 * (end - warm) / warm:+.1f} %"
          f" (max {max(r for _, r in samples):.1f} MiB)")


if __name__ == "__main__":
    main()
