"""1-simplest: an emitter puts one message into a topic; a processor counts the
messages of each key in its group table.

    python examples/1-simplest/main.py                     # embedded cluster, Ctrl-C to stop
    python examples/1-simplest/main.py --brokers localhost:9092

Run it twice against the same ``--brokers``: the count of ``some-key`` goes up, because
the group table ``example-group-table`` is kept in Kafka (and locally under ``--path``,
by default goka's ``<tmp>/goka-state/processor/example-group``).
"""
from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.simplest")

TOPIC = "example-stream"
GROUP = "example-group"


def run_emitter(brokers: object) -> None:
    """Emit a single message and leave."""
    with goka.Emitter(brokers, TOPIC, codec.String()) as emitter:
        emitter.emit_sync("some-key", "some-value")
    log.info("message emitted")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    setup(args)
    processed = threading.Event()

    # Called for every message of "example-stream"; ctx.value() is the group table's
    # value of the message key, ctx.set_value() stores a new one.
    def count(ctx: goka.Context, msg: str) -> None:
        counter = (ctx.value() or 0) + 1
        ctx.set_value(counter)
        log.info("key = %s, counter = %d, msg = %s", ctx.key, counter, msg)
        processed.set()

    # The group table is the topic "example-group-table"; Int64 stores decimal text as Go's codec.Int64.
    group = goka.define_group(
        GROUP,
        goka.Input(TOPIC, codec.String(), count),
        goka.Persist(codec.Int64()),
    )

    with connect(args, streams={TOPIC: 8}, partitions=8) as brokers:
        run_emitter(brokers)
        # A new group reads its inputs from the oldest offset (goka.Offset.OLDEST, the
        # default), so the message emitted before the processor started is counted.
        with goka.Processor(brokers, group, path=local_path(args, "processor")) as processor:
            run_until(args, processed.is_set, members=[processor])
    log.info("processor stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
