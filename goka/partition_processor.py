"""One assigned partition of a processor: dispatch, table cache, acknowledgement tracking.

For the messages of one input topic in one consumed batch, a :class:`Ticket` counts
what they still wait for: each record their callbacks produced (table write, emit,
loopback) until the broker acknowledges it, and each ``ctx.defer_commit()`` until
``done()`` is called. A ticket covers the offsets up to its last successfully processed
message. Input offsets are committed over the contiguous prefix of finished tickets, so
a commit never passes a message whose effects are not all acknowledged, nor a message
whose callback failed. (One ticket per batch rather than per message: the bookkeeping
cost per message is a counter increment.)

Table writes of one consumed batch form a :class:`Generation`. The callback sees them at
once (``ctx.value()`` reads the newest generation first), but they reach local storage
only when all their changelog records are acknowledged -- in one storage transaction
together with the changelog offset. Local storage is therefore always a prefix of the
changelog, and recovery from the stored offset + 1 is exact.

The implementation is in ``goka._core``: ``_partition_py`` (pure, the specification) and
``_partition_c`` (compiled), selected by ``goka._core.partition``.
"""
from __future__ import annotations

from goka._core.partition import BatchAck, Generation, PartitionProcessor, TableCache, Ticket

__all__ = ["PartitionProcessor", "Ticket", "Generation", "TableCache", "BatchAck"]
