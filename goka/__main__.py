"""``python -m goka``: the ``goka`` command (see :mod:`goka.cli`)."""
from __future__ import annotations

import sys

from goka.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
