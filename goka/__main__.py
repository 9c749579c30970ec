"""``python -m goka``: command-line entry point."""
from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="goka", description="goka for Python: stateful Kafka stream processing")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="count clicks per user on an embedded Kafka cluster")
    demo.add_argument("--clicks", type=int, default=2000, help="clicks to emit (default 2000)")
    demo.add_argument("--duration", type=float, default=60.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "demo":
        from goka.demo import run_demo

        return run_demo(clicks=args.clicks, duration=args.duration)
    return 2


if __name__ == "__main__":
    sys.exit(main())
