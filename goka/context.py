"""``goka.Context``: what a callback receives (see :class:`goka._core._dispatch_py.Context`)."""
from __future__ import annotations

from goka._core.dispatch import Context

__all__ = ["Context"]
