"""Batch helpers over consumed messages: the twin selected for this process.

``_messages_c`` (compiled) by default, ``_messages_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["by_partition", "key_values", "untrack"]

if TYPE_CHECKING:
    from goka._core._messages_py import by_partition, key_values, untrack
else:
    _impl = load("messages")
    key_values = _impl.key_values
    untrack = _impl.untrack
    by_partition = _impl.by_partition
