"""A processor's consumed records: pure twin of ``_consume_c`` and its specification (see
``goka._core``); imported through ``goka._core.consume``.

A :class:`PartitionQueues` belongs to one processor's group consumer
(``goka.runtime.processor``), used only from the processor's thread.
``add(topic, partition)`` is called from the assignment callback, *before* the partition
is assigned; it returns True when the partition's records will come off its own queue
from then on (until :meth:`remove`), False when they keep arriving through the consumer
queue. ``remove(topic, partition)`` is called from the revocation callback: what the
partition's queue still holds is discarded, as librdkafka discards a revoked partition's
records from the consumer queue, and the partition goes back to the consumer queue (as after
:meth:`close`: a partition assigned again without :meth:`add`, or consumed after
:meth:`close`, comes through ``consume``). :meth:`consume` returns up to ``max_records`` consumed
records: whatever is available without waiting; if nothing is, it waits at most
``timeout`` seconds for the first. Each record has the methods of confluent-kafka's
``Message`` goka reads (``error``, ``topic``, ``partition``, ``offset``, ``key``,
``value``, ``timestamp``, ``headers``), with the same values; an error or event
(``error()`` not None) is a record too, in its place. A partition's records come in
offset order. The consumer queue is served first in each call (rebalance, error, commit
and log callbacks run inside it, as in ``consume``), so the records of a call are
processed before the next rebalance callback runs. :meth:`close` before the consumer
closes.

This twin never splits a partition: every record is a confluent-kafka ``Message`` from
``consume``/``poll`` (today's path), the behaviour the compiled twin must match. The
compiled twin takes each assigned partition's queue off the consumer queue
(``rd_kafka_queue_get_partition`` + ``rd_kafka_queue_forward(q, NULL)``) and reads it
with ``rd_kafka_consume_batch_queue``: one small record object per record, built from
librdkafka's buffers, the message destroyed right after.
"""
from __future__ import annotations

from typing import Any

from goka._core._splitqueue_py import SplitQueues

__all__ = ["PartitionQueues"]


class PartitionQueues(SplitQueues):
    """Per-partition queues of ``consumer`` (see the module docstring; ``len``, ``add``,
    ``remove`` and ``close`` are :class:`~goka._core._splitqueue_py.SplitQueues`').
    ``functions`` holds the librdkafka entry points the compiled twin calls and
    ``make_error(code, text)`` builds the error object of an error record
    (confluent-kafka's ``KafkaError``); both unused here."""

    def __init__(self, consumer: Any, functions: dict[str, int] | None = None, make_error: Any = None) -> None:
        super().__init__(consumer)

    def consume(self, max_records: int, timeout: float) -> list[Any]:
        consumer = self.consumer
        msgs: list[Any] = consumer.consume(max_records, 0)
        if msgs:
            return msgs
        first = consumer.poll(timeout)
        if first is None:
            return []
        return [first, *consumer.consume(max_records - 1, 0)]
