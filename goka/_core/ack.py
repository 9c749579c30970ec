"""Dispatcher of the acknowledgement tracking: the twin selected for this process.

``_ack_c`` (compiled) by default, ``_ack_py`` under ``GOKA_NO_EXTENSIONS=1`` (see
``goka._core``). Type checkers read the pure twin. The partition twins import their own
ack twin directly (the compiled one through ``_ack_c.pxd``); ``goka._core.partition``
re-exports ``Ticket`` and ``BatchAck``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["BatchAck", "Ticket"]

if TYPE_CHECKING:
    from goka._core._ack_py import BatchAck, Ticket
else:
    _impl = load("ack")
    BatchAck = _impl.BatchAck
    Ticket = _impl.Ticket
