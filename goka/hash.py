"""Hashers: map a message key to a partition, byte-compatible with other Kafka clients.

A hasher is a function ``(key, n) -> partition`` with ``0 <= partition < n``; keys are
``bytes`` or ``str`` (hashed as UTF-8) and ``n`` is the partition count (>= 1, else
``ValueError``). Pass one as ``hasher=`` to ``goka.Emitter``; all have compiled and
pure-Python twins (``GOKA_NO_EXTENSIONS=1`` selects the pure ones).

- :func:`goka` — Go Goka's default (sarama's hash partitioner over 32-bit FNV-1a).
  Use it for every topic a Goka processor consumes: Goka routes table writes by it.
- :func:`murmur2` — the Java client's and Kafka Streams' default partitioner
  (also librdkafka's ``murmur2``).
- :func:`crc32` — librdkafka's ``consistent`` partitioner (zlib CRC-32 of the key).

The raw hashes :func:`fnv1a32` (unsigned) and :func:`murmur2_32` (signed, as Java's
``Utils.murmur2``) are exported too.

>>> goka("some-key", 10)
7
"""
from __future__ import annotations

from typing import Callable, TypeAlias

from goka._core.hashing import crc32, fnv1a32, goka, murmur2, murmur2_32

__all__ = ["Hasher", "goka", "murmur2", "crc32", "fnv1a32", "murmur2_32"]

#: A key-to-partition function: ``hasher(key, partition_count) -> partition``.
Hasher: TypeAlias = Callable[[bytes | str, int], int]


def check_hasher(hasher: object, where: str) -> Hasher:
    """``hasher`` if it is callable, else a ``TypeError`` naming ``where`` it was given."""
    if not callable(hasher):
        raise TypeError(f"{where}: hasher must be a callable (key, partition_count) -> partition "
                        f"such as goka.hash.murmur2, got {hasher!r}")
    return hasher
