"""``goka get TABLE KEY``: print the current value of a key in a table topic.

Only the key's partition is read (from its oldest record to the high watermark, keeping
just that key), so no local state is needed and a large table costs no memory.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from goka.cli._common import CODECS, HASHERS, add_brokers, add_codec, add_log_level, brokers_from_args, format_value
from goka.errors import GokaError
from goka.runtime.table import PartitionTable, TableReader
from goka.runtime.progress import RecoveryProgress
from goka.storage.memory import MemoryStorage

__all__ = ["add_parser", "run"]


class _OneKey(MemoryStorage):
    """A memory store that keeps only ``key`` (every other write is dropped)."""

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self.key = key

    def write_batch(self, writes: Iterable[tuple[bytes, bytes | None]], offset: int | None = None) -> None:
        super().write_batch(((k, v) for k, v in writes if k == self.key), offset)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "get", help="print the value of a key in a table",
        description="Print the value of KEY in table topic TABLE (e.g. clicks-table). Exits 1 when "
                    "the key is not in the table.",
        epilog="example: goka get click-count-table user-3 --codec int64 --brokers kafka:9092")
    p.add_argument("table", help="table topic, e.g. <group>-table")
    p.add_argument("key")
    add_codec(p, "string")
    p.add_argument("--hasher", choices=sorted(HASHERS), default="goka",
                   help="partitioner of the table (default goka)")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds (default 60)")
    add_brokers(p)
    add_log_level(p, "WARNING")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goka._kafka.admin import TopicManager

    brokers = brokers_from_args(args)
    try:
        with TopicManager.for_brokers(brokers) as topics:
            count = len(topics.partitions(args.table))
    except GokaError as exc:
        print(f"goka get: {exc}", file=sys.stderr)
        return 1
    kbytes = args.key.encode("utf-8", "surrogateescape")
    partition = HASHERS[args.hasher](kbytes, count)
    storage = _OneKey(kbytes)
    table = PartitionTable(args.table, partition, storage)
    reader = TableReader(brokers, client_id="goka-cli-get", follow=False)
    reader.start()
    try:
        reader.add([table])
        with RecoveryProgress(tables=[table]):
            recovered = reader.wait_recovered([table], args.timeout)
    except Exception as exc:
        print(f"goka get: reading {args.table}/{partition} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        reader.stop()
    if not recovered:
        print(f"goka get: {args.table}/{partition} not read to its end within {args.timeout:g} s",
              file=sys.stderr)
        return 1
    data = storage.get(kbytes)
    if data is None:
        print(f"goka get: key {args.key!r} not found in {args.table} (partition {partition})", file=sys.stderr)
        return 1
    if args.codec == "bytes":
        sys.stdout.buffer.write(data + b"\n")
        return 0
    try:
        value = CODECS[args.codec]().decode(data)
    except Exception as exc:
        print(f"goka get: cannot decode the value of {args.key!r} with codec {args.codec}: {exc}",
              file=sys.stderr)
        return 1
    print(format_value(value, args.codec))
    return 0
