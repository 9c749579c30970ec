"""The group table's cache: recent values over the unacknowledged generations over storage.

Pure twin of ``_tablecache_c`` and its specification (see ``goka._core``); imported
through ``goka._core.tablecache``. Used by the partition processor (see
``goka._core._partition_py``: a batch's table writes form a :class:`Generation`, written
to storage once its changelog records are acknowledged) and the dispatcher (``get``/``set``
of the current key). ``undo`` journals the current message's writes so that a failed
callback's writes can be rolled back.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from goka.storage import Storage, puts_writer

__all__ = ["Generation", "TableCache"]

_MISSING = object()


class Generation:
    """Table writes of one batch, waiting for their changelog acknowledgements."""

    __slots__ = ("writes", "pending", "offset")

    def __init__(self) -> None:
        self.writes: dict[bytes, bytes | None] = {}
        self.pending = 0
        self.offset = -1


class TableCache:
    """The dispatcher's view of the group table: a cache of recent values (read or
    written) over the unacknowledged generations over storage.

    The processor is the table partition's only writer, so cached values stay exact.
    The cache holds at most ``max_cached`` keys and is simply emptied when full.
    """

    __slots__ = ("storage", "current", "sealed", "values", "max_cached", "undo")

    def __init__(self, storage: Storage, max_cached: int = 200_000) -> None:
        self.storage = storage
        self.current: Generation | None = None
        self.sealed: deque[Generation] = deque()
        self.values: dict[bytes, bytes | None] = {}
        self.max_cached = max_cached
        #: the current message's writes: key, previous entry in the open generation, ...
        self.undo: list[Any] = []

    def get(self, key: bytes) -> bytes | None:
        value = self.values.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
        value = self._lookup(key)
        values = self.values
        if len(values) >= self.max_cached:
            values.clear()
        values[key] = value
        return value

    def peek(self, key: bytes) -> bytes | None:
        """A read from another thread: the cached value or storage, without touching the
        cache or the generations (which only the processing thread may)."""
        value = self.values.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
        return self.storage.get(key)

    def _lookup(self, key: bytes) -> bytes | None:
        current = self.current
        if current is not None:
            value = current.writes.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]
        for gen in reversed(self.sealed):
            value = gen.writes.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]
        return self.storage.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        current = self.current
        if current is None:
            current = self.current = Generation()
        writes = current.writes
        undo = self.undo
        undo.append(key)
        undo.append(writes.get(key, _MISSING))
        writes[key] = value
        values = self.values
        if len(values) >= self.max_cached:
            values.clear()
        values[key] = value

    def rollback(self) -> None:
        """Undo the writes journaled since the current message began (see the module
        docstring); an open generation left without writes is dropped."""
        undo = self.undo
        current = self.current
        if undo and current is not None:
            writes = current.writes
            values = self.values
            for i in range(len(undo) - 2, -1, -2):
                key, old = undo[i], undo[i + 1]
                values.pop(key, None)  # the next read looks it up again
                if old is _MISSING:
                    writes.pop(key, None)
                else:
                    writes[key] = old
            if not writes:
                self.current = None
        undo.clear()

    def seal(self) -> None:
        """Close the batch's generation; later writes start a new one."""
        self.undo.clear()
        if self.current is not None:
            self.sealed.append(self.current)
            self.current = None

    def flush(self) -> int:
        """Write every leading generation whose changelog is fully acknowledged. A
        generation of puts only (no tombstone, no empty key) goes to the storage's
        ``write_puts`` where it is the puts-only form of its ``write_batch``
        (:func:`goka.storage.puts_writer`; LMDB: the pairs as they are, the keys being
        unique already), else to ``write_batch``; the storage ends up the same."""
        written = 0
        sealed = self.sealed
        while sealed and sealed[0].pending == 0:
            gen = sealed.popleft()
            offset = gen.offset if gen.offset >= 0 else None
            write_puts = puts_writer(self.storage)
            if write_puts is not None and all(v is not None and k for k, v in gen.writes.items()):
                write_puts(list(gen.writes.items()), offset=offset)
            else:
                self.storage.write_batch(gen.writes.items(), offset=offset)
            written += len(gen.writes)
        return written

    @property
    def unflushed(self) -> int:
        return len(self.sealed) + (self.current is not None)
