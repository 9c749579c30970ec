"""Dispatcher of the per-partition processing step: the twin selected for this process.

``_dispatch_c`` (compiled) by default, ``_dispatch_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). ``Context`` is the class the callbacks receive at run time, so
``goka.Context`` is always the class of ``ctx``. Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["Context", "Dispatcher", "Sink", "TableAccess"]

if TYPE_CHECKING:
    from goka._core._dispatch_py import Context, Dispatcher, Sink, TableAccess
else:
    _impl = load("dispatch")
    Context = _impl.Context
    Dispatcher = _impl.Dispatcher
    Sink = _impl.Sink
    TableAccess = _impl.TableAccess
