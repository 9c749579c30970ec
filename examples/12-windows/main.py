"""12-windows: clicks per user and minute with a tumbling ``goka.Window``: each click counts
in the minute of its timestamp (event time, not arrival), a click up to 10 s late still
counts, a later one is dropped; when a minute closes its count is emitted, and a
``goka.View(..., window=spec)`` reads the counts of every minute.

    python examples/12-windows/main.py                # clicks for a while; each minute's counts as it closes
    python examples/12-windows/main.py --speed 30     # event time runs 30 times faster than the wall clock

The clicks are emitted with explicit timestamps (``Emitter.emit(..., timestamp=...)``) on
a simulated clock, so minutes pass in seconds. Stream time is the newest timestamp seen in
a partition: a minute closes once it passed the minute's end plus the grace, whatever the
wall clock says. Windows live in local storage and in the compacted topic
``<group>-per-minute`` (:func:`goka.window_table`).
"""
from __future__ import annotations

import logging
import random
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.windows")

CLICKS = "example-windows-clicks"
COUNTS = "example-windows-counts"
GROUP = "example-windows-counter"
WINDOW = "per-minute"
SPEC = goka.Tumbling(timedelta(minutes=1), grace=timedelta(seconds=10))
START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)  # the simulated clock's start


def hhmm(window: goka.TimeWindow) -> str:
    return f"{window.start:%H:%M}-{window.end:%H:%M}"


#: (user, window start ms) -> count of every minute closed
CLOSED: dict[tuple[str, int], int] = {}


def build_group() -> goka.GroupGraph:
    def on_click(ctx: goka.Context, page: str) -> None:
        minute = ctx.window(WINDOW)
        if minute.late:  # its minute closed: dropped (and counted in stats() and /metrics)
            log.info("late click of %s at %s dropped", ctx.key, f"{ctx.timestamp:%H:%M:%S}")
            return
        minute.set_value((minute.value() or 0) + 1)

    def on_close(ctx: goka.Context, window: goka.TimeWindow, count: int) -> None:
        log.info("%s %s: %d click%s", ctx.key, hhmm(window), count, "" if count == 1 else "s")
        CLOSED[(ctx.key, window.start_ms)] = count
        ctx.emit(COUNTS, ctx.key, f"{hhmm(window)} {count}")

    return goka.define_group(
        GROUP,
        goka.Input(CLICKS, codec.String(), on_click),
        goka.Output(COUNTS, codec.String()),
        goka.Window(WINDOW, SPEC, codec.Int64(), on_close=on_close, retention=timedelta(hours=1)),
    )


USERS = [f"user-{i}" for i in range(4)]


def smoke_clicks() -> list[tuple[str, datetime]]:
    """Three minutes: user-i clicks i + 1 times a minute; a click 5 s after 12:01 for 12:00
    (within the grace: counted), one at 12:02:30 for 12:00 (late: dropped); at 12:04 a click
    of every user, which closes the minutes 12:00, 12:01 and 12:02 in every partition."""
    out = []
    for m in range(3):
        for i, user in enumerate(USERS):
            out += [(user, START + timedelta(minutes=m, seconds=2 + 2 * j)) for j in range(i + 1)]
        if m == 1:
            out.append(("user-0", START + timedelta(seconds=59)))
        if m == 2:
            out.append(("user-1", START + timedelta(seconds=30)))
    out += [(user, START + timedelta(minutes=4)) for user in USERS]
    return out


def click_forever(brokers: Any, stop: threading.Event, speed: float) -> None:
    """Random clicks on a clock that runs ``speed`` times faster than the wall clock, a few
    of them delayed by up to 20 s of event time (some within the grace, some late)."""
    now = START
    with goka.Emitter(brokers, CLICKS, codec.String()) as clicks:
        while not stop.wait(0.1):
            now += timedelta(seconds=0.1 * speed)
            for _ in range(random.randint(0, 4)):
                late = timedelta(seconds=random.choice([0] * 20 + [5, 20]))
                clicks.emit(random.choice(USERS), "/index.html", timestamp=now - late)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--speed", type=float, default=60.0, help="event-time seconds per wall-clock second")
    args = p.parse_args(argv)
    setup(args)
    streams = {CLICKS: 4, COUNTS: 4}
    with connect(args, streams=streams) as brokers, \
            goka.Processor(brokers, build_group(), path=local_path(args, "processor")) as proc:
        proc.wait_recovered(30)
        if args.smoke:
            with goka.Emitter(brokers, CLICKS, codec.String()) as clicks:
                for user, at in smoke_clicks():
                    clicks.emit_sync(user, "/index.html", timestamp=at)
        else:
            stop = threading.Event()
            clicker = threading.Thread(target=click_forever, args=(brokers, stop, args.speed), name="clicks")
            clicker.start()
        with goka.View(brokers, goka.window_table(GROUP, WINDOW), codec.Int64(), window=SPEC,
                       path=local_path(args, "view")) as view:
            try:
                # the smoke run is done when the three minutes of every user closed and the
                # view has their final counts
                run_until(args, lambda: len(CLOSED) >= 3 * len(USERS) and late_clicks(proc) == 1 and all(
                    (view.window(user, start) or (None, None))[1] == n for (user, start), n in CLOSED.items()),
                    members=[proc, view])
            finally:
                if not args.smoke:
                    stop.set()
                    clicker.join()
            view.wait_recovered(30)
            shown = (START, START + timedelta(minutes=3)) if args.smoke else (None, None)
            for user in USERS:
                counts = ", ".join(f"{hhmm(w)} {n}" for w, n in view.windows(user, *shown))
                log.info("view: %s: %s", user, counts)
        log.info("late clicks dropped: %d", late_clicks(proc))
    log.info("done.")
    return 0


def late_clicks(proc: goka.Processor) -> int:
    """Late clicks dropped so far, from the processor's stats."""
    return sum(int(p.get("windows", {}).get("late", 0)) for p in proc.stats()["partitions"].values())


if __name__ == "__main__":
    sys.exit(main())
