"""Dispatcher of the per-partition bookkeeping: the twin selected for this process.

``_partition_c`` (compiled) by default, ``_partition_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin. ``Generation`` and
``TableCache`` live in ``goka._core.tablecache``, ``Ticket`` and ``BatchAck`` in
``goka._core.ack``; they are re-exported here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["BatchAck", "Generation", "PartitionProcessor", "TableCache", "Ticket", "process_batch"]

if TYPE_CHECKING:
    from goka._core._ack_py import BatchAck, Ticket
    from goka._core._partition_py import PartitionProcessor, process_batch
    from goka._core._tablecache_py import Generation, TableCache
else:
    _impl = load("partition")
    PartitionProcessor = _impl.PartitionProcessor
    process_batch = _impl.process_batch
    _ack = load("ack")  # the ack types the partition twin uses (its twin of the same kind)
    BatchAck = _ack.BatchAck
    Ticket = _ack.Ticket
    _cache = load("tablecache")  # the cache the partition twin uses (its twin of the same kind)
    Generation = _cache.Generation
    TableCache = _cache.TableCache
