"""8-monitoring: goka.web's monitor, query and actions pages (and Prometheus metrics)
for a stateless processor, a processor with a lookup table, a processor with a joined
table and visitors, and a view.

    python examples/8-monitoring/main.py          # then open http://localhost:9095/
    python examples/8-monitoring/main.py --brokers localhost:9092 --port 9095

The actions page runs the visitors ``action1``..``action3`` over every key of the
processor's table; each waits the given number of milliseconds per key.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
import goka.web  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.monitoring")

TOPIC = "user-click"
GROUP = "mini-group"
JOIN_GROUP = GROUP + "-join"


class User(msgspec.Struct):
    Clicks: int = 0


USER_CODEC = codec.Json(type=User)


def count_click(ctx: goka.Context, msg: str) -> None:
    user: User = ctx.value() or User()
    user.Clicks += 1
    ctx.set_value(user)
    log.debug("[proc] key: %s clicks: %d, msg: %s", ctx.key, user.Clicks, msg)


def wait_visitor(ctx: goka.Context, value: Any) -> None:
    """Visitor: wait ``value`` milliseconds for each key (an action with a visible duration)."""
    if isinstance(value, int):
        time.sleep(value / 1000)


def stateless_group() -> goka.GroupGraph:
    return goka.define_group(GROUP + "-stateless", goka.Input(TOPIC, codec.String(), lambda ctx, msg: None))


def join_group() -> goka.GroupGraph:
    return goka.define_group(
        JOIN_GROUP,
        goka.Input(TOPIC, codec.String(), count_click),
        goka.Lookup(goka.group_table(GROUP), USER_CODEC),
        goka.Persist(USER_CODEC),
    )


def main_group() -> goka.GroupGraph:
    return goka.define_group(
        GROUP,
        goka.Input(TOPIC, codec.String(), count_click),
        goka.Join(goka.group_table(JOIN_GROUP), USER_CODEC),
        goka.Persist(USER_CODEC),
        goka.Visitor("action1", wait_visitor),
        goka.Visitor("action2", wait_visitor),
        goka.Visitor("action3", wait_visitor),
    )


def run_emitter(brokers: Any, stop: threading.Event, interval: float, count: int | None) -> None:
    with goka.Emitter(brokers, TOPIC, codec.String()) as emitter:
        i = 0
        while not stop.is_set() and (count is None or i < count):
            emitter.emit(f"user-{i % 50}", time.strftime("%H:%M:%S"))
            i += 1
            stop.wait(interval)


def log_stats(processors: list[goka.Processor]) -> None:
    """A console monitor: one line per processor from ``Processor.stats()``."""
    for proc in processors:
        stats = proc.stats()
        parts = stats["partitions"].values()
        consumed = sum(sum(p["consumed"].values()) for p in parts)
        lag = sum(sum(p["lag"].values()) for p in parts)
        log.info("monitor: %-20s %-8s partitions %s consumed %d lag %d", proc.group, stats["state"],
                 stats["active"], consumed, lag)


def http(url: str, form: dict[str, str] | None = None) -> str:
    data = urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=10) as resp:
        return str(resp.read().decode())


def smoke(web: goka.web.WebServer, processors: list[goka.Processor], clicks: int) -> None:
    """What an operator would do in the browser, over HTTP."""
    def consumed(proc: goka.Processor) -> int:
        return sum(sum(p["consumed"].values()) for p in proc.stats()["partitions"].values())

    deadline = time.monotonic() + 30
    while any(consumed(p) < clicks for p in processors):
        if time.monotonic() > deadline:
            raise TimeoutError("clicks not consumed")
        time.sleep(0.05)
    log_stats(processors)
    base = web.url.rstrip("/")
    http(f"{base}/actions/visit-action1/start", {"value": "5"})  # the Start button
    while True:
        action = next(a for a in json.loads(http(f"{base}/api/actions")) if a["name"] == "visit-action1")
        if action["state"] not in ("running", "idle"):
            break
        time.sleep(0.05)
    log.info("action visit-action1: %s, %s", action["state"], action["result"] or action["error"])
    found = json.loads(http(f"{base}/api/query?" + urlencode({"source": GROUP, "key": "user-3"})))
    log.info("query %s user-3: %s", GROUP, json.dumps(json.loads(found["value"])))
    metrics = [line for line in http(f"{base}/metrics").splitlines() if line.startswith("goka_")]
    log.info("metrics: %d goka_ samples, e.g. %s", len(metrics), metrics[0] if metrics else None)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--port", type=int, default=9095, help="HTTP port of the web pages")
    p.add_argument("--stats-interval", type=float, default=10.0, help="seconds between console monitor lines")
    args = p.parse_args(argv)
    setup(args)
    clicks = 40 if args.smoke else None
    with connect(args, streams={TOPIC: 2}, tables={goka.group_table(GROUP): 2}, partitions=2) as brokers:
        # The join processor creates "mini-group-join-table", which the main processor joins.
        joiner = goka.Processor(brokers, join_group(), path=local_path(args, "join"))
        main_proc = goka.Processor(brokers, main_group(), path=local_path(args, "main"))
        stateless = goka.Processor(brokers, stateless_group(), path=local_path(args, "stateless"))
        processors = [main_proc, joiner, stateless]
        view = goka.View(brokers, goka.group_table(GROUP), USER_CODEC, path=local_path(args, "view"))
        stop = threading.Event()
        emitter = threading.Thread(target=run_emitter, name="emitter",
                                   args=(brokers, stop, 0.005 if args.smoke else 0.1, clicks))
        with joiner, main_proc, stateless, view, \
                goka.web.serve(0 if args.smoke else args.port, processors=processors, views=[view],
                               actions=goka.web.visitor_actions(main_proc)) as web:
            log.info("monitor, query and actions at %s", web.url)
            emitter.start()
            try:
                if args.smoke:
                    smoke(web, processors, clicks or 0)
                else:
                    run_until(args, members=[*processors, view],
                              every=(args.stats_interval, lambda: log_stats(processors)))
            finally:
                stop.set()
                emitter.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
