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

__all__ = ["CODECS", "HASHERS", "add_brokers", "add_codec", "add_log_level", "brokers_from_args",
           "format_value", "parse_pairs", "parse_settings", "parse_value", "setup_logging"]

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
    """``--brokers``, ``-X KEY=VALUE`` and ``--config FILE``; read them with :func:`brokers_from_args`."""
    default = os.environ.get("GOKA_BROKERS")
    group = parser.add_argument_group("connection")
    group.add_argument("--brokers", "-b", default=None, metavar="HOST:PORT[,...]",
                       help="Kafka bootstrap servers (default: bootstrap.servers of -X/--config, else "
                            f"$GOKA_BROKERS{' = ' + default if default else ''}, else localhost:9092)")
    group.add_argument("-X", dest="kafka_settings", action="append", metavar="KEY=VALUE",
                       help="librdkafka setting for every client, e.g. -X security.protocol=SASL_SSL "
                            "(repeatable; wins over --config)")
    group.add_argument("--config", dest="kafka_config_file", metavar="FILE",
                       help="Java-style .properties file of client settings (as the Kafka tools take: "
                            "bootstrap.servers, security.protocol, sasl.*, ssl.*, ...)")


def parse_settings(items: list[str] | None) -> dict[str, str]:
    """``-X`` items -> settings; an error names the item by position and key only (values
    may be secrets)."""
    out = {}
    for n, item in enumerate(items or (), 1):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"goka: -X takes KEY=VALUE; item {n} has no '=' after a key")
        out[key.strip()] = value
    return out


def brokers_from_args(args: argparse.Namespace) -> Any:
    """What to pass as ``brokers``: the bootstrap string, or a :class:`goka.Kafka` when
    ``-X`` or ``--config`` give settings. Bootstrap servers: ``--brokers``, else
    ``bootstrap.servers`` of -X/--config, else ``$GOKA_BROKERS``, else localhost:9092."""
    from goka.kafka import Kafka, librdkafka_settings, parse_properties

    settings: dict[str, Any] = {}
    path = getattr(args, "kafka_config_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                settings.update(parse_properties(f.read()))
        except OSError as exc:
            raise SystemExit(f"goka: cannot read --config {path}: {exc.strerror or exc}") from None
    settings.update(parse_settings(getattr(args, "kafka_settings", None)))
    from_config = settings.pop("bootstrap.servers", None) or settings.pop("metadata.broker.list", None)
    settings.pop("metadata.broker.list", None)
    bootstrap = args.brokers or from_config or os.environ.get("GOKA_BROKERS") or "localhost:9092"
    if not settings:
        return bootstrap
    try:
        return Kafka(bootstrap, librdkafka_settings(settings, source=path or "-X"))
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"goka: {exc}") from None


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
