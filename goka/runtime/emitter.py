"""The Kafka runtime behind :class:`goka.Emitter`.

Delivery reports resolve the futures ``emit`` returns. While the caller emits, reports
are served inline every few hundred emits (cheap: no thread hand-off); a background
thread serves them only when emitting pauses, so a caller waiting on a future is never
stuck. (A background thread polling all the time made every report a GIL hand-off
between two threads and emitting ~7x slower.)

``finish(timeout)`` flushes; when the timeout expires it purges what librdkafka still
holds, so that every pending future fails with :class:`goka.EmitTimeoutError` (the
purge's delivery reports carry it), and releases the producer all the same."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from goka._kafka.admin import TopicManager
from goka.errors import EmitTimeoutError
from goka.runtime.futures import AckFuture
from goka._kafka.clients import KafkaError, producer

if TYPE_CHECKING:
    from goka.emitter import Emitter

__all__ = ["KafkaEmitter"]

log = logging.getLogger("goka.emitter")

#: delivery-report errors of records purged by ``finish`` after its timeout
_PURGED = frozenset((KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT))
#: seconds ``finish`` waits for the purge's own delivery reports (local, normally instant)
PURGE_WAIT = 5.0


class _Abort:
    """Set by ``finish`` when its timeout expired: the error pending futures fail with,
    and how many did (counted by the one thread serving the purge's reports)."""

    __slots__ = ("error", "purged")

    def __init__(self) -> None:
        self.error: EmitTimeoutError | None = None
        self.purged = 0


class EmitFuture(AckFuture[int]):
    """The future of one emit: its delivery report resolves it with the record's offset.

    Each emitter uses its own subclass whose class attribute ``_abort`` it shares with
    its futures: no per-future state beyond :class:`AckFuture`'s."""

    _abort: _Abort = _Abort()  # never aborted; each emitter's subclass has its own

    def delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.resolve(msg.offset())
            return
        abort = self._abort
        error = abort.error
        if error is not None and err.code() in _PURGED:
            abort.purged += 1
            self.resolve(exception=EmitTimeoutError(error.topic, error.pending, error.timeout))
        else:
            self.resolve(exception=RuntimeError(
                f"emit to {msg.topic()!r} (key {msg.key()!r}) failed: {err.str()}"))


#: seconds without an inline poll after which the background thread serves reports
IDLE = 0.02


class KafkaEmitter:
    """Produces to one topic; a background thread serves delivery reports."""

    def __init__(self, emitter: Emitter, brokers: Any) -> None:
        self.topic = emitter.topic
        self.hasher = emitter.hasher
        with TopicManager.for_brokers(brokers) as topics:
            self.num_partitions = len(topics.partitions(emitter.topic))
        self.producer = producer(brokers, client_id=f"goka-emitter-{emitter.topic}",
                                 overrides=emitter.producer_config)
        self._abort = _Abort()
        self._future = type("EmitFuture", (EmitFuture,), {"_abort": self._abort})
        self._closed = threading.Event()
        self._emitted = 0
        self._last_emit = 0.0
        self._poller = threading.Thread(target=self._poll, name=f"goka-emitter-{self.topic}", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        closed = self._closed
        while not closed.is_set():
            if time.monotonic() - self._last_emit < IDLE:
                closed.wait(IDLE)  # the emitting thread is serving reports itself
            else:
                self.producer.poll(0.05)

    def emit(self, key: bytes, value: bytes | None, headers: Any, timestamp: int = 0) -> Future[int]:
        """Produce one record (``timestamp`` in epoch ms; 0: now)."""
        fut: EmitFuture = self._future()
        partition = self.hasher(key, self.num_partitions)
        producer = self.producer
        while True:
            try:
                if timestamp:
                    producer.produce(self.topic, value, key, partition, fut.delivered, headers=headers,
                                     timestamp=timestamp)
                elif headers is None:
                    producer.produce(self.topic, value, key, partition, fut.delivered)
                else:
                    producer.produce(self.topic, value, key, partition, fut.delivered, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        self._emitted += 1
        if not self._emitted & 255:
            producer.poll(0)
            self._last_emit = time.monotonic()
        return fut

    def finish(self, timeout: float | None) -> None:
        """Flush for up to ``timeout`` seconds (``None``: no limit); on expiry fail what is
        pending with ``EmitTimeoutError`` and raise it. The producer is released either way."""
        producer = self.producer
        try:
            pending = producer.flush() if timeout is None else producer.flush(timeout)
        finally:
            self._closed.set()
            self._poller.join()  # from here on, only this thread serves delivery reports
        try:
            if pending:
                assert timeout is not None
                error = EmitTimeoutError(self.topic, pending, timeout)
                self._abort.error = error  # before the purge: its reports carry the error
                producer.purge(in_queue=True, in_flight=True, blocking=False)
                if producer.flush(PURGE_WAIT):
                    log.warning("emitter of topic %r: purged records still unreported after %g s",
                                self.topic, PURGE_WAIT)
                purged = self._abort.purged
                if purged:  # else all were acknowledged just before the purge
                    if purged != pending:
                        error = EmitTimeoutError(self.topic, purged, timeout)
                    log.warning("%s", error)
                    raise error
        finally:
            del producer
            del self.producer  # librdkafka destroys the client with its last reference
