"""Table records off per-partition queues: the twin selected for this process.

``_tablequeue_c`` (compiled) by default, ``_tablequeue_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["TableQueues"]

if TYPE_CHECKING:
    from goka._core._tablequeue_py import TableQueues
else:
    TableQueues = load("tablequeue").TableQueues
