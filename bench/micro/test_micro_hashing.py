"""Key-to-partition hashers of ``goka._core._hashing_{c,py}``, per key over 10,000 keys.

``goka`` is Go Goka's FNV-1a partitioner (``goka.hash.goka``, what processors route
table writes and emits by); ``murmur2`` the Java client's default; ``crc32`` librdkafka's
``consistent``. Each round maps every key to one of 16 partitions.
"""
from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from types import ModuleType
from typing import Any

import pytest

PARTITIONS = 16


@pytest.mark.parametrize("hasher", ["goka", "murmur2", "crc32"])
def test_hash(bench: Callable[..., Any], core: Callable[[str], ModuleType], keys: list[bytes],
              hasher: str) -> None:
    """One round: ``hasher(key, 16)`` for each of the 10,000 keys."""
    fn = getattr(core("hashing"), hasher)
    n = len(keys)
    parts = bench(f"hash {hasher}", n, lambda: list(map(fn, keys, repeat(PARTITIONS, n))))
    assert len(set(parts)) == PARTITIONS
