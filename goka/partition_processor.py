"""One assigned partition of a processor: dispatch, table cache, acknowledgement tracking.

The implementation (and its description: tickets, table generations, the batch outbox)
is in ``goka._core``: ``_partition_py`` (pure, the specification) and ``_partition_c``
(compiled), selected by ``goka._core.partition``.
"""
from __future__ import annotations

from goka._core.partition import BatchAck, Generation, PartitionProcessor, TableCache, Ticket, process_batch

__all__ = ["PartitionProcessor", "Ticket", "Generation", "TableCache", "BatchAck", "process_batch"]
