"""Enumerations used as keyword options of processors and views."""
from __future__ import annotations

import enum

__all__ = ["Offset", "NilHandling"]


class Offset(enum.Enum):
    """Where a new consumer group starts reading its inputs (no committed offset yet)."""

    OLDEST = "earliest"
    NEWEST = "latest"


class NilHandling(enum.IntEnum):
    """What a processor does with an input message whose value is null (a tombstone)."""

    #: drop it (it is committed without calling the callback) -- Go Goka's default
    IGNORE = 0
    #: call the callback with ``msg=None`` without decoding
    PROCESS = 1
    #: pass ``None`` to the input codec's ``decode`` and call the callback with the result
    DECODE = 2
