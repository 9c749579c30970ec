"""Dispatcher of the per-partition bookkeeping: the twin selected for this process.

``_partition_c`` (compiled) by default, ``_partition_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["BatchAck", "Generation", "PartitionProcessor", "TableCache", "Ticket", "process_batch"]

if TYPE_CHECKING:
    from goka._core._partition_py import (
        BatchAck,
        Generation,
        PartitionProcessor,
        TableCache,
        Ticket,
        process_batch,
    )
else:
    _impl = load("partition")
    BatchAck = _impl.BatchAck
    Generation = _impl.Generation
    PartitionProcessor = _impl.PartitionProcessor
    TableCache = _impl.TableCache
    Ticket = _impl.Ticket
    process_batch = _impl.process_batch
