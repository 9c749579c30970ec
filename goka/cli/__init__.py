"""The ``goka`` command (also ``python -m goka``).

=========================================  ===============================================
``goka demo [--duration S] [--web PORT]``  click counting on an embedded Kafka cluster
``goka run MODULE:ATTR --workers N``       run processors/views in N worker processes
``goka get TABLE KEY``                     print a key's value in a table
``goka emit TOPIC KEY VALUE``              emit one message
``goka tail TOPIC``                        print a topic's messages as they arrive
``goka topics create|list|describe``       create and inspect topics
=========================================  ===============================================

Each command lives in its own module here with ``add_parser(subparsers)`` and
``run(args) -> exit status``.
"""
from __future__ import annotations

import argparse
import sys

from goka.cli import demo, emit, get, run, tail, topics
from goka.cli._common import setup_logging

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from goka import __version__

    parser = argparse.ArgumentParser(
        prog="goka", description="goka for Python: stateful stream processing on Apache Kafka.",
        epilog="Run 'goka COMMAND --help' for a command's options. Every command connects with --brokers, "
               "-X KEY=VALUE (librdkafka settings) and --config FILE (.properties); brokers default to "
               "$GOKA_BROKERS.")
    parser.add_argument("--version", action="version", version=f"goka {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, run, get, emit, tail, topics):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "run" and args.command != "demo":
        setup_logging(args.log_level)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
