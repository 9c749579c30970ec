"""10-visit: a counter processor whose table is reset by a visitor: ``visit_all`` runs
the visitor ``reset`` once for every key the processor holds.

    python examples/10-visit/main.py     # counts for 5 s, resets every counter to 0, counts 5 s more

A visitor runs in the processor's own thread, between messages, so it may read and write
the table like a callback (``ctx.value()``, ``ctx.set_value()``, ``ctx.emit()``).
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.visit")

TOPIC = "example-visit-clicks-input"
GROUP = "example-visit-group"
KEYS = 10


def count(ctx: goka.Context, msg: int) -> None:
    counter = (ctx.value() or 0) + msg
    log.debug("%s: %d", ctx.key, counter)
    ctx.set_value(counter)


def reset(ctx: goka.Context, meta: int) -> None:
    log.debug("resetting %s: %d", ctx.key, meta)
    ctx.set_value(meta)


GRAPH = goka.define_group(
    GROUP,
    goka.Input(TOPIC, codec.Int64(), count),
    goka.Visitor("reset", reset),
    goka.Persist(codec.Int64()),
)


def run_emitter(brokers: Any, stop: threading.Event, interval: float, count: int | None = None) -> None:
    """Emit 1 for key-0 .. key-9 in turn."""
    with goka.Emitter(brokers, TOPIC, codec.Int64()) as emitter:
        i = 0
        while not stop.is_set() and (count is None or i < count):
            emitter.emit_sync(f"key-{i % KEYS}", 1)
            i += 1
            stop.wait(interval)


def counters(proc: goka.Processor) -> dict[str, int]:
    """Every counter, read from the processor's table (this instance holds all partitions)."""
    return {f"key-{i}": proc.get(f"key-{i}") for i in range(KEYS)}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--phase", type=float, default=5.0, help="seconds of counting before and after the reset")
    args = p.parse_args(argv)
    setup(args)
    with connect(args, streams={TOPIC: 8}, partitions=8) as brokers, \
            goka.Processor(brokers, GRAPH, path=local_path(args, "processor")) as proc:
        proc.wait_recovered(30)
        if args.smoke:  # five clicks per key, reset, one more per key
            run_emitter(brokers, threading.Event(), 0.0, 5 * KEYS)
            run_until(args, lambda: set(counters(proc).values()) == {5}, members=[proc])
            log.info("before reset: %s", counters(proc))
            log.info("visited %d values", proc.visit_all("reset", 0))
            log.info("after reset: %s", counters(proc))
            run_emitter(brokers, threading.Event(), 0.0, KEYS)
            run_until(args, lambda: set(counters(proc).values()) == {1}, members=[proc])
            log.info("one click later: %s", counters(proc))
            return 0
        stop = threading.Event()
        emitter = threading.Thread(target=run_emitter, args=(brokers, stop, 0.1), name="emitter")
        emitter.start()
        try:  # as Go's example: count for a while, reset, count for a while
            time.sleep(args.phase)
            log.info("before reset: %s", counters(proc))
            log.info("visited %d values", proc.visit_all("reset", 0))
            time.sleep(args.phase)
            log.info("%g s after the reset: %s", args.phase, counters(proc))
            log.info("stopping...")
        except KeyboardInterrupt:
            log.info("interrupted")
        finally:
            stop.set()
            emitter.join()
    log.info("done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
