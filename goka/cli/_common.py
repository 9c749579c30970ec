"""What the ``goka`` commands share: broker and codec options, logging, value formatting."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from goka import codec, hash

__all__ = ["CODECS", "HASHERS", "add_brokers", "add_codec", "add_log_level", "format_value",
           "parse_pairs", "parse_value", "setup_logging"]

#: ``--codec`` choices
CODECS: dict[str, Callable[[], Any]] = {
    "string": codec.String, "int64": codec.Int64, "json": codec.Json, "msgpack": codec.MsgPack,
    "bytes": codec.Bytes,
}

#: ``--hasher`` choices (the partitioner producers of the topic use)
HASHERS: dict[str, Callable[[bytes | str, int], int]] = {
    "goka": hash.goka, "murmur2": hash.murmur2, "crc32": hash.crc32,
}

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
WORKER_LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(processName)s] %(name)s: %(message)s"


def add_brokers(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("GOKA_BROKERS", "localhost:9092")
    parser.add_argument("--brokers", "-b", default=default, metavar="HOST:PORT[,...]",
                        help=f"Kafka bootstrap servers (env GOKA_BROKERS; default {default})")


def add_codec(parser: argparse.ArgumentParser, default: str, what: str = "values") -> None:
    parser.add_argument("--codec", "-c", choices=sorted(CODECS), default=default,
                        help=f"codec of the {what} (default {default})")


def add_log_level(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--log-level", default=default, type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help=f"logging level (default {default})")


def setup_logging(level: str, fmt: str = LOG_FORMAT) -> None:
    """Log to stderr; librdkafka's own lines only from WARNING up unless DEBUG."""
    logging.basicConfig(level=getattr(logging, level), format=fmt, stream=sys.stderr, force=True)
    if level != "DEBUG":
        logging.getLogger("goka.kafka.rdkafka").setLevel(logging.WARNING)


def parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (argparse error on a missing ``=``)."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"goka: {what} must look like KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def parse_value(text: str, codec_name: str) -> Any:
    """A value typed on the command line, as the codec's Python type."""
    if codec_name == "int64":
        return int(text)
    if codec_name in ("json", "msgpack"):
        return json.loads(text)
    if codec_name == "bytes":
        return text.encode()
    return text


def format_value(value: Any, codec_name: str) -> str:
    """A decoded value for the terminal: JSON for structured codecs, text otherwise."""
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if codec_name in ("json", "msgpack"):
        import msgspec

        return json.dumps(msgspec.to_builtins(value), ensure_ascii=False)
    return str(value)
