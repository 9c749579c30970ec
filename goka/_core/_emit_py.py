"""One emit, from the caller's key and value to the producer: pure twin of ``_emit_c`` and
its specification (see ``goka._core``); imported through ``goka._core.emit``.

:class:`EmitPath` ``emit(key, value, headers, timestamp)`` does everything
``goka.Emitter.emit`` does for a Kafka emitter, in this order: refuse a finished emitter
(:class:`~goka.errors.EmitterClosedError`), turn the key into bytes (``TypeError`` for
other types), encode the value with the codec (``None``: a tombstone; failures are a
:class:`~goka.errors.CodecError` naming topic and key), merge the headers over the
default ones, check the timestamp, hash the key to a partition, create the future
(``future()``, resolved by its ``delivered(err, msg)`` delivery report) and queue the
record on the confluent-kafka ``producer`` (polling while its queue is full). Every 256
emits it serves delivery reports inline (``producer.poll(0)``) and records the time in
``last_emit``, which tells the emitter's background poller to stay out of the way.

The compiled twin does the same in C: it queues the common record (no headers) with
``rd_kafka_producev`` itself and resolves successful deliveries without a Python frame;
anything unusual (headers, a refused record, a hasher returning something odd) goes
through confluent-kafka's ``produce`` as here, so errors are the same.

The helpers (:func:`encode_value`, :func:`merge_headers`, :func:`timestamp_ms`) are
shared by both twins and by emitters on other backends (the tester).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from typing import Any

from goka.errors import CodecError, EmitterClosedError
from goka.keys import key_bytes

__all__ = ["EmitPath", "encode_value", "merge_headers", "timestamp_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def encode_value(codec: Any, topic: str, key: str | bytes, value: Any) -> bytes:
    """``codec.encode(value)``; a failure is a :class:`CodecError` naming ``topic`` and ``key``."""
    try:
        return codec.encode(value)  # type: ignore[no-any-return]
    except CodecError as exc:
        raise exc.located(topic=topic, key=key) from exc.__cause__
    except Exception as exc:
        raise CodecError(f"cannot encode {type(value).__name__} value: {exc}", codec=codec,
                         topic=topic, key=key) from exc


def merge_headers(default: Mapping[str, bytes | str], headers: Mapping[str, bytes | str] | None
                  ) -> dict[str, bytes | str] | None:
    """``headers`` over ``default`` (a new dict), or ``None`` if both are empty."""
    if not default:
        return dict(headers) if headers else None
    merged = dict(default)
    if headers:
        merged.update(headers)
    return merged


def timestamp_ms(timestamp: int | datetime, topic: str) -> int:
    """A record timestamp as milliseconds since the epoch (> 0): an ``int`` as it is, an
    aware ``datetime`` converted (sub-millisecond parts dropped).

    Raises ``TypeError`` for other types (``bool`` too) and ``ValueError`` for a naive
    ``datetime`` or a timestamp at or before the epoch (librdkafka reads 0 as "now")."""
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise ValueError(f"emit to {topic!r}: timestamp must be an aware datetime (with tzinfo), "
                             f"got naive {timestamp!r}")
        ms = (timestamp - _EPOCH) // _MS
    elif isinstance(timestamp, int) and not isinstance(timestamp, bool):
        ms = int(timestamp)
    else:
        raise TypeError(f"emit to {topic!r}: timestamp must be int milliseconds since the epoch, an aware "
                        f"datetime or None, got {type(timestamp).__name__}")
    if not 0 < ms < 1 << 63:
        raise ValueError(f"emit to {topic!r}: timestamp must be after the epoch, got {timestamp!r}")
    return ms


class EmitPath:
    """Emits to ``topic`` on ``producer`` (a confluent-kafka ``Producer``); see the module
    docstring. ``future`` creates the future of one emit (its ``delivered`` method is the
    delivery callback); ``functions`` holds the librdkafka entry points the compiled twin
    calls, unused here."""

    def __init__(self, producer: Any, topic: str, codec: Any, hasher: Callable[[bytes, int], int],
                 partitions: int, default_headers: Mapping[str, bytes | str],
                 future: Callable[[], Any], functions: dict[str, int] | None = None) -> None:
        self.producer = producer
        self.topic = topic
        self.codec = codec
        self.hasher = hasher
        self.partitions = partitions
        self.default_headers = dict(default_headers)
        self.future = future
        #: set by :meth:`release`: emits raise ``EmitterClosedError`` from then on
        self.closed = False
        #: ``refused(exc, key, partition)``: the error to raise for a record the producer
        #: refuses (None: raise ``exc`` as it is); set by ``goka._kafka.emitting``
        self.refused: Callable[[Exception, bytes, int], Exception | None] | None = None
        #: emits so far
        self.emitted = 0
        #: ``time.monotonic()`` of the last inline poll
        self.last_emit = 0.0

    def emit(self, key: str | bytes, value: Any, headers: Mapping[str, bytes | str] | None = None,
             timestamp: int | datetime | None = None) -> Future[int]:
        """Queue one record; its future (see the module docstring)."""
        if self.closed:
            raise EmitterClosedError(f"emitter of topic {self.topic!r} is finished; create a new one")
        kbytes = key.encode("utf-8", "surrogateescape") if type(key) is str else key_bytes(key, "emit key")
        data = None if value is None else encode_value(self.codec, self.topic, key, value)
        merged = merge_headers(self.default_headers, headers) if headers or self.default_headers else None
        ts = 0 if timestamp is None else timestamp_ms(timestamp, self.topic)
        fut = self.future()
        partition = self.hasher(kbytes, self.partitions)
        producer = self.producer
        while True:
            try:
                if merged is None and not ts:
                    producer.produce(self.topic, data, kbytes, partition, fut.delivered)
                else:
                    producer.produce(self.topic, data, kbytes, partition, fut.delivered, timestamp=ts,
                                     headers=merged)
                break
            except BufferError:
                producer.poll(0.05)
            except Exception as exc:
                err = None if self.refused is None else self.refused(exc, kbytes, partition)
                if err is None:
                    raise
                raise err from exc
        self.emitted += 1
        if not self.emitted & 255:
            producer.poll(0)
            self.last_emit = time.monotonic()
        return fut  # type: ignore[no-any-return]

    def release(self) -> None:
        """Close for good and drop the producer (no emit runs at the same time)."""
        self.closed = True
        self.producer = None
