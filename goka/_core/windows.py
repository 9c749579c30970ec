"""Windowed tables of one partition (``goka.Window`` edges, ``ctx.window``/``ctx.windows``).

Pure Python and shared by both partition twins and the tester, like
:mod:`goka._core.timers`: the only per-message work for a group with windows is the
stream-time update the partition twins do inline; a group without windows never reaches
this module. The record layout is :mod:`goka.window`'s.

Per partition there is one :class:`Windows` (the stream time, the closing progress) and
per ``Window`` edge one :class:`WindowEdge`: the window values over the local storage of
this partition of ``<group>-<name>`` (the newest unacknowledged writes first, as in the
table cache), an in-memory index of the open windows by close time, and for session
windows the open sessions of each key.

Writes from callbacks (``set_value``/``delete`` on a handle) are journaled like timer
changes (a :class:`~goka._core.timers.TimerUndo` entry, so a failed callback leaves no
window change) and go to the batch outbox as records of this partition of the window
topic; on Kafka they reach local storage when those records are acknowledged, as
generations like the table's.

Closing and at least once
-------------------------
Stream time is the largest record timestamp processed. A window is closed once stream time
reaches ``spec.closes_at(window)``: a handle on it is *late* (``value()`` is None, writes do
nothing, the message counts as late once per edge). Between batches the host takes the
closed windows (:meth:`Windows.due`, in close-time order), runs their ``on_close`` in a
batch of its own (:meth:`Windows.close_one`) and records the round (:meth:`Windows.closed`).
Once that batch's effects are acknowledged, :meth:`Windows.bury` writes each edge's
stream-time marker (the stream time up to which closing is complete) and the tombstones of
windows past retention. On recovery the marker is the stream time: windows that close at
or before it are closed (``on_close`` is not run again), the others are open. A crash
before the marker is acknowledged runs ``on_close`` again: at least once, never lost.
Stream time itself restarts from the marker: input committed after it (its window writes
are acknowledged with its batch) is not replayed, so a window whose close was not yet
acknowledged closes again once new records move the stream time past its close, and until
then records for it are not late. A marker goes out after every round in which stream time
moved (one record per edge and round), so that gap stays small.

``on_close`` failures stop the processor (as timer callbacks do): the window stays open and
the error propagates; the input edges' error policies do not apply.
"""
from __future__ import annotations

import heapq
import logging
import struct
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from goka._core.timers import TimerUndo
from goka._core.window_handle import WindowHandle, tumbling_handle
from goka.errors import CodecError, ProcessingError, UndeclaredTopicError
from goka.window import (STREAM_TIME_KEY, Session, TimeWindow, decode_stream_time, encode_stream_time,
                         is_window_record, parse_window_key)

__all__ = ["Windows", "WindowEdge", "WindowHandle", "CLOSE_LIMIT", "window_handles", "own_generations"]

log = logging.getLogger("goka.processor")

_MISSING = object()
_CLOSED = object()  # journal: the window was not open before the write
_MIN = -(2**63)
_MAX = 2**63 - 1
_SUFFIX = struct.Struct(">qq").pack  # the window record key's suffix (see goka.window)
_heappush = heapq.heappush
_heappop = heapq.heappop
#: windows closed per call of the host's close step (one batch), so that input keeps flowing
CLOSE_LIMIT = 10_000


class _Gen:
    """A generation of storage writes when the host writes storage itself (the tester)."""

    __slots__ = ("writes", "pending", "offset")

    def __init__(self) -> None:
        self.writes: dict[bytes, bytes | None] = {}
        self.pending = 0
        self.offset = -1


class WindowEdge:
    """The windows of one ``Window`` edge in one partition (see the module docstring)."""

    def __init__(self, owner: Windows, edge: Any, topic: str, storage: Any) -> None:
        self.owner = owner
        self._journal = owner.journal
        self._emit = owner.emit
        self.name: str = edge.name
        self.edge = edge
        self.spec = edge.spec
        self.codec = edge.codec
        self.on_close = edge.on_close
        self.retention_ms: int = edge.retention_ms
        self.session = isinstance(edge.spec, Session)
        self.topic = topic
        self.storage = storage
        self.open: dict[bytes, int] = {}  # window record key -> close time
        #: the stored value of every open window (the same keys as ``open``): reads of open
        #: windows never reach storage; closed windows leave it (memory: open windows only)
        self.values: dict[bytes, bytes] = {}
        #: the open windows by close time (in a close time, taken in record-key order) and
        #: a heap of those close times (times without windows left are dropped lazily)
        self.groups: dict[int, dict[bytes, None]] = {}
        self.heap: list[int] = []
        self.retained: list[tuple[int, bytes]] = []  # closed, kept until (expiry, key)
        self.sessions: dict[bytes, list[tuple[int, int]]] = {}  # open sessions per message key
        self.current: Any = None
        self.sealed: deque[Any] = deque()
        self.marker = _MIN  # the stream time of the last marker written (or recovered)
        self.late = 0
        self.closed = 0
        self._late_msg: Any = None
        self.warned = False
        spec = self.spec
        if self.session:
            self.size_ms = self.advance_ms = 0
            #: a window's expiry (end of retention) is its close time + this
            self.expiry_shift = self.retention_ms - spec.gap_ms - spec.grace_ms
        else:
            self.size_ms, self.advance_ms = spec.size_ms, spec.advance_ms
            self.expiry_shift = self.retention_ms - spec.size_ms - spec.grace_ms
        self.grace_ms: int = spec.grace_ms
        self.hopping = not self.session and self.size_ms != self.advance_ms
        # fixed windows: the windows of the timestamps in [_lo, _hi), as (start, end, close
        # time, key suffix), oldest first -- consecutive records mostly fall into the same one
        self._lo = self._hi = 0
        self._bucket: tuple[tuple[int, int, int, bytes], ...] = ()
        for wkey, data in storage.items():
            if wkey == STREAM_TIME_KEY:
                try:
                    self.marker = decode_stream_time(data)
                except ValueError as exc:
                    raise self._invalid(wkey, str(exc)) from None
        for wkey, data in storage.items():
            if wkey == STREAM_TIME_KEY:
                continue
            if not is_window_record(wkey):
                raise self._invalid(wkey, "not a window record key (message key + start + end)")
            closes = self._closes(wkey)
            if closes > self.marker:
                self._index(wkey, closes, data)
            else:  # closed before the crash or restart: kept only until its retention ends
                _heappush(self.retained, (self._expires(wkey), wkey))

    def _invalid(self, wkey: bytes, why: str) -> ProcessingError:
        return ProcessingError(f"invalid record {wkey!r} in window storage: {why}; delete it from "
                               f"{self.topic!r}", group=self.owner.group, topic=self.topic,
                               partition=self.owner.partition)

    # -- bounds -----------------------------------------------------------------------------
    def _closes(self, wkey: bytes) -> int:
        _, start, end = parse_window_key(wkey)
        return self.spec.closes_at(TimeWindow(start, end))  # type: ignore[no-any-return]

    def _expires(self, wkey: bytes) -> int:
        _, start, end = parse_window_key(wkey)
        return (end if self.session else start) + self.retention_ms

    # -- the index ----------------------------------------------------------------------------
    def _index(self, wkey: bytes, closes: int, data: bytes) -> None:
        # (a window's close time follows from its record key: it never changes)
        if wkey not in self.open:
            group = self.groups.get(closes)
            if group is None:
                group = self.groups[closes] = {}
                _heappush(self.heap, closes)
            group[wkey] = None
            self.open[wkey] = closes
        self.values[wkey] = data
        if self.session:
            key, start, end = parse_window_key(wkey)
            bounds = self.sessions.setdefault(key, [])
            if (start, end) not in bounds:
                bounds.append((start, end))
                bounds.sort()

    def _unindex(self, wkey: bytes) -> None:
        closes = self.open.pop(wkey, None)
        if closes is None:
            return
        del self.values[wkey]
        group = self.groups[closes]
        del group[wkey]
        if not group:
            del self.groups[closes]
        if self.session:
            key, start, end = parse_window_key(wkey)
            bounds = self.sessions.get(key)
            if bounds is not None:
                if (start, end) in bounds:
                    bounds.remove((start, end))
                if not bounds:
                    del self.sessions[key]

    def get(self, wkey: bytes) -> bytes | None:
        """The stored value of a window record key: an open window's from memory, else the
        newest unacknowledged write first, then storage."""
        data = self.values.get(wkey)
        if data is not None:
            return data
        return self._newest(wkey)

    def _newest(self, wkey: bytes) -> bytes | None:
        current = self.current
        if current is not None:
            value = current.writes.get(wkey, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
        for gen in reversed(self.sealed):
            value = gen.writes.get(wkey, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
        return self.storage.get(wkey)  # type: ignore[no-any-return]

    def bucket(self, ts: int) -> tuple[tuple[int, int, int, bytes], ...]:
        """The fixed windows that contain ``ts`` as ``(start, end, close time, key suffix)``,
        oldest first (:meth:`goka.Hopping.windows_at`), from a cache of the last timestamp's
        interval: the set of windows only changes where a window starts or ends."""
        if self._lo <= ts < self._hi:
            return self._bucket
        size, adv, grace = self.size_ms, self.advance_ms, self.grace_ms
        last = ts - ts % adv
        first = last - ((size - 1) // adv) * adv
        lo, hi = last, last + adv
        out = []
        for start in range(first, last + 1, adv):
            end = start + size
            if end <= ts:  # ended before ts: the interval starts after its end
                lo = max(lo, end)
                continue
            if not _MIN <= start < end <= _MAX:
                raise ValueError(f"window [{start}, {end}) ms is empty or outside the 64-bit range")
            hi = min(hi, end)
            out.append((start, end, end + grace, _SUFFIX(start, end)))
        self._lo, self._hi, self._bucket = lo, hi, tuple(out)
        return self._bucket

    def put(self, wkey: bytes, closes: int, data: bytes | None) -> None:
        """:meth:`write` for a fixed window whose close time the caller knows."""
        gen = self.current
        if gen is None:
            gen = self.current = self.owner.generation()
        writes = gen.writes
        old_gen = writes.get(wkey, _MISSING)
        writes[wkey] = data
        open_ = self.open
        if wkey in open_:
            if data is None:
                self._unindex(wkey)
            else:
                self.values[wkey] = data
            old: Any = closes  # (the value it had is the newest write before this one)
        else:
            if data is not None:  # (_index, inline)
                group = self.groups.get(closes)
                if group is None:
                    group = self.groups[closes] = {}
                    _heappush(self.heap, closes)
                group[wkey] = None
                open_[wkey] = closes
                self.values[wkey] = data
            old = _CLOSED
        self._journal(TimerUndo(self, wkey, old, old_gen))  # type: ignore[arg-type]
        self._emit(self.topic, wkey, data)

    def write(self, wkey: bytes, data: bytes | None) -> None:
        """Change one record for the current message: index, storage generation, outbox."""
        owner = self.owner
        gen = self.current
        if gen is None:
            gen = self.current = owner.generation()
        old_gen = gen.writes.get(wkey, _MISSING)
        gen.writes[wkey] = data
        if wkey != STREAM_TIME_KEY:
            key = parse_window_key(wkey)[0]
            old = (self.open.get(wkey), tuple(self.sessions.get(key, ())) if self.session else None,
                   self.values.get(wkey))
            if data is None:
                self._unindex(wkey)
            else:
                self._index(wkey, self._closes(wkey), data)
        else:
            old = None
        owner.journal(TimerUndo(self, wkey, old, old_gen))  # type: ignore[arg-type]
        owner.emit(self.topic, wkey, data)

    def tombstones(self, wkeys: list[bytes]) -> None:
        """Delete windows that are not open (past their retention), between batches."""
        gen = self.current
        if gen is None:
            gen = self.current = self.owner.generation()
        writes, emit, topic = gen.writes, self._emit, self.topic
        for wkey in wkeys:
            writes[wkey] = None
            emit(topic, wkey, None)

    def _restore(self, wkey: bytes, old: Any, old_gen: Any) -> None:
        """Undo :meth:`write` or :meth:`put` (called by the journal entry when the message is
        rolled back)."""
        if type(old) is int or old is _CLOSED:  # put: the generation first, then the index
            self._restore_gen(wkey, old_gen)
            self._unindex(wkey)
            if type(old) is int:  # it was open: with the newest write before the put
                data = self._newest(wkey)
                assert data is not None, "an open window has a value"
                self._index(wkey, old, data)
            return
        if old is not None:
            closes, sessions, data = old
            if closes is None:
                self._unindex(wkey)
            else:
                self._index(wkey, closes, data)
            if sessions is not None:
                key = parse_window_key(wkey)[0]
                if sessions:
                    self.sessions[key] = list(sessions)
                else:
                    self.sessions.pop(key, None)
        self._restore_gen(wkey, old_gen)

    def _restore_gen(self, wkey: bytes, old_gen: Any) -> None:
        current = self.current
        if current is not None:
            if old_gen is _MISSING:
                current.writes.pop(wkey, None)
                if not current.writes:
                    self.current = None
            else:
                current.writes[wkey] = old_gen

    # -- values -------------------------------------------------------------------------------
    def decode(self, data: bytes, key: bytes) -> Any:
        try:
            return self.codec.decode(data)
        except CodecError as exc:
            raise exc.located(topic=self.topic, partition=self.owner.partition, key=_text(key),
                              group=self.owner.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot decode window value: {exc}", codec=self.codec, topic=self.topic,
                             partition=self.owner.partition, key=_text(key), group=self.owner.group) from exc

    def encode(self, value: Any, key: bytes) -> bytes:
        try:
            return self.codec.encode(value)  # type: ignore[no-any-return]
        except CodecError as exc:
            raise exc.located(topic=self.topic, partition=self.owner.partition, key=_text(key),
                              group=self.owner.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot encode {type(value).__name__} window value: {exc}", codec=self.codec,
                             topic=self.topic, partition=self.owner.partition, key=_text(key),
                             group=self.owner.group) from exc

    # -- closing ------------------------------------------------------------------------------
    def next_close(self) -> int | None:
        heap, groups = self.heap, self.groups
        while heap and heap[0] not in groups:
            _heappop(heap)
        return heap[0] if heap else None

    def take(self, room: int, out: list[tuple[int, WindowEdge, bytes, bytes]]) -> None:
        """Take up to ``room`` windows of the earliest close time (:meth:`next_close`, which
        the caller checked is due) off the index into ``out``, in record-key order."""
        top = self.heap[0]
        group = self.groups[top]
        keys = sorted(group) if len(group) > 1 else list(group)
        if self.session or len(keys) > room:
            values = self.values
            for wkey in keys[:room] if len(keys) > room else keys:
                data = values[wkey]
                self._unindex(wkey)
                out.append((top, self, wkey, data))
            return
        del self.groups[top]  # the whole group, of fixed windows: no per-window bookkeeping
        open_pop, values_pop = self.open.pop, self.values.pop
        for wkey in keys:
            open_pop(wkey)
            out.append((top, self, wkey, values_pop(wkey)))

    def seal(self) -> Any:
        gen, self.current = self.current, None
        if gen is not None and not self.owner.direct:
            self.sealed.append(gen)
        return gen

    def flush(self) -> None:
        sealed = self.sealed
        if not sealed or sealed[0].pending:
            return
        gen = sealed.popleft()
        writes, offset = gen.writes, gen.offset
        if sealed and sealed[0].pending == 0:  # several acknowledged: one transaction, in order
            writes = dict(writes)
            while sealed and sealed[0].pending == 0:
                gen = sealed.popleft()
                writes.update(gen.writes)
                offset = max(offset, gen.offset)
        self.storage.write_batch(writes.items(), offset=offset if offset >= 0 else None)

    def stats(self) -> dict[str, Any]:
        return {"open": len(self.open), "late": self.late, "closed": self.closed,
                "next_close": self.next_close()}


class Windows:
    """The window edges of one partition, its stream time and closing progress.

    ``storages`` maps each edge's name to its local storage (this partition of
    ``<group>-<name>``); ``emit(topic, key, data)`` puts a record into the host's batch
    outbox for this partition, ``journal(entry)`` adds an entry to the current message's
    rollback journal. ``generation`` is the partition twin's ``Generation`` class (``None``:
    the host writes storage itself when it appends the records, as the tester does).
    """

    def __init__(self, graph: Any, storages: Mapping[str, Any], emit: Callable[[str, bytes, bytes | None], None],
                 journal: Callable[[Any], None], generation: Callable[[], Any] | None = None, *,
                 partition: int = 0) -> None:
        self.group: str = graph.group
        self.partition = partition
        self.emit = emit
        self.journal = journal
        self.direct = generation is None
        self.generation: Callable[[], Any] = generation if generation is not None else _Gen
        self.edges: dict[str, WindowEdge] = {}
        for topic, edge in graph.window_topics.items():
            self.edges[edge.name] = WindowEdge(self, edge, topic, storages[edge.name])
        self._edges = list(self.edges.values())
        #: the tumbling edges: ctx.window's fast path
        self._tumbling = {name: e for name, e in self.edges.items() if not e.session and not e.hopping}
        #: the largest record timestamp processed (the partition twins update it inline)
        self.stream_time = max((e.marker for e in self._edges), default=_MIN)
        self.target = self.stream_time  # the progress of the last recorded closing round
        #: closing rounds waiting for their batch: (ticket or None, stream time, closed windows)
        self.closing: deque[tuple[Any, int, list[tuple[int, WindowEdge, bytes, bytes]]]] = deque()

    def observe(self, ts: int | None) -> None:
        """Note a processed record's timestamp (the twins inline this)."""
        if ts is not None and ts > self.stream_time:
            self.stream_time = ts

    # -- handles ------------------------------------------------------------------------------
    def edge(self, name: str) -> WindowEdge:
        edge = self.edges.get(name)
        if edge is None:
            raise UndeclaredTopicError(f"group {self.group!r} has no window {name!r}; its windows: "
                                       f"{sorted(self.edges)}")
        return edge

    def handles(self, name: str, key: bytes, ts: int | None, topic: str, offset: int, single: bool) -> list[WindowHandle]:
        edge = self.edges.get(name)
        if edge is None:
            edge = self.edge(name)  # (raises)
        if ts is None or ts < 0:
            ts = 0  # (ctx.timestamp is the epoch for a record without one)
        now = self.stream_time
        if not edge.session:
            if single and edge.hopping:
                spec = edge.spec
                raise TypeError(f"ctx.window({name!r}): {spec!r} puts a record in "
                                f"{-(-spec.size_ms // spec.advance_ms)} windows; use ctx.windows({name!r})")
            bucket = edge.bucket(ts)
            out = [WindowHandle(edge, key, start, end, closes <= now, (), key + suffix)
                   for start, end, closes, suffix in bucket]
            if bucket[0][2] <= now:  # the oldest window is the first to close
                self._late(edge, name, key, topic, offset, out)
            return out
        spec = edge.spec
        gap = spec.gap_ms
        closes = spec.gap_ms + spec.grace_ms  # (a session closed by stream time is not joined)
        parts = [b for b in edge.sessions.get(key, ()) if b[0] - gap <= ts < b[1] + gap and b[1] + closes > now]
        start = min([ts] + [b[0] for b in parts])
        end = max([ts + 1] + [b[1] for b in parts])
        if len(parts) > 1 and spec.merge is None and not edge.warned:
            edge.warned = True
            log.warning("group %s: window %r: a record joins %d sessions of key %r and the Session "
                        "spec has no merge: the earliest session's value is kept (logged once)",
                        self.group, name, len(parts), _text(key))
        late = spec.closes_at(TimeWindow(start, end)) <= now
        out = [WindowHandle(edge, key, start, end, late, [] if late else parts, None)]
        if late:
            self._late(edge, name, key, topic, offset, out)
        return out

    def handle(self, name: str, key: bytes, ts: int | None, topic: str, offset: int) -> WindowHandle:
        """``ctx.window(name)``: :meth:`handles` for one window, without the list."""
        edge = self._tumbling.get(name)
        if edge is None:
            return self.handles(name, key, ts, topic, offset, True)[0]
        return tumbling_handle(self, edge, name, key, ts, topic, offset)

    def _late(self, edge: WindowEdge, name: str, key: bytes, topic: str, offset: int,
              out: list[WindowHandle]) -> None:
        if edge._late_msg == (topic, offset, key):  # counted once per message and edge
            return
        edge._late_msg = (topic, offset, key)
        edge.late += 1
        if log.isEnabledFor(logging.DEBUG):
            late = [h for h in out if h.late]
            log.debug("group %s: late record for window %r dropped (topic=%r, partition=%d, offset=%d, "
                      "key=%r, window=%s..%s, stream time=%d ms)", self.group, name, topic,
                      self.partition, offset, _text(key), late[0].start.isoformat(),
                      late[0].end.isoformat(), self.stream_time)

    # -- closing ------------------------------------------------------------------------------
    def due(self, limit: int = CLOSE_LIMIT) -> tuple[list[tuple[int, WindowEdge, bytes, bytes]], int]:
        """Take up to ``limit`` windows closed by the stream time, in close-time order (removed
        from the open index), as ``(close time, edge, record key, value)``, and the stream time
        up to which closing is then complete."""
        now = self.stream_time
        out: list[tuple[int, WindowEdge, bytes, bytes]] = []
        edges = self._edges
        while len(out) < limit:
            best: WindowEdge | None = None
            best_at = 0
            for edge in edges:
                at = edge.next_close()
                if at is not None and at <= now and (best is None or at < best_at):
                    best, best_at = edge, at
            if best is None:
                return out, now
            best.take(limit - len(out), out)
        nxt = [at for at in (e.next_close() for e in edges) if at is not None and at <= now]
        return out, (min(nxt) - 1 if nxt else now)

    def close_one(self, item: tuple[int, WindowEdge, bytes, bytes], dispatcher: Any) -> None:
        """Run ``on_close`` of one taken window (through ``dispatcher.close``)."""
        closes, edge, wkey, data = item
        on_close = edge.on_close
        if on_close is None:
            return
        key, start, end = parse_window_key(wkey)
        window = TimeWindow(start, end)
        dispatcher.close(edge.topic, key, closes, lambda ctx, value: on_close(ctx, window, value),
                         edge.decode(data, key))

    def unclose(self, items: list[tuple[int, WindowEdge, bytes, bytes]]) -> None:
        """Put taken windows back (an ``on_close`` failed)."""
        for closes, edge, wkey, data in items:
            edge._index(wkey, closes, data)

    def closed(self, ticket: Any, items: list[tuple[int, WindowEdge, bytes, bytes]], upto: int) -> None:
        """Record a closing round: ``items`` closed in the batch of ``ticket`` (``None``: no
        batch), complete up to stream time ``upto``."""
        if not items and upto <= self.target:
            return
        for item in items:
            item[1].closed += 1
        self.target = max(self.target, upto)
        self.closing.append((ticket, upto, items))

    def bury(self, ready: Callable[[Any], bool]) -> bool:
        """For every closing round whose batch ``ready(ticket)`` says is acknowledged: write the
        tombstones of windows past retention and the stream-time markers; flush acknowledged
        generations to storage. Returns whether records went to the outbox."""
        wrote = False
        closing = self.closing
        while closing and (closing[0][0] is None or ready(closing[0][0])):
            _, upto, items = closing.popleft()
            dead: dict[WindowEdge, list[bytes]] = {}  # tombstones to write, per edge
            for closes, edge, wkey, _ in items:
                expires = closes + edge.expiry_shift
                if expires > upto:
                    _heappush(edge.retained, (expires, wkey))
                elif wkey not in edge.open:  # past retention already: no need to keep it
                    wkeys = dead.get(edge)
                    if wkeys is None:
                        wkeys = dead[edge] = []
                    wkeys.append(wkey)
            for edge in self._edges:
                wkeys = dead.get(edge, [])
                retained = edge.retained
                while retained and retained[0][0] <= upto:
                    _, wkey = _heappop(retained)
                    if wkey not in edge.open:
                        wkeys.append(wkey)
                if wkeys:
                    edge.tombstones(wkeys)
                    wrote = True
                if upto > edge.marker:
                    edge.marker = upto
                    edge.write(STREAM_TIME_KEY, encode_stream_time(upto))
                    wrote = True
        for edge in self._edges:
            edge.flush()
        return wrote

    # -- Kafka: generations -------------------------------------------------------------------
    def seal(self) -> dict[str, Any] | None:
        """Close the batch's storage generations: ``{topic: generation}`` (None: no writes)."""
        gens = None
        for edge in self._edges:
            gen = edge.seal()
            if gen is not None:
                if gens is None:
                    gens = {}
                gens[edge.topic] = gen
        return gens

    def in_flight(self) -> int:
        return len(self.closing) + sum(len(e.sealed) + (e.current is not None) for e in self._edges)

    def stats(self) -> dict[str, Any]:
        return {"stream_time": self.stream_time if self.stream_time != _MIN else None,
                "open": sum(len(e.open) for e in self._edges), "late": sum(e.late for e in self._edges),
                "edges": {name: e.stats() for name, e in self.edges.items()}}


def window_handles(dispatcher: Any, name: str, key: bytes, ts: int | None, topic: str, offset: int,
                   single: bool) -> Any:
    """``ctx.window(name)`` (``single``) / ``ctx.windows(name)`` of both Context twins."""
    windows = dispatcher.windows
    if windows is None:
        raise UndeclaredTopicError(f"group {dispatcher.group!r} has no Window edge: no window {name!r}")
    if single:
        edge = windows._tumbling.get(name)
        if edge is not None:  # (Windows.handle, one call less)
            return tumbling_handle(windows, edge, name, key, ts, topic, offset)
        return windows.handle(name, key, ts, topic, offset)
    return windows.handles(name, key, ts, topic, offset, False)


def _text(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def own_generations(timers: Any, windows: Windows | None, timer_topic: str) -> dict[str, Any] | None:
    """Seal the batch's storage generations of the timer and window topics: ``{topic:
    generation}`` for the batch's acknowledgement (``None``: no such writes)."""
    own = windows.seal() if windows is not None else None
    if timers is not None:
        tgen = timers.seal()
        if tgen is not None:
            own = {**(own or {}), timer_topic: tgen}
    return own
