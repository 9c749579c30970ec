"""The compiled core and its pure-Python twins.

Every compiled module ``_x_c`` has a pure twin ``_x_py`` with the same interface and a
dispatcher ``x`` that picks one. The choice is made here, once per process:

- ``GOKA_NO_EXTENSIONS=1`` selects the pure twins everywhere;
- ``GOKA_REQUIRE_EXTENSIONS=1`` turns a missing compiled module into an ImportError
  instead of a silent fallback (CI sets it).
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["NO_EXTENSIONS", "REQUIRE_EXTENSIONS", "load", "loaded"]

NO_EXTENSIONS: bool = os.environ.get("GOKA_NO_EXTENSIONS", "") not in ("", "0")
REQUIRE_EXTENSIONS: bool = os.environ.get("GOKA_REQUIRE_EXTENSIONS", "") not in ("", "0")

if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
    raise ImportError("GOKA_NO_EXTENSIONS and GOKA_REQUIRE_EXTENSIONS are both set")

#: module name (without twin suffix) -> the twin module in use
loaded: dict[str, ModuleType] = {}


def load(name: str) -> ModuleType:
    """Return the twin of ``goka._core._<name>_{c,py}`` selected for this process."""
    if not NO_EXTENSIONS:
        try:
            mod = importlib.import_module(f"goka._core._{name}_c")
        except ImportError:
            if REQUIRE_EXTENSIONS:
                raise
        else:
            loaded[name] = mod
            return mod
    mod = importlib.import_module(f"goka._core._{name}_py")
    loaded[name] = mod
    return mod
