"""Records a processor consumes, off per-partition queues where split: the twin selected for this process.

``_consume_c`` (compiled) by default, ``_consume_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["PartitionQueues"]

if TYPE_CHECKING:
    from goka._core._consume_py import PartitionQueues
else:
    PartitionQueues = load("consume").PartitionQueues
