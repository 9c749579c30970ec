"""Dispatcher of the split-queue base: the twin selected for this process.

``_splitqueue_c`` (compiled) by default, ``_splitqueue_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin. The queue readers extend the twin
of their own kind (the compiled ones through ``_splitqueue_c.pxd``): see
``goka._core.consume`` and ``goka._core.tablequeue``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["SplitQueues"]

if TYPE_CHECKING:
    from goka._core._splitqueue_py import SplitQueues
else:
    SplitQueues = load("splitqueue").SplitQueues
