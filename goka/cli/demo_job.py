"""The click-count demo: emitter -> processor -> view on an in-process Kafka cluster.

``python -m goka demo`` starts an :class:`goka.EmbeddedCluster`, emits clicks for ten
users, counts them per user in a processor's group table, and prints the counts a view
of that table serves, until every click is counted.

With ``--duration S`` or ``--web PORT`` it streams clicks instead (``--rate`` per second)
for S seconds or until Ctrl-C, printing the counts as they change, then checks that
every click was counted; ``--web`` also serves the monitor, query and actions pages
(actions: ``burst`` emits a batch of clicks, ``visit-reset`` zeroes every count).
"""
from __future__ import annotations

import logging
import random
import signal
import tempfile
import threading
import time
from typing import Any

import goka
from goka import codec

__all__ = ["click_count_group", "demo_group", "run_demo"]

log = logging.getLogger("goka.cli.demo_job")

USERS = 10
DRAIN_TIMEOUT = 60.0


def count_click(ctx: goka.Context, msg: str) -> None:
    ctx.set_value((ctx.value() or 0) + 1)


def reset_count(ctx: goka.Context, value: Any) -> None:
    ctx.set_value(int(value) if isinstance(value, int) else 0)


def click_count_group() -> goka.GroupGraph:
    """Go Goka's example 1/2: count clicks per user."""
    return goka.define_group(
        "click-count",
        goka.Input("user-clicks", codec.String(), count_click),
        goka.Persist(codec.Int64()),
    )


def demo_group() -> goka.GroupGraph:
    """The click counter with a ``reset`` visitor (run from the web actions page)."""
    return goka.define_group(
        "click-count",
        goka.Input("user-clicks", codec.String(), count_click),
        goka.Persist(codec.Int64()),
        goka.Visitor("reset", reset_count),
    )


class _Clicks:
    """Emits clicks for random users and remembers how many each got."""

    def __init__(self, emitter: goka.Emitter, seed: int = 7) -> None:
        self.emitter = emitter
        self.rng = random.Random(seed)
        self.expected: dict[str, int] = {}
        self.sent = 0
        self.closed = False
        self.lock = threading.Lock()

    def finish(self) -> None:
        with self.lock:
            self.closed = True
            self.emitter.finish()

    def emit(self, n: int) -> None:
        with self.lock:
            if self.closed:
                raise RuntimeError("the demo is stopping: no more clicks")
            for _ in range(n):
                user = f"user-{self.rng.randrange(USERS)}"
                self.expected[user] = self.expected.get(user, 0) + 1
                self.emitter.emit(user, f"click-{self.sent}")
                self.sent += 1


def _show(counts: dict[str, int]) -> None:
    print("counts:", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)


def _wait_counted(view: goka.View, clicks: _Clicks, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    shown: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = dict(view.items())
        if counts != shown:
            shown = counts
            _show(counts)
        if counts == clicks.expected:
            return True
        time.sleep(interval)
    print(f"timed out: expected {clicks.expected}, view shows {shown}")
    return False


def run_demo(clicks: int = 2000, duration: float | None = None, web: int | None = None,
             rate: float = 200.0, partitions: int = 4) -> int:
    """Run the demo; returns 0 when every click was counted, 1 otherwise (see module doc)."""
    with tempfile.TemporaryDirectory(prefix="goka-demo-") as path, \
            goka.EmbeddedCluster(partitions=partitions) as cluster:
        cluster.create_topic("user-clicks", partitions)
        print(f"embedded Kafka cluster at {cluster.brokers}", flush=True)
        processor = goka.Processor(cluster, demo_group(), path=f"{path}/processor")
        view = goka.View(cluster, goka.group_table("click-count"), codec.Int64(), path=f"{path}/view")
        with processor, view, goka.Emitter(cluster, "user-clicks", codec.String()) as emitter:
            if not view.wait_recovered(DRAIN_TIMEOUT):  # reads raise NotRecoveredError until then
                print(f"the view did not recover within {DRAIN_TIMEOUT:g} s")
                return 1
            source = _Clicks(emitter)
            if duration is None and web is None:
                source.emit(clicks)
                source.finish()
                print(f"emitted {clicks} clicks for {len(source.expected)} users", flush=True)
                if _wait_counted(view, source, DRAIN_TIMEOUT):
                    print(f"all {clicks} clicks counted")
                    return 0
                return 1
            return _stream(processor, view, source, duration, web, rate)


def _stream(processor: goka.Processor, view: goka.View, source: _Clicks, duration: float | None,
            web: int | None, rate: float) -> int:
    from goka.web import Action, serve, visitor_actions

    stop = threading.Event()
    restore = {}
    if threading.current_thread() is threading.main_thread():
        restore = {sig: signal.signal(sig, lambda signum, frame: stop.set())
                   for sig in (signal.SIGINT, signal.SIGTERM)}
    reset = threading.Event()
    def burst(value: str, _: threading.Event) -> str:
        source.emit(int(value or 1000))
        return f"emitted {value or 1000} clicks"

    actions = [Action("burst", burst, "emit a batch of clicks (value: how many, default 1000)")]
    for action in visitor_actions(processor):
        inner = action.func

        def run_reset(value: str, ev: threading.Event, inner: Any = inner) -> Any:
            reset.set()
            return inner(value, ev)

        action.func = run_reset
        actions.append(action)
    server = serve(web, processors=[processor], views=[view], actions=actions) if web is not None else None
    if server is not None:
        print(f"monitor: {server.url}  (query: {server.url}query, actions: {server.url}actions, "
              f"metrics: {server.url}metrics)", flush=True)
    until = "Ctrl-C" if duration is None else f"{duration:g} s or Ctrl-C"
    print(f"emitting ~{rate:g} clicks/s for {USERS} users until {until}", flush=True)
    deadline = None if duration is None else time.monotonic() + duration
    step, last_show = 0.05, 0.0
    shown: dict[str, int] = {}
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            source.emit(max(1, round(rate * step)))
            now = time.monotonic()
            if now - last_show >= 1.0:
                counts = dict(view.items())
                if counts != shown:
                    shown, last_show = counts, now
                    _show(counts)
            stop.wait(step)
        source.finish()
        print(f"emitted {source.sent} clicks; waiting until all are counted", flush=True)
        if reset.is_set():
            print("counts were reset by an action: not comparing them with the clicks sent")
            return 0
        if _wait_counted(view, source, DRAIN_TIMEOUT):
            print(f"all {source.sent} clicks counted")
            return 0
        return 1
    finally:
        if server is not None:
            server.stop()
        for sig, handler in restore.items():
            signal.signal(sig, handler)
