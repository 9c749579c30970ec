"""Dispatcher of the per-partition bookkeeping: the twin selected for this process.

``_partition_c`` (compiled) by default, ``_partition_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin. ``Generation`` and
``TableCache`` live in ``goka._core.tablecache`` and are re-exported here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["BatchAck", "Generation", "PartitionProcessor", "TableCache", "Ticket", "process_batch"]

if TYPE_CHECKING:
    from goka._core._partition_py import BatchAck, PartitionProcessor, Ticket, process_batch
    from goka._core._tablecache_py import Generation, TableCache
else:
    _impl = load("partition")
    BatchAck = _impl.BatchAck
    PartitionProcessor = _impl.PartitionProcessor
    Ticket = _impl.Ticket
    process_batch = _impl.process_batch
    _cache = load("tablecache")  # the cache the partition twin uses (its twin of the same kind)
    Generation = _cache.Generation
    TableCache = _cache.TableCache
