"""Dispatcher of the group table's cache: the twin selected for this process.

``_tablecache_c`` (compiled) by default, ``_tablecache_py`` under ``GOKA_NO_EXTENSIONS=1``
(see ``goka._core``). Type checkers read the pure twin. The partition twins import their
own cache twin directly (the compiled one through ``_tablecache_c.pxd``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["Generation", "TableCache"]

if TYPE_CHECKING:
    from goka._core._tablecache_py import Generation, TableCache
else:
    _impl = load("tablecache")
    Generation = _impl.Generation
    TableCache = _impl.TableCache
