"""``goka topics create|list|describe``: create and inspect topics (on :class:`goka.TopicManager`).

Processors create their own ``-loop`` and ``-table`` topics; their inputs, outputs and the
tables of other groups they join or look up must exist first: ``goka topics create``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from goka.cli._common import add_brokers, add_log_level, brokers_from_args, parse_pairs
from goka.errors import GokaError

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  goka topics create user-clicks milestones --partitions 8 --brokers kafka:9092
  goka topics create clicks-table --partitions 8 --table
  goka topics create audit --partitions 2 --topic-config retention.ms=86400000
  goka topics list
  goka topics describe clicks-table"""


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "topics", help="create, list and describe topics",
        description="Create, list and describe topics. Processors create their own -loop and -table "
                    "topics; create their inputs and outputs (and the tables of other groups they join or "
                    "look up) before starting them.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create", help="create topics unless they exist",
        description="Create each NAME unless it exists: a stream (delete policy, 1 h retention, as Go "
                    "Goka's) or, with --table, a compacted table. An existing topic with the same "
                    "partition count is left alone; with another count the command fails (exit 1).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    create.add_argument("names", nargs="+", metavar="NAME", help="topic to create")
    create.add_argument("--partitions", "-p", type=int, required=True, metavar="N",
                        help="number of partitions (co-partitioned topics need the same)")
    create.add_argument("--table", action="store_true", help="a compacted table (cleanup.policy=compact)")
    create.add_argument("--replication", "-r", type=int, default=None, metavar="R",
                        help="replication factor (default: the broker's default.replication.factor)")
    create.add_argument("--topic-config", action="append", metavar="KEY=VALUE",
                        help="topic config, e.g. retention.ms=86400000 (repeatable; over the defaults)")

    listing = actions.add_parser("list", help="list topics with their partition counts",
                                 description="Print every topic the cluster reports and its partition count.")
    listing.add_argument("--internal", action="store_true", help="include internal topics (names starting with _)")

    describe = actions.add_parser(
        "describe", help="partitions, watermarks and configs of topics",
        description="Print each NAME's partitions with low and high watermarks, and the topic configs "
                    "(compaction, retention) where the broker reports them.")
    describe.add_argument("names", nargs="+", metavar="NAME", help="topic to describe")

    for q in (create, listing, describe):
        q.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="seconds to wait for each request to the brokers (default 10)")
        add_brokers(q)
        add_log_level(q, "WARNING")
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goka.topics import TopicManager

    brokers = brokers_from_args(args)
    try:
        if not args.timeout > 0:
            raise ValueError(f"--timeout must be > 0 seconds, got {args.timeout:g}")
        replication = getattr(args, "replication", None)
        with TopicManager(brokers, replication=replication, request_timeout=args.timeout) as tm:
            if args.action == "create":
                return _create(tm, args)
            if args.action == "list":
                return _list(tm, args)
            return _describe(tm, args)
    except (GokaError, ValueError) as exc:
        print(f"goka topics {args.action}: {exc}", file=sys.stderr)
        return 1


def _create(tm: Any, args: argparse.Namespace) -> int:
    from goka._kafka.admin import STREAM_CONFIG, TABLE_CONFIG

    if args.partitions < 1:
        raise ValueError(f"--partitions must be >= 1, got {args.partitions}")
    config = {**(TABLE_CONFIG if args.table else STREAM_CONFIG), **parse_pairs(args.topic_config, "--topic-config")}
    existing = set(tm.topics())
    status = 0
    for name in args.names:
        if name in existing:
            count = len(tm.partitions(name))
            if count != args.partitions:
                print(f"goka topics create: topic {name!r} exists with {count} partitions, not {args.partitions}",
                      file=sys.stderr)
                status = 1
            else:
                print(f"{name}: exists ({count} partitions)")
            continue
        tm.ensure_topic(name, args.partitions, config)
        kind = "table, compacted" if args.table else "stream"
        print(f"{name}: created ({args.partitions} partitions, {kind})")
    return status


def _list(tm: Any, args: argparse.Namespace) -> int:
    from goka._kafka.admin import TopicManager as _Impl

    impl: _Impl = tm._impl
    for name, partitions in sorted(impl.topics().items()):
        if args.internal or not name.startswith("_"):
            print(f"{name}\t{len(partitions)}")
    return 0


def _describe(tm: Any, args: argparse.Namespace) -> int:
    for n, name in enumerate(args.names):
        d = tm.describe(name)
        if n:
            print()
        compacted = {True: "yes", False: "no", None: "not reported by the broker"}[d.compacted]
        print(f"topic {d.name}: {len(d.partitions)} partitions, {d.records} records, compacted: {compacted}")
        if d.configs is None:
            print("configs: not reported by the broker")
        else:
            for key in sorted(d.configs):
                if key in ("cleanup.policy", "retention.ms", "retention.bytes", "segment.ms", "min.compaction.lag.ms",
                           "max.compaction.lag.ms", "delete.retention.ms", "min.insync.replicas"):
                    print(f"config {key}={d.configs[key]}")
        print("partition\tlow\thigh")
        for p in d.partitions:
            print(f"{p}\t{d.low_watermarks[p]}\t{d.high_watermarks[p]}")
    return 0
