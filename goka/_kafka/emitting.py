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

from goka._kafka.clients import Producer, librdkafka_functions

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
    if EmitPath is _emit_py.EmitPath:
        return EmitPath(*args)
    functions = _emit_functions()
    if functions is None:
        return _emit_py.EmitPath(*args)
    try:
        return EmitPath(*args, functions)
    except ValueError as exc:
        logging.getLogger("goka.kafka").debug("emitter of %r on Producer.produce: %s", topic, exc)
        return _emit_py.EmitPath(*args)
