"""The click-count demo: emitter -> processor -> view on an in-process Kafka cluster.

``python -m goka demo`` starts an :class:`goka.EmbeddedCluster`, emits clicks for ten
users, counts them per user in a processor's group table, and prints the counts a view
of that table serves, until every click is counted (or ``--duration`` runs out).
"""
from __future__ import annotations

import logging
import random
import tempfile
import time

import goka
from goka import codec

__all__ = ["click_count_group", "run_demo"]

log = logging.getLogger("goka.demo")


def count_click(ctx: goka.Context, msg: str) -> None:
    ctx.set_value((ctx.value() or 0) + 1)


def click_count_group() -> goka.GroupGraph:
    """Go Goka's example 1/2: count clicks per user."""
    return goka.define_group(
        "click-count",
        goka.Input("user-clicks", codec.String(), count_click),
        goka.Persist(codec.Int64()),
    )


def run_demo(clicks: int = 2000, users: int = 10, duration: float = 60.0, partitions: int = 4) -> int:
    """Run the demo; returns 0 when every click was counted, 1 otherwise."""
    rng = random.Random(7)
    expected: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="goka-demo-") as path, \
            goka.EmbeddedCluster(partitions=partitions) as cluster:
        cluster.create_topic("user-clicks", partitions)
        print(f"embedded Kafka cluster at {cluster.brokers}")
        processor = goka.Processor(cluster, click_count_group(), path=f"{path}/processor")
        view = goka.View(cluster, goka.group_table("click-count"), codec.Int64(), path=f"{path}/view")
        with processor, view:
            with goka.Emitter(cluster, "user-clicks", codec.String()) as emitter:
                for i in range(clicks):
                    user = f"user-{rng.randrange(users)}"
                    expected[user] = expected.get(user, 0) + 1
                    emitter.emit(user, f"click-{i}")
            print(f"emitted {clicks} clicks for {len(expected)} users")
            deadline = time.monotonic() + duration
            shown: dict[str, int] = {}
            while time.monotonic() < deadline:
                counts = dict(view.items())
                if counts != shown:
                    shown = counts
                    print("counts:", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
                if counts == expected:
                    print(f"all {clicks} clicks counted")
                    return 0
                time.sleep(0.2)
    print(f"timed out: expected {expected}, view shows {shown}")
    return 1
