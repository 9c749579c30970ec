"""A windowed click-count processor for tests/integration/test_windows.py (a script, and a
module the test loads for :func:`per_minute_group`).

    python window_worker.py BROKERS GROUP CLICKS COUNTS PATH [--delay SECONDS]

Clicks (``codec.Int64`` sequence numbers) are counted per key and minute in the window edge
``per-minute`` (tumbling, 10 s grace): the window's value is the sorted list of the sequence
numbers it saw, so a replay after a crash leaves it unchanged. When a window closes,
``on_close`` emits ``"<start ms>:<count>"`` under the key to COUNTS. Late clicks are dropped.

Stdout, one line per event, each a single ``write`` (complete up to a SIGKILL):
``STATE running`` once the processor runs; ``MSG <partition> <offset> <key> <seq>`` per
click the callback saw; ``CLOSE <key> <start ms> <count>`` per on_close.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from datetime import timedelta

import goka
from goka import codec

WINDOW = "per-minute"
SPEC = goka.Tumbling(timedelta(minutes=1), grace=timedelta(seconds=10))


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def per_minute_group(group: str, clicks: str, counts: str, report: bool = False,
                     delay: float = 0.0) -> goka.GroupGraph:
    """The windowed click count (see the module docstring); ``report`` prints MSG/CLOSE lines,
    ``delay`` (seconds) slows each click down (so that a test can kill the process mid-run)."""

    def on_click(ctx: goka.Context, seq: int) -> None:
        if report:
            say(f"MSG {ctx.partition} {ctx.offset} {ctx.key} {seq}")
        if delay:
            time.sleep(delay)
        window = ctx.window(WINDOW)
        if window.late:
            return
        seen = window.value() or []
        if seq not in seen:
            window.set_value(sorted([*seen, seq]))

    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: list[int]) -> None:
        if report:
            say(f"CLOSE {ctx.key} {window.start_ms} {len(value)}")
        ctx.emit(counts, ctx.key, f"{window.start_ms}:{len(value)}")

    return goka.define_group(
        group,
        goka.Input(clicks, codec.Int64(), on_click),
        goka.Output(counts, codec.String()),
        goka.Window(WINDOW, SPEC, codec.Json(), on_close=on_close, retention=timedelta(hours=1)),
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("brokers", "group", "clicks", "counts", "path"):
        parser.add_argument(name)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each click takes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    proc = goka.Processor(args.brokers, per_minute_group(args.group, args.clicks, args.counts, report=True,
                                                           delay=args.delay),
                          path=args.path, consumer_config={"session.timeout.ms": 3000,
                                                           "heartbeat.interval.ms": 1000})

    def announce() -> None:  # polls, as the processor's state has no waiter of its own
        deadline = time.monotonic() + 60
        while proc.state != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        say(f"STATE {proc.state}")

    threading.Thread(target=announce, daemon=True).start()
    proc.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
