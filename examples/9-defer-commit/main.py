"""9-defer-commit: commit an input message only when an asynchronous side effect
succeeded -- here, an emit through a separate goka.Emitter (think: another Kafka
cluster, a message queue, a database with async writes).

    python examples/9-defer-commit/main.py                # forwards a message every second
    python examples/9-defer-commit/main.py --no-commit    # never commits: see README

``ctx.defer_commit()`` returns ``done(exc=None)``: the input offset is committed only
after ``done()`` is called; ``done(exc)`` stops the processor with ``exc`` instead.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Future
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, group_config, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.defer-commit")

INPUT_TOPIC = "input-topic"
FORWARD_TOPIC = "forward-topic"


def forwarder(brokers: Any, args: argparse.Namespace, external: goka.Emitter) -> goka.Processor:
    """Forwards each input message through ``external``; commits once it is delivered."""

    def forward(ctx: goka.Context, msg: str) -> None:
        delivered = external.emit("time", msg)  # a Future, resolved by the producer's delivery report
        done = ctx.defer_commit()
        if not args.no_commit:
            # wire the commit to the external emitter's result: done(None) commits, done(exc) fails
            delivered.add_done_callback(lambda f: done(f.exception()))

    group = goka.define_group("forwarder", goka.Input(INPUT_TOPIC, codec.String(), forward))
    return goka.Processor(brokers, group, path=local_path(args, "forwarder"), consumer_config=group_config(brokers))


def committed(proc: goka.Processor) -> dict[int, int]:
    """The committed input offset of each partition the processor holds."""
    return {p: s["committed"].get(INPUT_TOPIC, -1) for p, s in proc.stats()["partitions"].items()
            if s["committed"].get(INPUT_TOPIC, -1) >= 0}


def settled(proc: goka.Processor) -> bool:
    """Whether the offsets of all messages processed so far are committed."""
    return all(s["committed"].get(t, -1) > o for s in proc.stats()["partitions"].values()
               for t, o in s["last_offset"].items())


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--no-commit", action="store_true", help="never call done(): nothing is committed")
    args = p.parse_args(argv)
    setup(args)
    received: Counter[str] = Counter()

    def consume(ctx: goka.Context, msg: str) -> None:  # a processor that prints what arrives
        received[msg] += 1
        log.info("received message %s: %s", ctx.key, msg)

    printer = goka.define_group("consumer", goka.Input(FORWARD_TOPIC, codec.String(), consume))
    with connect(args, streams={INPUT_TOPIC: 6, FORWARD_TOPIC: 6}, partitions=6) as brokers, \
            goka.Emitter(brokers, INPUT_TOPIC, codec.String()) as inputs, \
            goka.Emitter(brokers, FORWARD_TOPIC, codec.String()) as external, \
            goka.Processor(brokers, printer, path=local_path(args, "consumer")) as consumer:
        emitted: list[str] = []

        def emit(n: int | None, interval: float, stop: threading.Event) -> None:
            while not stop.is_set() and (n is None or n > 0):
                value = str(time.time_ns() // 1000)  # the time in microseconds: unique
                inputs.emit_sync("time", value)
                emitted.append(value)
                n = None if n is None else n - 1
                stop.wait(interval)

        proc = forwarder(brokers, args, external)
        proc.start()
        try:
            if not args.smoke:
                stop = threading.Event()
                ticker = threading.Thread(target=emit, args=(None, 1.0, stop), name="emitter")
                ticker.start()
                try:
                    run_until(args, members=[proc, consumer])
                finally:
                    stop.set()
                    ticker.join()
                return 0
            # --smoke: forward 5 messages, restart the forwarder, forward 3 more: with the
            # commits deferred to the deliveries, the restart forwards nothing twice.
            emit(5, 0.0, threading.Event())
            run_until(args, lambda: len(received) == 5 and settled(proc), members=[proc, consumer])
            log.info("forwarder committed input offsets %s; restarting it", committed(proc))
            proc.stop()
            proc = forwarder(brokers, args, external)
            proc.start()
            emit(3, 0.0, threading.Event())
            run_until(args, lambda: len(received) == 8 and settled(proc), members=[proc, consumer])
            again = sum(c - 1 for c in received.values())
            log.info("consumer received %d messages, %d of them more than once", len(received), again)
        finally:
            proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
