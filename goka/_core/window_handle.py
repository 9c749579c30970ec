"""Dispatcher of the window handles (``ctx.window`` / ``ctx.windows``): the twin selected
for this process.

``_window_handle_c`` (compiled) by default, ``_window_handle_py`` under
``GOKA_NO_EXTENSIONS=1`` (see ``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["WindowHandle", "tumbling_handle"]

if TYPE_CHECKING:
    from goka._core._window_handle_py import WindowHandle, tumbling_handle
else:
    _impl = load("window_handle")
    WindowHandle = _impl.WindowHandle
    tumbling_handle = _impl.tumbling_handle
