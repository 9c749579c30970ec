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
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from goka._core.timers import TimerUndo
from goka._core.window_handle import WindowHandle
from goka.errors import CodecError, ProcessingError, UndeclaredTopicError
from goka.window import (STREAM_TIME_KEY, Session, TimeWindow, decode_stream_time, encode_stream_time,
                         is_window_record, parse_window_key)

__all__ = ["Windows", "WindowEdge", "WindowHandle", "CLOSE_LIMIT", "window_handles", "own_generations"]

log = logging.getLogger("goka.processor")

_MISSING = object()
_MIN = -(2**63)
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
        self.heap: list[tuple[int, bytes]] = []  # (close time, key), stale entries dropped lazily
        self.retained: list[tuple[int, bytes]] = []  # closed, kept until (expiry, key)
        self.sessions: dict[bytes, list[tuple[int, int]]] = {}  # open sessions per message key
        self.current: Any = None
        self.sealed: deque[Any] = deque()
        self.marker = _MIN  # the stream time of the last marker written (or recovered)
        self.late = 0
        self.closed = 0
        self._late_msg: Any = None
        self.warned = False
        for wkey, data in storage.items():
            if wkey == STREAM_TIME_KEY:
                try:
                    self.marker = decode_stream_time(data)
                except ValueError as exc:
                    raise self._invalid(wkey, str(exc)) from None
        for wkey, _ in storage.items():
            if wkey == STREAM_TIME_KEY:
                continue
            if not is_window_record(wkey):
                raise self._invalid(wkey, "not a window record key (message key + start + end)")
            closes = self._closes(wkey)
            if closes > self.marker:
                self._index(wkey, closes)
            else:  # closed before the crash or restart: kept only until its retention ends
                heapq.heappush(self.retained, (self._expires(wkey), wkey))

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
    def _index(self, wkey: bytes, closes: int) -> None:
        if self.open.get(wkey) != closes:
            heapq.heappush(self.heap, (closes, wkey))
        self.open[wkey] = closes
        if self.session:
            key, start, end = parse_window_key(wkey)
            bounds = self.sessions.setdefault(key, [])
            if (start, end) not in bounds:
                bounds.append((start, end))
                bounds.sort()

    def _unindex(self, wkey: bytes) -> None:
        if self.open.pop(wkey, None) is not None and self.session:
            key, start, end = parse_window_key(wkey)
            bounds = self.sessions.get(key)
            if bounds is not None:
                if (start, end) in bounds:
                    bounds.remove((start, end))
                if not bounds:
                    del self.sessions[key]

    def get(self, wkey: bytes) -> bytes | None:
        """The stored value of a window record key: the newest unacknowledged write first."""
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
            old = (self.open.get(wkey), tuple(self.sessions.get(key, ())) if self.session else None)
            if data is None:
                self._unindex(wkey)
            else:
                self._index(wkey, self._closes(wkey))
        else:
            old = None
        owner.journal(TimerUndo(self, wkey, old, old_gen))  # type: ignore[arg-type]
        owner.emit(self.topic, wkey, data)

    def _restore(self, wkey: bytes, old: Any, old_gen: Any) -> None:
        """Undo :meth:`write` (called by the journal entry when the message is rolled back)."""
        if old is not None:
            closes, sessions = old
            if closes is None:
                self._unindex(wkey)
            else:
                self._index(wkey, closes)
            if sessions is not None:
                key = parse_window_key(wkey)[0]
                if sessions:
                    self.sessions[key] = list(sessions)
                else:
                    self.sessions.pop(key, None)
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
        heap, open_ = self.heap, self.open
        while heap and open_.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def seal(self) -> Any:
        gen, self.current = self.current, None
        if gen is not None and not self.owner.direct:
            self.sealed.append(gen)
        return gen

    def flush(self) -> None:
        sealed = self.sealed
        while sealed and sealed[0].pending == 0:
            gen = sealed.popleft()
            self.storage.write_batch(gen.writes.items(), offset=gen.offset if gen.offset >= 0 else None)

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
        #: the largest record timestamp processed (the partition twins update it inline)
        self.stream_time = max((e.marker for e in self._edges), default=_MIN)
        self.target = self.stream_time  # the progress of the last recorded closing round
        #: closing rounds waiting for their batch: (ticket or None, stream time, closed windows)
        self.closing: deque[tuple[Any, int, list[tuple[int, WindowEdge, bytes]]]] = deque()

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
        edge = self.edge(name)
        if ts is None or ts < 0:
            ts = 0  # (ctx.timestamp is the epoch for a record without one)
        spec = edge.spec
        now = self.stream_time
        out: list[WindowHandle] = []
        if edge.session:
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
            out.append(WindowHandle(edge, key, start, end, late, [] if late else parts))
        else:
            if single and spec.size_ms != spec.advance_ms:
                raise TypeError(f"ctx.window({name!r}): {spec!r} puts a record in "
                                f"{-(-spec.size_ms // spec.advance_ms)} windows; use ctx.windows({name!r})")
            for w in spec.windows_at(ts):
                out.append(WindowHandle(edge, key, w.start_ms, w.end_ms, spec.closes_at(w) <= now, []))
        late = [h for h in out if h.late]
        if late and edge._late_msg != (topic, offset, key):  # once per message and edge
            edge._late_msg = (topic, offset, key)
            edge.late += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("group %s: late record for window %r dropped (topic=%r, partition=%d, offset=%d, "
                          "key=%r, window=%s..%s, stream time=%d ms)", self.group, name, topic,
                          self.partition, offset, _text(key), late[0].start.isoformat(),
                          late[0].end.isoformat(), now)
        return out

    # -- closing ------------------------------------------------------------------------------
    def due(self, limit: int = CLOSE_LIMIT) -> tuple[list[tuple[int, WindowEdge, bytes]], int]:
        """Take up to ``limit`` windows closed by the stream time, in close-time order (removed
        from the open index), and the stream time up to which closing is then complete."""
        now = self.stream_time
        out: list[tuple[int, WindowEdge, bytes]] = []
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
            _, wkey = heapq.heappop(best.heap)
            best._unindex(wkey)
            out.append((best_at, best, wkey))
        nxt = [at for at in (e.next_close() for e in edges) if at is not None and at <= now]
        return out, (min(nxt) - 1 if nxt else now)

    def close_one(self, item: tuple[int, WindowEdge, bytes], dispatcher: Any) -> None:
        """Run ``on_close`` of one taken window (through ``dispatcher.close``)."""
        closes, edge, wkey = item
        on_close = edge.on_close
        if on_close is None:
            return
        data = edge.get(wkey)
        if data is None:
            return
        key, start, end = parse_window_key(wkey)
        window = TimeWindow(start, end)
        dispatcher.close(edge.topic, key, closes, lambda ctx, value: on_close(ctx, window, value),
                         edge.decode(data, key))

    def unclose(self, items: list[tuple[int, WindowEdge, bytes]]) -> None:
        """Put taken windows back (an ``on_close`` failed)."""
        for closes, edge, wkey in items:
            edge._index(wkey, closes)

    def closed(self, ticket: Any, items: list[tuple[int, WindowEdge, bytes]], upto: int) -> None:
        """Record a closing round: ``items`` closed in the batch of ``ticket`` (``None``: no
        batch), complete up to stream time ``upto``."""
        if not items and upto <= self.target:
            return
        for _, edge, _ in items:
            edge.closed += 1
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
            for _, edge, wkey in items:
                heapq.heappush(edge.retained, (edge._expires(wkey), wkey))
            for edge in self._edges:
                retained = edge.retained
                while retained and retained[0][0] <= upto:
                    _, wkey = heapq.heappop(retained)
                    if wkey not in edge.open:
                        edge.write(wkey, None)
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
    handles = windows.handles(name, key, ts, topic, offset, single)
    return handles[0] if single else handles


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
