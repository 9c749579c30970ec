"""Key-to-partition hashers: the twin selected for this process (see ``goka._core``).

``_hashing_c`` (compiled) by default, ``_hashing_py`` under ``GOKA_NO_EXTENSIONS=1``.
Type checkers read the signatures from the pure twin.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from goka._core import load

__all__ = ["fnv1a32", "goka", "murmur2_32", "murmur2", "crc32"]

if TYPE_CHECKING:
    from goka._core._hashing_py import crc32, fnv1a32, goka, murmur2, murmur2_32
else:
    _impl = load("hashing")
    fnv1a32 = _impl.fnv1a32
    goka = _impl.goka
    murmur2_32 = _impl.murmur2_32
    murmur2 = _impl.murmur2
    crc32 = _impl.crc32
