"""The click-count processor alone over N messages, as a target for a profiler.

Plain script, not a test::

    py-spy record -r 100 --native --threads -f raw -o processor.txt -- \\
        python bench/profile_processor.py [--messages 600000]

Fills ``user-clicks`` on an EmbeddedCluster (4 partitions, 10,000 keys) first, then runs
the processor (LMDB table, changelog) until it has consumed every message and prints its
rate; the samples of the ``goka-processor-click-count`` thread are the processor's. Set
``GOKA_SPLIT_QUEUES=0`` to profile the ``consume`` path.
"""
from __future__ import annotations

import argparse
import os
import sys

import goka
from goka.cli.demo_job import click_count_group

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_end_to_end import fill, run_processor  # noqa: E402

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=600_000)
    args = parser.parse_args(argv)
    n = args.messages
    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("user-clicks", 4)
        fill(cluster.brokers, "user-clicks", n, 10_000, 4)
        rate = run_processor(cluster, click_count_group(), n)
        print(f"processor click-count: {rate:,.0f} msgs/s")


if __name__ == "__main__":
    main()
