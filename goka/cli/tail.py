"""``goka tail TOPIC``: print the messages of a topic as they arrive."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from goka.cli._common import CODECS, add_brokers, add_codec, add_log_level, brokers_from_args, format_value
from goka.errors import GokaError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "tail", help="print the messages of a topic",
        description="Print the messages of TOPIC (all partitions) as 'p<partition>@<offset> <key>: <value>', "
                    "or JSON lines with --json, until Ctrl-C.",
        epilog="example: goka tail click-count-table --from oldest --codec int64 --exit-at-end")
    p.add_argument("topic")
    p.add_argument("--from", dest="start", choices=["oldest", "newest"], default="newest",
                   help="start at the oldest retained or at the next new message (default newest)")
    p.add_argument("--count", "-n", type=int, default=None, help="exit after this many messages")
    p.add_argument("--exit-at-end", action="store_true", help="exit once every partition is read to its end")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    add_codec(p, "string")
    add_brokers(p)
    add_log_level(p, "WARNING")
    p.set_defaults(func=run)


def _line(msg: Any, codec: Any, args: argparse.Namespace) -> str:
    key = (msg.key() or b"").decode("utf-8", "backslashreplace")
    data = msg.value()
    try:
        value = None if data is None else codec.decode(data)
        text = format_value(value, args.codec)
    except Exception as exc:
        value, text = None, f"<cannot decode with {args.codec}: {exc}>"
    if not args.json:
        return f"p{msg.partition()}@{msg.offset()} {key}: {text}"
    out: dict[str, Any] = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                           "timestamp_ms": msg.timestamp()[1], "key": key}
    out["value"] = json.loads(text) if args.codec in ("json", "msgpack", "int64") and data is not None else \
        (None if data is None else text)
    if msg.headers():
        out["headers"] = {k: (v or b"").decode("utf-8", "backslashreplace") for k, v in msg.headers()}
    return json.dumps(out, ensure_ascii=False)


def run(args: argparse.Namespace) -> int:
    from goka._kafka.admin import TopicManager
    from goka._kafka.clients import OFFSET_BEGINNING, OFFSET_END, KafkaError, TopicPartition, reader_consumer

    brokers = brokers_from_args(args)
    try:
        with TopicManager.for_brokers(brokers) as topics:
            partitions = topics.partitions(args.topic)
    except GokaError as exc:
        print(f"goka tail: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    restore = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    codec = CODECS[args.codec]()
    start = OFFSET_BEGINNING if args.start == "oldest" else OFFSET_END
    consumer = reader_consumer(brokers, client_id="goka-cli-tail")
    consumer.assign([TopicPartition(args.topic, p, start) for p in partitions])
    at_end: set[int] = set()
    printed = 0
    try:
        while not stop.is_set():
            for msg in consumer.consume(500, 0.2):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition() or 0)
                    elif err.fatal():
                        print(f"goka tail: {err.str()}", file=sys.stderr)
                        return 1
                    continue
                at_end.discard(msg.partition() or 0)
                print(_line(msg, codec, args), flush=True)
                printed += 1
                if args.count is not None and printed >= args.count:
                    return 0
            if args.exit_at_end and len(at_end) == len(partitions):
                return 0
        return 0
    except BrokenPipeError:  # e.g. `goka tail ... | head`
        return 0
    finally:
        consumer.close()
        for sig, handler in restore.items():
            signal.signal(sig, handler)
