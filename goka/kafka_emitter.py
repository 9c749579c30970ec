"""The Kafka runtime behind :class:`goka.Emitter`."""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from goka._kafka.admin import TopicManager
from goka._kafka.clients import producer

if TYPE_CHECKING:
    from goka.emitter import Emitter

__all__ = ["KafkaEmitter"]


class KafkaEmitter:
    """Produces to one topic; a background thread serves delivery reports."""

    def __init__(self, emitter: Emitter, brokers: Any) -> None:
        self.topic = emitter.topic
        self.hasher = emitter.hasher
        with TopicManager.for_brokers(brokers) as topics:
            self.num_partitions = len(topics.partitions(emitter.topic))
        self.producer = producer(brokers, client_id=f"goka-emitter-{emitter.topic}",
                                 overrides=emitter.producer_config)
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"goka-emitter-{self.topic}", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self.producer.poll(0.1)

    def emit(self, key: bytes, value: bytes | None, headers: Any) -> Future[int]:
        fut: Future[int] = Future()

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                fut.set_exception(RuntimeError(
                    f"emit to {self.topic!r} (key {key!r}) failed: {err.str()}"))
            else:
                fut.set_result(msg.offset())

        partition = self.hasher(key, self.num_partitions)
        while True:
            try:
                self.producer.produce(self.topic, value, key, partition, on_delivery=delivered, headers=headers)
                return fut
            except BufferError:
                self.producer.poll(0.05)

    def finish(self) -> None:
        self.producer.flush()
        self._closed.set()
        self._poller.join()
        del self.producer  # librdkafka destroys the client with its last reference
