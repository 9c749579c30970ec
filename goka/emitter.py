"""``goka.Emitter``: puts key-value events into one topic, partitioned like Go Goka."""
from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from datetime import datetime
from types import TracebackType
from typing import Any

from goka.errors import CodecError, EmitterClosedError
from goka.hash import Hasher, check_hasher
from goka.hash import goka as goka_hash
from goka.keys import key_bytes
from goka.window import to_ms

__all__ = ["Emitter", "FINISH_TIMEOUT"]

#: seconds ``Emitter.finish()`` (and the context manager's exit) waits by default for
#: the broker to acknowledge what is still pending
FINISH_TIMEOUT = 30.0


def _timestamp_ms(value: object) -> int:
    """A record timestamp (aware datetime or epoch ms > 0) in epoch ms."""
    if isinstance(value, bool) or not isinstance(value, (datetime, int)):
        raise TypeError(f"emit timestamp must be a timezone-aware datetime or int epoch milliseconds, "
                        f"got {type(value).__name__} ({value!r:.40})")
    ms = to_ms(value, "emit timestamp")
    if ms <= 0:
        raise ValueError(f"emit timestamp must be after 1970-01-01T00:00:00Z (Kafka takes 0 for "
                         f"'now' and has no earlier times), got {value!r}")
    return ms


class Emitter:
    """Emits to ``topic``: values encoded with ``codec``, keys hashed with ``hasher``.

    ``emit`` returns a future resolved with the record's offset once the broker
    acknowledged it; ``finish()`` flushes and closes (as the context manager's exit does).

    Parameters
    ----------
    brokers : list of str, str, goka.Kafka, goka.EmbeddedCluster or goka.tester.Tester
        A list of ``host:port``, a comma-separated string, a :class:`goka.Kafka`
        (connection settings), an EmbeddedCluster or a tester.
    topic : str
        The topic to emit to; it must exist.
    codec : goka.codec.Codec
        Encodes the values, e.g. ``codec.String()``.
    hasher : callable
        ``hasher(key, partitions) -> partition`` (default :func:`goka.hash.goka`, Go
        Goka's; the processors reading the topic must use the same).
    default_headers : mapping of str to bytes or str, optional
        Headers of every record; ``emit``'s ``headers`` override them.
    producer_config : mapping of str to any, optional
        librdkafka settings of the producer, applied last.
    """

    def __init__(
        self,
        brokers: Any,
        topic: str,
        codec: Any,
        *,
        hasher: Hasher = goka_hash,
        default_headers: Mapping[str, bytes | str] | None = None,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"topic must be a non-empty string, got {topic!r}")
        self.topic = topic
        self.codec = codec
        self.hasher = check_hasher(hasher, f"Emitter({topic!r})")
        self.default_headers = dict(default_headers or {})
        self.producer_config = dict(producer_config or {})
        self._closed = False
        factory = getattr(brokers, "_emitter_backend", None)
        if factory is not None:
            self._backend = factory(self)
        else:
            from goka.runtime.emitter import KafkaEmitter

            self._backend = KafkaEmitter(self, brokers)

    def _headers(self, headers: Mapping[str, bytes | str] | None) -> dict[str, bytes | str] | None:
        if not self.default_headers:
            return dict(headers) if headers else None
        merged = dict(self.default_headers)
        if headers:
            merged.update(headers)
        return merged

    def emit(self, key: str | bytes, value: Any, headers: Mapping[str, bytes | str] | None = None,
             timestamp: datetime | int | None = None) -> Future[int]:
        """Emit ``value`` under ``key``; a future resolved with the record's offset once
        acknowledged (or with the delivery error).

        Parameters
        ----------
        key : str or bytes
            The record's key (a ``str`` is sent as UTF-8; other types raise
            ``TypeError``); it selects the partition through the ``hasher``.
        value : any
            Encoded with the emitter's codec; ``None`` emits a tombstone.
        headers : mapping of str to bytes or str, optional
            Record headers, merged over ``default_headers``.
        timestamp : datetime.datetime or int, optional
            The record's timestamp (event time, which drives windows): a timezone-aware
            datetime or epoch milliseconds; default: now (set by the producer).

        Raises
        ------
        EmitterClosedError
            After ``finish()``.
        CodecError
            If the codec cannot encode ``value``.
        """
        if self._closed:
            raise EmitterClosedError(f"emitter of topic {self.topic!r} is finished; create a new one")
        kbytes = key.encode("utf-8", "surrogateescape") if type(key) is str else key_bytes(key, "emit key")
        if value is None:
            data = None
        else:
            try:
                data = self.codec.encode(value)
            except CodecError as exc:
                raise exc.located(topic=self.topic, key=key) from exc.__cause__
            except Exception as exc:
                raise CodecError(f"cannot encode {type(value).__name__} value: {exc}", codec=self.codec,
                                 topic=self.topic, key=key) from exc
        if timestamp is not None:
            return self._backend.emit(kbytes, data, self._headers(headers),  # type: ignore[no-any-return]
                                      timestamp=_timestamp_ms(timestamp))
        if headers or self.default_headers:
            return self._backend.emit(kbytes, data, self._headers(headers))  # type: ignore[no-any-return]
        return self._backend.emit(kbytes, data, None)  # type: ignore[no-any-return]

    def emit_sync(self, key: str | bytes, value: Any, headers: Mapping[str, bytes | str] | None = None,
                  timeout: float | None = 30.0, timestamp: datetime | int | None = None) -> int:
        """Emit and wait for the acknowledgement; returns the record's offset.

        Parameters
        ----------
        key : str or bytes
            The record's key, as for :meth:`emit`.
        value : any
            Encoded with the emitter's codec; ``None`` emits a tombstone.
        headers : mapping of str to bytes or str, optional
            Record headers, merged over ``default_headers``.
        timeout : float, optional
            Seconds to wait for the acknowledgement (``None``: no limit), after which
            ``TimeoutError`` is raised (the record may still be written).
        timestamp : datetime.datetime or int, optional
            The record's timestamp, as for :meth:`emit`.
        """
        return self.emit(key, value, headers, timestamp).result(timeout)

    def finish(self, timeout: float | None = FINISH_TIMEOUT) -> None:
        """Wait until the broker acknowledged every pending emit, then close and release
        the producer; later emits raise ``EmitterClosedError``. Calling it again does nothing.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait (default :data:`FINISH_TIMEOUT`, 30 s; ``None``: no limit).
            When it expires, every future still pending fails with
            :class:`goka.EmitTimeoutError` (naming the topic and how many records were
            pending), the emitter is closed all the same, and ``finish`` raises that error.
        """
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
        if not self._closed:
            self._closed = True
            self._backend.finish(timeout)

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # FINISH_TIMEOUT read now (not bound at definition); call finish(timeout) inside the
        # block for another limit. Raises EmitTimeoutError when it expires.
        self.finish(FINISH_TIMEOUT)
