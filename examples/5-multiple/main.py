"""5-multiple: one processor group with two inputs, run as several instances that
share the partitions (the consumer group rebalances as instances come and go), a view
of its table, and goka.web's monitor, query and metrics pages for all of them.

    python examples/5-multiple/main.py --instances 3      # instances start 3 s apart
    python examples/5-multiple/main.py --brokers localhost:9092   # run this in several terminals

Each instance keeps its table partitions in a directory of its own, so any number of
them can run on one machine.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
import goka.web  # noqa: E402
from _support import connect, group_config, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.multiple")

INPUT_A = "input-A"
INPUT_B = "input-B"
GROUP = "multiInput"


class User(msgspec.Struct):
    Clicks: int = 0


USER_CODEC = codec.Json(type=User)


def process(ctx: goka.Context, msg: str) -> None:
    user: User = ctx.value() or User()
    user.Clicks += 1
    ctx.set_value(user)


GRAPH = goka.define_group(
    GROUP,
    goka.Input(INPUT_A, codec.String(), process),
    goka.Input(INPUT_B, codec.String(), process),
    goka.Persist(USER_CODEC),
)


def emit(brokers: Any, start: int, stop: Callable[[int], bool], interval: float, expected: Counter[str]) -> int:
    """Emit to input-A (keys user-0..49) and input-B (keys user-0..59) until ``stop(i)``."""
    with goka.Emitter(brokers, INPUT_A, codec.String()) as a, goka.Emitter(brokers, INPUT_B, codec.String()) as b:
        i = start
        while not stop(i):
            key_a, key_b, value = f"user-{i % 50}", f"user-{i % 60}", time.strftime("%H:%M:%S")
            a.emit(key_a, value)
            b.emit(key_b, value)
            expected.update([key_a, key_b])
            i += 1
            if interval:
                time.sleep(interval)  # pacing, as Go's ticker
    return i


class Instance:
    """One member of the group, with storage in a random directory (Go: randomStorageBuilder)."""

    def __init__(self, number: int, brokers: Any, args: argparse.Namespace) -> None:
        self.number = number
        root = local_path(args, "") or tempfile.gettempdir()
        os.makedirs(root, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=f"goka-{int(time.time())}-proc{number}-", dir=root)
        self.processor = goka.Processor(brokers, GRAPH, path=self.path, consumer_config=group_config(brokers),
                                        on_rebalance=self.rebalanced)

    def rebalanced(self, assignment: dict[int, int]) -> None:
        log.info("instance %d holds partitions %s", self.number, sorted(assignment))

    def partitions(self) -> list[int]:
        return list(self.processor.stats().get("active", []))

    def settled(self) -> bool:
        """Whether the offset of every message processed so far is committed."""
        return all(p["committed"].get(topic, -1) > offset for p in self.processor.stats()["partitions"].values()
                   for topic, offset in p["last_offset"].items())


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--instances", type=int, default=2, help="processor instances in this process")
    p.add_argument("--port", type=int, default=0, help="HTTP port of the web pages (default: any free port)")
    args = p.parse_args(argv)
    setup(args)
    expected: Counter[str] = Counter()
    with connect(args, streams={INPUT_A: 8, INPUT_B: 8}, partitions=8) as brokers:
        instances = [Instance(1, brokers, args)]
        view = goka.View(brokers, goka.group_table(GROUP), USER_CODEC, path=local_path(args, "view"))
        web = goka.web.serve(args.port, processors=[instances[0].processor], views=[view])
        log.info("monitor at %smonitor, query at %squery", web.url, web.url)

        def add_instance() -> None:
            instance = Instance(len(instances) + 1, brokers, args)
            instances.append(instance)
            web.attach_processor(instance.processor, name=f"{GROUP} (instance {instance.number})")
            instance.processor.start()

        instances[0].processor.start()
        view.start()
        try:
            if args.smoke:  # half the clicks, a second instance joins, the other half
                members: list[goka.Processor | goka.View] = [instances[0].processor, view]

                def counted() -> bool:  # every click is in the table and its offset committed
                    clicks = sum(u.Clicks for _, u in view.items())
                    return clicks == sum(expected.values()) and all(i.settled() for i in instances)

                emit(brokers, 0, lambda i: i >= 60, 0, expected)
                # Let the commits land before the group changes: the embedded cluster refuses
                # commits during a rebalance, and whatever is not committed then is processed
                # again by the partition's next owner (at-least-once).
                run_until(args, counted, members=members)
                add_instance()
                members.append(instances[1].processor)
                run_until(args, lambda: all(i.partitions() for i in instances), members=members)
                emit(brokers, 60, lambda i: i >= 120, 0, expected)
                run_until(args, counted, members=members)
                log.info("all %d clicks counted by %d instances: %s", sum(expected.values()), len(instances),
                         ", ".join(f"instance {i.number} holds {i.partitions()}" for i in instances))
                log.info("query user-7: %s", view.get("user-7"))
            else:
                stop = threading.Event()
                emitter = threading.Thread(target=emit, args=(brokers, 0, lambda i: stop.is_set(), 0.1, expected),
                                           name="emitter")
                emitter.start()
                try:
                    for _ in range(args.instances - 1):  # more instances join one by one
                        if stop.wait(3) or any(i.processor.state == "stopped" for i in instances):
                            break
                        add_instance()
                    run_until(args, members=[i.processor for i in instances] + [view])
                finally:
                    stop.set()
                    emitter.join()
        finally:
            web.stop()
            view.stop()
            with ThreadPoolExecutor() as pool:  # leave the group together: one rebalance less
                list(pool.map(lambda i: i.processor.stop(), instances))
    return 0


if __name__ == "__main__":
    sys.exit(main())
