"""Per-partition queues split off a consumer's queue: the part both queue readers share.
Pure twin of ``_splitqueue_c`` and its specification (see ``goka._core``); imported
through ``goka._core.splitqueue``.

:class:`SplitQueues` is the base of ``PartitionQueues`` (``goka._core._consume_py``, a
processor's records) and ``TableQueues`` (``goka._core._tablequeue_py``, a table
reader's pairs), which add how the split queues are read (read their module docstrings
for the contracts). ``add(topic, partition)`` is called *before* the partition is
assigned; it returns True when the partition's records come off its own queue from then
on (until :meth:`remove`), False when they keep arriving through the consumer's
``consume``. ``len()`` is how many partitions are split. :meth:`close` before the consumer
closes.

This twin never splits a partition (every record goes through ``consume``), the
behaviour the compiled twin must match; the compiled twin holds the wake-up pipe and the
librdkafka queues (see ``_splitqueue_c.pyx``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["SplitQueues"]


class SplitQueues:
    """Per-partition queues of ``consumer`` (see the module docstring)."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer

    def __len__(self) -> int:
        """How many partitions are split."""
        return 0

    def add(self, topic: str, partition: int) -> bool:
        return False

    def remove(self, topic: str, partition: int) -> None:
        return None

    def close(self) -> None:
        return None
