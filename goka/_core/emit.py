"""One emit, from the caller's key and value to the producer: the twin selected for this
process.

``_emit_c`` (compiled) by default, ``_emit_py`` under ``GOKA_NO_EXTENSIONS=1`` (see
``goka._core``). Type checkers read the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["EmitPath"]

if TYPE_CHECKING:
    from goka._core._emit_py import EmitPath
else:
    EmitPath = load("emit").EmitPath
