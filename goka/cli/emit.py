"""``goka emit TOPIC KEY VALUE``: emit one message, partitioned as goka emitters do."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from goka.cli._common import (CODECS, HASHERS, add_brokers, add_codec, add_log_level, brokers_from_args, parse_pairs,
                              parse_value)
from goka.errors import GokaError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "emit", help="emit one message to a topic",
        description="Emit VALUE under KEY to TOPIC and print where it landed (partition, offset).",
        epilog="examples:\n  goka emit user-clicks user-3 click\n"
               "  goka emit settings user-3 '{\"theme\": \"dark\"}' --codec json\n"
               "  goka emit click-count-table user-3 --tombstone",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("topic")
    p.add_argument("key")
    p.add_argument("value", nargs="?", help="the value (int64: a number; json/msgpack: JSON text)")
    p.add_argument("--tombstone", action="store_true", help="emit a null value (deletes KEY from a table)")
    add_codec(p, "string")
    p.add_argument("--header", "-H", action="append", metavar="KEY=VALUE", help="a message header (repeatable)")
    p.add_argument("--hasher", choices=sorted(HASHERS), default="goka", help="partitioner (default goka)")
    add_brokers(p)
    add_log_level(p, "WARNING")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import goka

    if (args.value is None) != args.tombstone:
        print("goka emit: give either VALUE or --tombstone", file=sys.stderr)
        return 2
    try:
        value = None if args.tombstone else parse_value(args.value, args.codec)
    except ValueError as exc:
        print(f"goka emit: {args.value!r} is not a valid {args.codec} value: {exc}", file=sys.stderr)
        return 2
    headers = parse_pairs(args.header, "--header")
    hasher = HASHERS[args.hasher]
    try:
        with goka.Emitter(brokers_from_args(args), args.topic, CODECS[args.codec](), hasher=hasher) as emitter:
            offset = emitter.emit_sync(args.key, value, headers or None)
            partition = hasher(args.key.encode("utf-8", "surrogateescape"), emitter._backend.num_partitions)
    except (GokaError, RuntimeError, TimeoutError) as exc:
        print(f"goka emit: {exc}", file=sys.stderr)
        return 1
    print(f"{args.topic} partition {partition} offset {offset}")
    return 0
