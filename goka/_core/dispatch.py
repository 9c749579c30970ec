"""Dispatcher of the per-partition processing step.

Only the pure twin exists so far; the compiled twin (``_dispatch_c``) belongs to the
performance work and will be picked here through :func:`goka._core.load` once a
benchmark shows it is faster.
"""
from __future__ import annotations

from goka._core import _dispatch_py as _impl
from goka._core import loaded

loaded["dispatch"] = _impl

Context = _impl.Context
Dispatcher = _impl.Dispatcher
Sink = _impl.Sink
TableAccess = _impl.TableAccess

__all__ = ["Context", "Dispatcher", "Sink", "TableAccess"]
