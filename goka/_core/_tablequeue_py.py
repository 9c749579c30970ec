"""Table records taken off per-partition queues: pure twin of ``_tablequeue_c`` and its
specification (see ``goka._core``); imported through ``goka._core.tablequeue``.

A :class:`TableQueues` belongs to one table reader's consumer (``goka.runtime.table``).
``add(topic, partition)`` is called *before* the partition is assigned; it returns True
when the partition's records will come from :meth:`drain` from then on (until
:meth:`remove`), False when they keep arriving through the consumer's own ``consume``.
:meth:`drain` returns ``(batches, events)``: per split partition with records, one
``(topic, partition, pairs, last_offset, plain)`` -- ``pairs`` the ``(key, value)`` of
each record in offset order, a missing key as ``b""``, a tombstone's value as ``None``
(what ``goka._core.messages.key_values`` gives for consumed messages); ``plain`` True when
no pair is a tombstone and no key is empty (the batch is all puts of keys LMDB can hold:
``goka.storage.lmdb.LMDBStorage.write_puts``) -- and per error or
end-of-partition event ``(topic, partition, code, offset, text)`` (librdkafka's error
code, e.g. ``-191`` for the end of a partition, with the offset it carries). A partition's
records in a batch precede its events. :meth:`wait` blocks up to ``timeout`` seconds
until a split partition has something to drain. :meth:`close` before the consumer closes.

This twin never splits a partition: every record goes through confluent-kafka's
``consume`` as one ``Message``, which is the behaviour the compiled twin must match.
The compiled twin takes each partition's queue off the consumer queue in librdkafka
(``rd_kafka_queue_get_partition`` + ``rd_kafka_queue_forward(q, NULL)``, before the
assignment, so no record of the partition was ever put on the consumer queue) and reads
it with ``rd_kafka_consume_batch_queue``: no Python object per record beyond its key
and value.
"""
from __future__ import annotations

from typing import Any

from goka._core._splitqueue_py import SplitQueues

__all__ = ["TableQueues"]

Batch = tuple[str, int, list[tuple[bytes, "bytes | None"]], int, bool]
Event = tuple[str, int, int, int, str]


class TableQueues(SplitQueues):
    """Per-partition queues of ``consumer`` (see the module docstring; ``len``, ``add``,
    ``remove`` and ``close`` are :class:`~goka._core._splitqueue_py.SplitQueues`').
    ``functions`` holds the librdkafka entry points the compiled twin calls; unused here."""

    def __init__(self, consumer: Any, functions: dict[str, int] | None = None) -> None:
        super().__init__(consumer)

    def drain(self, max_records: int) -> tuple[list[Batch], list[Event]]:
        return [], []

    def wait(self, timeout: float) -> None:
        return None
