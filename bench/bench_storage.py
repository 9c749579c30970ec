"""Micro-benchmark of the table stores: batched writes, point reads, iteration.

Plain script, not a test:  ``python bench/bench_storage.py [--batches N] ...``

For each store (memory, LMDB with ``sync=False`` -- the default --, LMDB with
``sync=True``) it times ``write_batch`` of ``--batch-size`` new random keys (plus
the table offset) ``--batches`` times, the same again overwriting existing keys,
``get``/``has`` of random present and absent keys, and a full ``items()`` scan.
Then the ceiling of a table reader that writes through py-lmdb (``--ceiling``, default
1 M): the keys and values of ``bench_end_to_end.py view`` (``user-<i>``, ``42``) in the
order a 16-partition recovery brings them, written 10,000 at a time by py-lmdb's
``putmulti`` alone (pairs built beforehand, no goka code) and by ``LMDBStorage.write_puts``.
Last, the per-call cost of the two ways to store goka's empty key in LMDB.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import tempfile
import time
import timeit
from collections.abc import Callable

import lmdb

from goka.storage import Storage
from goka.storage.lmdb import LMDB
from goka.storage.memory import Memory

__all__ = ["main"]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def bench_store(name: str, open_store: Callable[[], Storage], args: argparse.Namespace) -> None:
    rnd = random.Random(42)
    value = b"v" * args.value_size
    batches = [
        [(b"user-%016x" % rnd.getrandbits(64), value) for _ in range(args.batch_size)]
        for _ in range(args.batches)
    ]
    keys = [k for batch in batches for k, _ in batch]
    n = len(keys)
    store = open_store()
    try:
        offset = 0
        t = time.perf_counter()
        for batch in batches:
            offset += len(batch)
            store.write_batch(batch, offset)
        insert = time.perf_counter() - t

        t = time.perf_counter()
        for batch in batches:
            offset += len(batch)
            store.write_batch(batch, offset)
        update = time.perf_counter() - t

        sample = rnd.sample(keys, min(n, args.reads))
        missing = [b"none-%016x" % rnd.getrandbits(64) for _ in sample]
        get = store.get
        t = time.perf_counter()
        for k in sample:
            get(k)
        hit = time.perf_counter() - t
        t = time.perf_counter()
        for k in missing:
            get(k)
        miss = time.perf_counter() - t
        has = store.has
        t = time.perf_counter()
        for k in sample:
            has(k)
        has_t = time.perf_counter() - t

        t = time.perf_counter()
        scanned = sum(1 for _ in store.items())
        scan = time.perf_counter() - t
        assert scanned == len(set(keys))
    finally:
        store.close()
    per_batch = insert / args.batches * 1e3
    print(
        f"{name:<14} write_batch new {rate(n, insert)} keys ({per_batch:.2f} ms/batch)"
        f" | overwrite {rate(n, update)} | get hit {rate(len(sample), hit)}"
        f" miss {rate(len(missing), miss)} | has {rate(len(sample), has_t)}"
        f" | items {rate(scanned, scan)}"
    )


def bench_putmulti_ceiling(base: str, n: int, partitions: int = 16, step: int = 10_000) -> None:
    """Records/s of LMDB writes alone, as a 1 M-key view recovery makes them: the upper
    bound for any table reader on py-lmdb, whatever its consume path costs."""
    from goka.hash import goka as partition_for  # Go Goka's key -> partition

    parts: list[list[tuple[bytes, bytes]]] = [[] for _ in range(partitions)]
    for i in range(n):
        key = f"user-{i}".encode()
        parts[partition_for(key, partitions)].append((key, b"42"))
    steps = [p[s:s + step] for p in parts for s in range(0, len(p), step)]
    for label in ("py-lmdb putmulti", "LMDBStorage.write_puts"):
        path = tempfile.mkdtemp(dir=base)
        if label.startswith("py-lmdb"):
            envs = [lmdb.open(os.path.join(path, str(p)), map_size=1 << 30, max_dbs=2, sync=False,
                              metasync=False) for p in range(partitions)]
            dbs = [env.open_db(b"values") for env in envs]
            owner = [partition_for(batch[0][0], partitions) for batch in steps]
            t = time.perf_counter()
            for p, batch in zip(owner, steps):
                with envs[p].begin(write=True) as txn:
                    txn.cursor(db=dbs[p]).putmulti(batch, dupdata=False)
            elapsed = time.perf_counter() - t
            for env in envs:
                env.close()
        else:
            stores = [LMDB(path).open("ceiling", p) for p in range(partitions)]
            owner = [partition_for(batch[0][0], partitions) for batch in steps]
            offset = 0
            t = time.perf_counter()
            for p, batch in zip(owner, steps):
                offset += len(batch)
                stores[p].write_puts(batch, offset)
            elapsed = time.perf_counter() - t
            for store in stores:
                store.close()
        shutil.rmtree(path, ignore_errors=True)
        print(f"ceiling, {label:<22} {rate(n, elapsed)} records ({elapsed / n * 1e9:,.0f} ns/record, "
              f"{n:,} keys, {partitions} partitions, {step:,} per transaction)")


def bench_empty_key_handling() -> None:
    """What each LMDB empty-key scheme adds per call (nanoseconds)."""
    key = b"user-0123456789abcdef"
    stored = b"\x00" + key
    n = 1_000_000

    def ns(stmt: str, **env: object) -> float:
        return min(timeit.repeat(stmt, globals=env, number=n, repeat=5)) / n * 1e9

    base = ns("k", k=key)
    concat = ns("p + k", p=b"\x00", k=key) - base
    print("empty key, per call:")
    print(f"  special case  `if not k` (get/set/delete)    {ns('not k', k=key) - base:5.1f} ns")
    print(f"  prefix byte   b'\\x00' + k (get/set/delete)   {concat:5.1f} ns")
    print(f"  prefix byte   k[1:] (per items() entry)      {ns('k[1:]', k=stored) - base:5.1f} ns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--ceiling", type=int, default=1_000_000,
                        help="keys of the py-lmdb write ceiling (0: skip it)")
    parser.add_argument("--dir", default=None, help="where LMDB files go (default: a temp dir)")
    args = parser.parse_args()

    base = args.dir or tempfile.mkdtemp(prefix="goka-bench-storage-")
    os.makedirs(base, exist_ok=True)
    print(
        f"python {platform.python_version()}, py-lmdb {lmdb.__version__} (LMDB "
        f"{'.'.join(map(str, lmdb.version()))}), {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.batches} batches x {args.batch_size} keys, {args.value_size}-byte values, dir {base}"
    )
    try:
        bench_store("memory", lambda: Memory().open("bench", 0), args)
        bench_store("lmdb", lambda: LMDB(base).open("bench-nosync", 0), args)
        bench_store("lmdb sync=True", lambda: LMDB(base, sync=True).open("bench-sync", 0), args)
        if args.ceiling:
            bench_putmulti_ceiling(base, args.ceiling)
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    bench_empty_key_handling()


if __name__ == "__main__":
    main()
