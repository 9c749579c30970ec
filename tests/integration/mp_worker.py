"""A processor process for tests/integration/test_multiprocess.py (a script, not a test module).

    python mp_worker.py BROKERS GROUP TOPIC PATH MODE [--consumer-config JSON]

Runs ``goka.Processor(...).run()`` in the main thread, so ``run()``'s own SIGINT/SIGTERM
handling is what stops it. Modes (the input codec is always ``codec.Int64``):

- ``seqset``: the table value of a key is the sorted list (``codec.Json``) of the input
  values (sequence numbers) seen for it -- idempotent, a replay leaves it unchanged;
- ``sum``: the table value is the sum of the input values (``codec.Int64``).

Progress goes to stdout, one line per event, each written with a single ``write``
(readable while the process runs, complete up to a SIGKILL):

- ``STATE <state> [<partitions>]``  whenever ``Processor.state`` or the held partitions change;
- ``MSG <partition> <offset> <key> <value>``  for every message its callback processed;
- ``COMMIT <partition:offset,...> failed=<...> error=<...> t=<unix time>``  for every commit
  result librdkafka reports (``on_commit``).

goka's own log (INFO and up) goes to stderr.

Exit codes: 0 when ``run()`` returned (stopped by a signal), 2 when it raised
``goka.CodecError`` (its text, naming topic, partition and offset, goes to stderr as
``CodecError: ...``); any other exception propagates (traceback, exit code 1).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from typing import Any

import goka
from goka import codec

_out_lock = threading.Lock()


def say(line: str) -> None:
    data = (line + "\n").encode()
    with _out_lock:
        os.write(1, data)


def build_group(group: str, topic: str, mode: str) -> goka.GroupGraph:
    if mode == "seqset":
        def add_seq(ctx: goka.Context, seq: int) -> None:
            say(f"MSG {ctx.partition} {ctx.offset} {ctx.key} {seq}")
            seen = ctx.value() or []
            if seq not in seen:
                ctx.set_value(sorted([*seen, seq]))

        return goka.define_group(group, goka.Input(topic, codec.Int64(), add_seq), goka.Persist(codec.Json()))
    if mode == "sum":
        def add(ctx: goka.Context, value: int) -> None:
            say(f"MSG {ctx.partition} {ctx.offset} {ctx.key} {value}")
            ctx.set_value((ctx.value() or 0) + value)

        return goka.define_group(group, goka.Input(topic, codec.Int64(), add), goka.Persist(codec.Int64()))
    raise SystemExit(f"unknown mode {mode!r}")


def monitor(proc: goka.Processor, held: dict[str, Any], done: threading.Event) -> None:
    """Report state and assignment changes (the test waits on these lines)."""
    last = None
    while True:
        now = (proc.state, tuple(held["partitions"]))
        if now != last:
            say(f"STATE {now[0]} {','.join(map(str, now[1]))}")
            last = now
        if done.wait(0.02):
            return


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("brokers")
    parser.add_argument("group")
    parser.add_argument("topic")
    parser.add_argument("path")
    parser.add_argument("mode", choices=["seqset", "sum"])
    parser.add_argument("--consumer-config", default="{}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    held: dict[str, Any] = {"partitions": ()}

    def on_rebalance(assignment: dict[int, int]) -> None:
        held["partitions"] = tuple(sorted(assignment))

    def on_commit(err: Any, partitions: list[Any]) -> None:
        ok = ",".join(f"{tp.partition}:{tp.offset}" for tp in partitions if tp.error is None)
        failed = ",".join(f"{tp.partition}:{tp.offset}" for tp in partitions if tp.error is not None)
        say(f"COMMIT {ok or '-'} failed={failed or '-'} error={err.str().replace(' ', '_') if err else '-'} "
            f"t={time.time():.3f}")

    consumer_config = {**json.loads(args.consumer_config), "on_commit": on_commit}
    proc = goka.Processor(args.brokers, build_group(args.group, args.topic, args.mode), path=args.path,
                          on_rebalance=on_rebalance, consumer_config=consumer_config)
    done = threading.Event()
    watcher = threading.Thread(target=monitor, args=(proc, held, done), daemon=True)
    watcher.start()
    try:
        proc.run()
    except goka.CodecError as err:
        print(f"CodecError: {err}", file=sys.stderr, flush=True)
        return 2
    finally:
        done.set()
        watcher.join()
    say(f"STATE {proc.state} exited")
    return 0


if __name__ == "__main__":
    sys.exit(main())
