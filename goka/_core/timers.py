"""Pending timers of one partition (``goka.Timer`` edge, ``ctx.schedule``).

Pure Python and shared by both twins and the tester: timer work is off the per-message
path (a group without a ``Timer`` edge never reaches this module).

Record layout of the compacted topic ``<group>-timers`` (and of local storage)
------------------------------------------------------------------------------
- key: the due time as 8 bytes, big-endian, signed 64-bit milliseconds since the Unix
  epoch (UTC), followed by the message key's bytes (UTF-8, as on every goka topic);
  ``struct.unpack(">q", k[:8])`` / Go ``int64(binary.BigEndian.Uint64(k[:8]))`` / Java
  ``ByteBuffer.wrap(k).getLong()``, the rest is the key. Pending timers therefore sort by
  due time in a byte-ordered store. One timer per (key, due time): scheduling the same key
  and due time again replaces the value.
- value: the scheduled value encoded with the ``Timer`` edge's codec; a fired or
  cancelled timer is a tombstone (null value).
- partition: the partition of the message key (co-partitioned with the inputs and table).

At least once
-------------
A timer's callback runs in a batch of its own (a ticket like an input batch's). The
timer's tombstone is produced only once everything that batch produced is acknowledged,
and reaches local storage only once the tombstone itself is acknowledged. A crash before
that leaves the timer pending in storage and in the topic: it fires again after recovery.
"""
from __future__ import annotations

import heapq
import struct
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from goka.errors import ProcessingError

__all__ = ["Timers", "TimerUndo", "timer_key", "parse_timer_key", "due_ms"]

_DUE = struct.Struct(">q")
_MISSING = object()
#: timers fired per call of :meth:`Timers.fire`, so that input keeps flowing
FIRE_LIMIT = 1000


_MIN_MS, _MAX_MS = -(2**63), 2**63 - 1


def timer_key(due: int, key: bytes) -> bytes:
    """The record key of the timer of ``key`` due at ``due`` (epoch ms)."""
    if not _MIN_MS <= due <= _MAX_MS:
        raise ValueError(f"timer due time {due} ms is outside the 64-bit range")
    return _DUE.pack(due) + key


def parse_timer_key(tkey: bytes) -> tuple[int, bytes]:
    """``(due ms, message key)`` of a timer record key."""
    if len(tkey) < 8:
        raise ValueError(f"timer record key too short ({len(tkey)} bytes, need >= 8)")
    return _DUE.unpack_from(tkey)[0], tkey[8:]


def due_ms(now_ms: int, at: Any, delay: Any) -> int:
    """The due time of ``ctx.schedule(at=..., delay=...)`` in epoch ms."""
    if (at is None) == (delay is None):
        raise TypeError("schedule() needs exactly one of at= (a datetime) or delay= (a timedelta)")
    if delay is not None:
        if not isinstance(delay, timedelta):
            raise TypeError(f"delay must be a datetime.timedelta, got {type(delay).__name__}")
        return now_ms + int(delay / timedelta(milliseconds=1))
    if not isinstance(at, datetime):
        raise TypeError(f"at must be a datetime.datetime, got {type(at).__name__}")
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return int(at.astimezone(timezone.utc).timestamp() * 1000)


class TimerUndo:
    """A journal entry of the current message: restores one timer when it is rolled back."""

    __slots__ = ("timers", "tkey", "old", "old_gen")

    def __init__(self, timers: Timers, tkey: bytes, old: Any, old_gen: Any) -> None:
        self.timers = timers
        self.tkey = tkey
        self.old = old
        self.old_gen = old_gen

    def undo(self) -> None:
        self.timers._restore(self.tkey, self.old, self.old_gen)


class Timers:
    """The pending timers of one partition: an in-memory index (by due time and by key)
    over local storage, plus -- on Kafka -- the storage writes waiting for their
    acknowledgements, as generations like the table's.

    ``emit(topic, tkey, data)`` puts a timer record into the host's batch outbox for this
    partition; ``journal(entry)`` adds a :class:`TimerUndo` to the current message's
    rollback journal; ``clock()`` is the wall clock in epoch ms. ``generation`` is the
    partition twin's ``Generation`` class (``None``: the host writes storage itself, as the
    tester does when it appends the records).
    """

    def __init__(self, topic: str, storage: Any, emit: Callable[[str, bytes, bytes | None], None],
                 journal: Callable[[Any], None], clock: Callable[[], int] | None = None,
                 generation: Callable[[], Any] | None = None, *, group: str = "",
                 partition: int = 0) -> None:
        self.topic = topic
        self.storage = storage
        self._emit = emit
        self.journal = journal
        self.clock = clock if clock is not None else _wall_ms
        self._generation = generation
        self.pending: dict[bytes, bytes] = {}
        self.heap: list[tuple[int, bytes]] = []
        self.by_key: dict[bytes, set[bytes]] = {}
        self.current: Any = None
        self.sealed: deque[Any] = deque()
        #: fired timers whose tombstones wait for their batch's ticket: (ticket, [tkey, ...])
        self.fired: deque[tuple[Any, list[bytes]]] = deque()
        self.fired_count = 0
        if storage is not None:
            for tkey, data in storage.items():
                if len(tkey) < 8:  # not written by goka: refuse it rather than guess
                    raise ProcessingError(f"invalid timer record key {tkey!r} (need 8 bytes of due time "
                                          f"+ the message key); delete the record from {topic!r}",
                                          group=group, topic=topic, partition=partition)
                self._add(tkey, data)

    # -- the index ------------------------------------------------------------------------
    def _add(self, tkey: bytes, data: bytes) -> None:
        due, key = parse_timer_key(tkey)
        if tkey not in self.pending:
            heapq.heappush(self.heap, (due, tkey))
        self.pending[tkey] = data
        self.by_key.setdefault(key, set()).add(tkey)

    def _remove(self, tkey: bytes) -> None:
        if self.pending.pop(tkey, None) is not None:
            key = tkey[8:]
            keys = self.by_key.get(key)
            if keys is not None:
                keys.discard(tkey)
                if not keys:
                    del self.by_key[key]
        # the heap entry is dropped lazily when it comes up

    def _write(self, tkey: bytes, data: bytes | None) -> None:
        """Change one timer for the current message: index, storage generation, outbox."""
        old_gen: Any = _MISSING
        if self._generation is not None:
            if self.current is None:
                self.current = self._generation()
            old_gen = self.current.writes.get(tkey, _MISSING)
            self.current.writes[tkey] = data
        self.journal(TimerUndo(self, tkey, self.pending.get(tkey), old_gen))
        if data is None:
            self._remove(tkey)
        else:
            self._add(tkey, data)
        self._emit(self.topic, tkey, data)

    def _restore(self, tkey: bytes, old: bytes | None, old_gen: Any) -> None:
        if old is None:
            self._remove(tkey)
        else:
            self._add(tkey, old)
        if self.current is not None:
            if old_gen is _MISSING:
                self.current.writes.pop(tkey, None)
                if not self.current.writes:
                    self.current = None
            else:
                self.current.writes[tkey] = old_gen

    # -- from callbacks ---------------------------------------------------------------------
    def schedule(self, key: bytes, due: int, data: bytes) -> None:
        self._write(timer_key(due, key), data)

    def cancel(self, key: bytes) -> int:
        tkeys = sorted(self.by_key.get(key, ()))
        for tkey in tkeys:
            self._write(tkey, None)
        return len(tkeys)

    def next_due(self) -> int | None:
        """The due time of the earliest pending timer, or ``None``."""
        heap = self.heap
        while heap and heap[0][1] not in self.pending:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: int, limit: int = FIRE_LIMIT) -> list[tuple[int, bytes, bytes]]:
        """Take up to ``limit`` timers due at ``now``: ``(due, tkey, data)`` in due order,
        removed from the index (not from storage)."""
        heap, pending = self.heap, self.pending
        out: list[tuple[int, bytes, bytes]] = []
        while heap and heap[0][0] <= now and len(out) < limit:
            due, tkey = heapq.heappop(heap)
            data = pending.get(tkey)
            if data is None:
                continue  # cancelled, fired or replaced
            self._remove(tkey)
            out.append((due, tkey, data))
        return out

    def unfire(self, timer: tuple[int, bytes, bytes]) -> None:
        """Put a taken timer back (its callback failed)."""
        self._add(timer[1], timer[2])

    # -- Kafka: generations and tombstones --------------------------------------------------
    def seal(self) -> Any:
        """Close the batch's storage generation and return it (``None``: no timer writes)."""
        gen, self.current = self.current, None
        if gen is not None:
            self.sealed.append(gen)
        return gen

    def bury(self, ready: Callable[[Any], bool]) -> bool:
        """Write the tombstones of fired timers whose batch ``ready(ticket)`` says is
        acknowledged (unless the timer was scheduled again meanwhile); flush acknowledged
        generations to storage. Returns whether tombstones went to the outbox."""
        buried = False
        fired = self.fired
        while fired and ready(fired[0][0]):
            _, tkeys = fired.popleft()
            for tkey in tkeys:
                if tkey not in self.pending:
                    self._write(tkey, None)
                    buried = True
        sealed = self.sealed
        while sealed and sealed[0].pending == 0:
            gen = sealed.popleft()
            self.storage.write_batch(gen.writes.items(), offset=gen.offset if gen.offset >= 0 else None)
        return buried

    def in_flight(self) -> int:
        return len(self.sealed) + (self.current is not None) + len(self.fired)

    def stats(self) -> dict[str, Any]:
        return {"pending": len(self.pending), "fired": self.fired_count, "next_due": self.next_due()}


def _wall_ms() -> int:
    return int(time.time() * 1000)
