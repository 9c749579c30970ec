"""Key-to-partition hashers, pure-Python twin (the readable spec).

Three partitioners, each byte-compatible with the client that defines it:

- ``goka``: Go Goka's default (sarama's hash partitioner over 32-bit FNV-1a):
  ``int32(fnv1a32(key)) % n`` with Go's truncating remainder, negated if negative,
  which equals ``abs(int32(fnv1a32(key))) % n``.
- ``murmur2``: the Java client / Kafka Streams default partitioner:
  ``(murmur2_32(key) & 0x7fffffff) % n`` with Kafka's murmur2 (seed 0x9747b28c).
- ``crc32``: librdkafka's ``consistent`` partitioner: ``crc32(key) % n`` (zlib CRC-32,
  unsigned remainder; the empty key hashes to 0).

Keys are ``bytes`` (``bytearray``/``memoryview`` are copied to bytes) or ``str``
(hashed as UTF-8). ``n`` is the partition count and must be at least 1.
The compiled twin ``_hashing_c`` has exactly this interface.
"""
from __future__ import annotations

import zlib
from operator import index as _index

__all__ = ["fnv1a32", "goka", "murmur2_32", "murmur2", "crc32"]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MURMUR_SEED = 0x9747B28C
_MURMUR_M = 0x5BD1E995
_MASK32 = 0xFFFFFFFF


def _key_bytes(key: bytes | str) -> bytes:
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"key must be bytes or str, not {type(key).__name__}")


def _count(n: int) -> int:
    n = _index(n)
    if n < 1:
        raise ValueError(f"partition count must be >= 1, got {n}")
    return n


def fnv1a32(key: bytes | str) -> int:
    """32-bit FNV-1a of the key bytes, as an unsigned int (0 .. 2**32-1).

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    """
    h = _FNV_OFFSET
    for byte in _key_bytes(key):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK32
    return h


def goka(key: bytes | str, n: int) -> int:
    """Partition of ``key`` among ``n`` partitions by Go Goka's default hasher.

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    n : int
        The partition count (>= 1, else ``ValueError``).
    """
    n = _count(n)
    h = fnv1a32(key)
    signed = h - 0x100000000 if h & 0x80000000 else h
    return abs(signed) % n


def murmur2_32(key: bytes | str) -> int:
    """Kafka's murmur2 of the key bytes, as a signed int32 (like Java's ``Utils.murmur2``).

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    """
    data = _key_bytes(key)
    length = len(data)
    m = _MURMUR_M
    h = (_MURMUR_SEED ^ length) & _MASK32
    tail = length & ~3
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & _MASK32
        k ^= k >> 24
        k = (k * m) & _MASK32
        h = ((h * m) & _MASK32) ^ k
    rest = length & 3
    if rest:
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * m) & _MASK32
    h ^= h >> 13
    h = (h * m) & _MASK32
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def murmur2(key: bytes | str, n: int) -> int:
    """Partition of ``key`` among ``n`` partitions by the Java client's default partitioner.

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    n : int
        The partition count (>= 1, else ``ValueError``).
    """
    n = _count(n)
    return (murmur2_32(key) & 0x7FFFFFFF) % n


def crc32(key: bytes | str, n: int) -> int:
    """Partition of ``key`` among ``n`` partitions by librdkafka's ``consistent`` partitioner.

    Parameters
    ----------
    key : bytes or str
        The key (a ``str`` is hashed as UTF-8).
    n : int
        The partition count (>= 1, else ``ValueError``).
    """
    n = _count(n)
    return zlib.crc32(_key_bytes(key)) % n
