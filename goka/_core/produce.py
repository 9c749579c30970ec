"""Handing record runs to a processor's producer: the twin selected for this process.

``_produce_c`` (compiled) by default, ``_produce_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["DirectProducer", "headerless"]

if TYPE_CHECKING:
    from goka._core._produce_py import DirectProducer, headerless
else:
    DirectProducer = load("produce").DirectProducer
    headerless = load("produce").headerless
