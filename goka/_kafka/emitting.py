"""The emit path of a ``goka.Emitter`` on its confluent-kafka producer.

:func:`emit_path` builds a ``goka._core.emit.EmitPath``: the compiled twin queues records
through librdkafka's ``rd_kafka_producev`` on the producer's own client (with
confluent-kafka's per-message state, so confluent-kafka still serves every delivery
report) where :func:`goka._kafka.clients.librdkafka_functions` finds the library; the pure
twin (and the fallback) goes through ``Producer.produce``.
"""
from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from goka._kafka.clients import KafkaException, Producer, librdkafka_functions
from goka.errors import ProduceError

__all__ = ["emit_path"]

_functions: dict[str, int] | None = None
_looked_up = False


def _emit_functions() -> dict[str, int] | None:
    """:func:`librdkafka_functions` plus ``rd_kafka_producev``, or None."""
    global _functions, _looked_up
    if _looked_up:
        return _functions
    _looked_up = True
    base = librdkafka_functions()
    if base is None:
        return None
    from goka._kafka.mock import MockClusterError, library_path

    try:
        lib = ctypes.CDLL(library_path(), mode=os.RTLD_NOLOAD)
        producev = ctypes.cast(lib.rd_kafka_producev, ctypes.c_void_p).value or 0
    except (OSError, AttributeError, MockClusterError) as exc:
        logging.getLogger("goka.kafka").debug("rd_kafka_producev not available: %s", exc)
        return None
    if not producev:
        return None
    _functions = {**base, "rd_kafka_producev": producev}
    return _functions


def emit_path(producer: Producer, topic: str, codec: Any, hasher: Callable[[bytes, int], int], partitions: int,
              default_headers: Mapping[str, bytes | str], future: Callable[[], Any]) -> Any:
    """An ``EmitPath`` (``goka._core.emit``) emitting to ``topic`` on ``producer``: the
    compiled twin where the librdkafka entry points are found and the producer's layout is
    recognized, else the pure twin."""
    from goka._core import _emit_py
    from goka._core.emit import EmitPath

    args = (producer, topic, codec, hasher, partitions, default_headers, future)
    functions = None if EmitPath is _emit_py.EmitPath else _emit_functions()
    path: Any = None
    if functions is not None:
        try:
            path = EmitPath(*args, functions)
        except ValueError as exc:
            logging.getLogger("goka.kafka").debug("emitter of %r on Producer.produce: %s", topic, exc)
    if path is None:
        path = _emit_py.EmitPath(*args)
    path.refused = _refusal(topic)
    return path


def _refusal(topic: str) -> Callable[[Exception, bytes, int], Exception | None]:
    """The ``refused`` hook of an emit path: confluent-kafka's ``KafkaException`` for a
    record the producer refuses at once (larger than ``message.max.bytes``, unknown
    partition, ...) becomes a :class:`goka.ProduceError` naming topic, partition, key and
    the Kafka error code; other errors pass as they are."""

    def refused(exc: Exception, key: bytes, partition: int) -> Exception | None:
        if not isinstance(exc, KafkaException) or not exc.args:
            return None
        error = exc.args[0]
        return ProduceError(f"the producer refused the record: {error.str()} ({error.name()})",
                            produce_topic=topic, produce_partition=partition, key=key, code=error.code())

    return refused
