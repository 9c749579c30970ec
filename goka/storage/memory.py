"""In-memory table storage: a dict, iterated in key-byte order (Go Goka's ``storage.NewMemory``).

Nothing survives ``close()`` or the process; :class:`Memory` hands out a fresh,
empty store on every ``open()``.  Used by ``goka.tester`` and unit tests, and by
processors that prefer to recover their table from Kafka on every start.
"""
from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator

__all__ = ["Memory", "MemoryStorage"]

_DELETED = object()


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix``;
    ``None`` when there is none (``prefix`` empty or all ``0xff``)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def key_range(
    prefix: bytes | None, start: bytes | None, end: bytes | None
) -> tuple[bytes | None, bytes | None]:
    """Fold ``prefix`` / ``[start, end)`` into one half-open range ``[lo, hi)``;
    ``None`` means unbounded on that side."""
    lo, hi = start, end
    if prefix is not None:
        if lo is None or prefix > lo:
            lo = prefix
        pend = prefix_end(prefix)
        if pend is not None and (hi is None or pend < hi):
            hi = pend
    return lo, hi


class MemoryStorage:
    """One topic-partition held in a dict; the table offset is kept outside the keyspace.

    Thread safety: mutations and ``items()`` snapshots take an internal lock;
    ``get``/``has`` are single dict lookups (atomic under the GIL).  Safe for one
    writer and any number of reader threads.

    ``items()`` copies the requested range when it is called and iterates the copy,
    so writes made during iteration are never seen.  The sorted key order is cached
    and rebuilt only after keys were added or removed.
    """

    __slots__ = ("_data", "_offset", "_lock", "_sorted")

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._offset: int | None = None
        self._lock = threading.Lock()
        self._sorted: list[bytes] | None = None

    def __repr__(self) -> str:
        return f"<MemoryStorage keys={len(self._data)} offset={self._offset}>"

    def get(self, key: bytes) -> bytes | None:
        """The value stored for ``key``, or ``None``."""
        return self._data.get(key)

    def has(self, key: bytes) -> bool:
        """Whether ``key`` is stored."""
        return key in self._data

    def set(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key`` (``None`` is rejected: use :meth:`delete`)."""
        if value is None:
            raise TypeError(f"cannot store None under key {key!r}; use delete()")
        with self._lock:
            self._put(key, value)

    def delete(self, key: bytes) -> None:
        """Remove ``key`` (no error if absent)."""
        with self._lock:
            self._remove(key)

    def write_batch(
        self, writes: Iterable[tuple[bytes, bytes | None]], offset: int | None = None
    ) -> None:
        """Apply ``writes`` in order (``None`` value = delete) and, if given, store
        ``offset`` -- atomically with respect to other threads."""
        final = dict(writes)  # last write of a key wins, as if applied in order
        with self._lock:
            for key, value in final.items():
                if value is None:
                    self._remove(key)
                else:
                    self._put(key, value)
            if offset is not None:
                self._offset = offset

    def get_offset(self) -> int | None:
        """The stored table offset, or ``None`` if never set."""
        return self._offset

    def set_offset(self, offset: int) -> None:
        """Store the table offset."""
        self._offset = offset

    def items(
        self,
        prefix: bytes | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Key-value pairs in ascending key-byte order: all, those starting with
        ``prefix``, or those in ``[start, end)``; a snapshot taken at the call."""
        lo, hi = key_range(prefix, start, end)
        with self._lock:
            keys = self._sorted
            if keys is None:
                keys = self._sorted = sorted(self._data)
            i = 0 if lo is None else bisect.bisect_left(keys, lo)
            j = len(keys) if hi is None else bisect.bisect_left(keys, hi)
            data = self._data
            snapshot = [(k, data[k]) for k in keys[i:j]]
        return iter(snapshot)

    def clear(self) -> None:
        """Drop every value and the table offset."""
        with self._lock:
            self._data.clear()
            self._sorted = None
            self._offset = None

    def close(self) -> None:
        """Nothing to release; the data stays readable until the object is dropped."""

    # -- helpers; callers hold the lock -----------------------------------

    def _put(self, key: bytes, value: bytes) -> None:
        if key not in self._data:
            self._sorted = None
        self._data[key] = value

    def _remove(self, key: bytes) -> None:
        if self._data.pop(key, _DELETED) is not _DELETED:
            self._sorted = None


class Memory:
    """Builder of :class:`MemoryStorage`.

    Every ``open(topic, partition)`` returns a **new, empty** store -- also when the
    same topic-partition is opened again (as Go Goka's ``MemoryBuilder``), so a
    partition that is reassigned recovers its table from Kafka from the oldest offset.
    """

    def open(self, topic: str, partition: int) -> MemoryStorage:
        """A new empty store for ``topic``/``partition``.

        Parameters
        ----------
        topic : str
            The table topic.
        partition : int
            The partition.
        """
        return MemoryStorage()

    def __repr__(self) -> str:
        return "Memory()"
