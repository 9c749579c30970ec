"""``goka demo``: the click-count demo on an embedded Kafka cluster (see :mod:`goka.cli.demo_job`)."""
from __future__ import annotations

import argparse
from typing import Any

from goka.cli._common import add_log_level, setup_logging

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="count clicks per user on an embedded Kafka cluster",
        description="Start an embedded Kafka cluster, emit clicks, count them per user in a processor "
                    "and print the counts a view serves. Without options: emit --clicks clicks and exit "
                    "once all are counted. With --duration or --web: stream clicks for S seconds or until "
                    "Ctrl-C, then check every click was counted.",
        epilog="example: goka demo --web 9095     # then open http://127.0.0.1:9095/")
    p.add_argument("--clicks", type=int, default=2000, help="clicks to emit without --duration/--web (default 2000)")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stream clicks for S seconds")
    p.add_argument("--rate", type=float, default=200.0, help="clicks per second when streaming (default 200)")
    p.add_argument("--web", type=int, default=None, metavar="PORT",
                   help="serve the monitor, query and actions pages on PORT (0: any free port)")
    add_log_level(p, "WARNING")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goka.cli.demo_job import run_demo

    setup_logging(args.log_level)
    return run_demo(clicks=args.clicks, duration=args.duration, web=args.web, rate=args.rate)
