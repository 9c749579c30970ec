"""``goka.tester.Tester``: run processors, views and emitters in memory, synchronously.

The model is Go Goka's tester: every topic has exactly one partition (an in-memory
queue, offset = index), and every table topic has one in-memory storage shared by all
processors and views that use it. ``consume`` appends a message and returns only after
every processor has processed everything it caused (loopbacks, emits to topics other
processors consume, table updates seen by joins and views).

Processors, views and emitters are attached by passing the tester as ``brokers``::

    tt = Tester()
    p = goka.Processor(tt, group)
    tt.consume("clicks", "user-1", "click")
    assert tt.table_value("counter-table", "user-1") == 1

A message's effects are all or nothing, as on Kafka: a callback's table writes, emits,
loopbacks and deferred commits are buffered and reach the queues and tables only when it
returns; when it raises they are discarded and the processor's error policy
(``on_error``, see :mod:`goka.policy`) applies -- ``Fail`` stops the processor and
``consume`` raises; ``Skip`` and ``DeadLetter`` let ``consume`` return (the dead-letter
record is in its topic's queue); ``Retry`` calls the callback again at once (the tester
does not wait). Once a processor has failed, writing to a topic it consumed raises
:class:`goka.ProcessorStoppedError` (the message is in the queue, but nothing will process
it) until a new processor of that group is created.

Time: the tester has its own wall clock, set to the real time when it is created and moved
only by :meth:`Tester.advance_time`, which fires the timers (``goka.Timer``) that fall due,
in due order, each with its effects and its timer's removal committed together. Record
timestamps default to this clock; ``consume(..., timestamp=...)`` sets them. Record
timestamps drive the stream time of windowed tables (``goka.Window``): after each
``consume`` (and whatever it caused) the tester closes the windows the stream time has
passed, running their ``on_close`` callbacks in close-time order.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from goka._core.dispatch import Dispatcher
from goka._core.failure import describe, error_headers, policies_of, raw_headers, settle
from goka._core.timers import Timers
from goka._core.windows import Windows
from goka.errors import GokaError, ProcessingError, ProcessorStoppedError, UndeclaredTopicError
from goka.keys import key_bytes
from goka.policy import DeadLetter
from goka.storage import Storage
from goka.storage.memory import MemoryStorage
from goka.tester.queue import Queue, QueueTracker, Record

if TYPE_CHECKING:
    from goka.emitter import Emitter
    from goka.graph import GroupGraph
    from goka.processor import Processor
    from goka.view import View

__all__ = ["Tester", "TesterError"]

log = logging.getLogger("goka.tester")


class TesterError(GokaError):
    """Misuse of the tester (unknown topic, conflicting codecs, ...)."""

    __test__ = False


def _encode_headers(headers: Any) -> dict[str, bytes] | None:
    if not headers:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    return {k: (v.encode() if isinstance(v, str) else bytes(v)) for k, v in items}


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8", "surrogateescape") if type(key) is str else key_bytes(key)


class Tester:
    """An in-memory, single-partition stand-in for Kafka, for users' unit tests."""

    __test__ = False  # not a pytest test class, though its name starts with "Test"

    def __init__(self) -> None:
        self._queues: dict[str, Queue] = {}
        self._codecs: dict[str, Any] = {}
        self._storages: dict[str, Storage] = {}
        self._tables: set[str] = set()
        self._subscribers: dict[str, list[_TesterProcessor]] = {}
        self._pending: deque[tuple[str, int]] = deque()
        self._errors: list[BaseException] = []
        self._draining = False
        self._failed: dict[str, list[_TesterProcessor]] = {}  # topic -> failed processors consuming it
        self._now_ms = int(time.time() * 1000)  # the tester's wall clock (see advance_time)

    # -- registration (called by Processor/View/Emitter constructors) --------------------
    def _register_codec(self, topic: str, codec: Any) -> None:
        known = self._codecs.get(topic)
        if known is None:
            self._codecs[topic] = codec
        elif type(known) is not type(codec):
            raise TesterError(
                f"topic {topic!r} registered with two codec types: {known!r} and {codec!r}"
            )

    def _register_table(self, topic: str, codec: Any) -> Storage:
        self._register_codec(topic, codec)
        self._tables.add(topic)
        return self._storage(topic)

    def _processor_backend(self, processor: Processor) -> _TesterProcessor:
        return _TesterProcessor(self, processor)

    def _view_backend(self, view: View) -> _TesterView:
        return _TesterView(self, view)

    def _emitter_backend(self, emitter: Emitter) -> _TesterEmitter:
        return _TesterEmitter(self, emitter)

    # -- topics -------------------------------------------------------------------------
    def _queue(self, topic: str) -> Queue:
        queue = self._queues.get(topic)
        if queue is None:
            queue = self._queues[topic] = Queue(topic)
        return queue

    def _codec(self, topic: str) -> Any:
        codec = self._codecs.get(topic)
        if codec is None:
            raise TesterError(
                f"no processor, view or emitter declares topic {topic!r}: its codec is unknown"
            )
        return codec

    def _storage(self, topic: str) -> Storage:
        storage = self._storages.get(topic)
        if storage is None:
            storage = self._storages[topic] = MemoryStorage()
        return storage

    def _append(self, topic: str, key: bytes, value: bytes | None, headers: Any,
                timestamp_ms: int | None = None) -> int:
        if timestamp_ms is None:
            timestamp_ms = self._now_ms
        offset = self._queue(topic).append(Record(key, value, _encode_headers(headers), timestamp_ms))
        if topic in self._tables:  # table topics update the shared storage (DefaultUpdate)
            storage = self._storage(topic)
            if value is None:
                storage.delete(key)
            else:
                storage.set(key, value)
        if topic in self._subscribers:
            self._pending.append((topic, offset))
        for proc in self._failed.get(topic, ()):
            err = ProcessorStoppedError(
                f"processor of group {proc.graph.group!r} stopped after an error, so nothing processes "
                f"{topic!r} offset {offset}; create a new processor of the group to go on")
            err.__cause__ = proc.error
            self._errors.append(err)
        return offset

    def _drain(self) -> None:
        """Deliver every pending message to its subscribers, including cascades, then raise
        the first processing error, if any."""
        if self._draining:
            return
        self._draining = True
        try:
            while True:
                while self._pending:
                    topic, offset = self._pending.popleft()
                    record = self._queues[topic].records[offset]
                    for proc in list(self._subscribers.get(topic, ())):
                        proc._deliver(topic, offset, record)
                for proc in self._window_processors():  # stream time moved: close windows
                    proc._close_windows()
                if not self._pending:
                    break
        finally:
            self._draining = False
        if self._errors:
            err = self._errors[0]
            self._errors.clear()
            raise err

    def _fail(self, proc: _TesterProcessor, exc: BaseException) -> None:
        proc.error = exc
        for subs in self._subscribers.values():
            if proc in subs:
                subs.remove(proc)
        for topic in proc.graph.consumed_topics:
            self._failed.setdefault(topic, []).append(proc)
        self._errors.append(exc)

    def _restarted(self, group: str) -> None:
        """A new processor of ``group``: its failed predecessors no longer block its topics."""
        for topic, procs in list(self._failed.items()):
            procs[:] = [p for p in procs if p.graph.group != group]
            if not procs:
                del self._failed[topic]

    # -- public API -----------------------------------------------------------------------
    def consume(self, topic: str, key: str | bytes, value: Any, headers: Any = None,
                timestamp: Any = None) -> None:
        """Write ``value`` (encoded with the topic's codec; ``None`` = tombstone) to ``topic``
        and return after every processor has processed it and all it caused.

        Raises the error a processor failed with (``ProcessingError``, ``CodecError``), and
        :class:`goka.ProcessorStoppedError` when a processor consuming ``topic`` has failed
        before. ``timestamp`` is a ``datetime`` or epoch milliseconds (default: now).

        Parameters
        ----------
        topic : str
            A topic some processor consumes (an input or loop topic) or any topic given a
            codec by an edge.
        key : str or bytes
            The message key.
        value : any
            Encoded with the topic's codec (the codec of the edge declaring it);
            ``None`` writes a tombstone.
        headers : mapping of str to bytes or str, optional
            Message headers (``ctx.headers``).
        timestamp : datetime.datetime or int, optional
            The message timestamp (``ctx.timestamp``): a ``datetime`` or epoch
            milliseconds; default now.
        """
        data = None if value is None else self._codec(topic).encode(value)
        self.consume_raw(topic, key, data, headers=headers, timestamp=timestamp)

    def consume_raw(self, topic: str, key: str | bytes, data: bytes | None, headers: Any = None,
                    timestamp: Any = None) -> None:
        """Like :meth:`consume`, with the value already encoded (or ``None``).

        Parameters
        ----------
        topic : str
            A topic some processor consumes (an input or loop topic) or any topic given a
            codec by an edge.
        key : str or bytes
            The message key.
        data : bytes or None
            The encoded value; ``None`` writes a tombstone.
        headers : mapping of str to bytes or str, optional
            Message headers (``ctx.headers``).
        timestamp : datetime.datetime or int, optional
            The message timestamp (``ctx.timestamp``): a ``datetime`` or epoch
            milliseconds; default now.
        """
        if timestamp is not None and not isinstance(timestamp, int):
            timestamp = int(timestamp.timestamp() * 1000)
        self._append(topic, _key_bytes(key), data, headers, timestamp)
        self._drain()

    def now(self) -> datetime:
        """The tester's wall clock (an aware UTC datetime)."""
        return datetime.fromtimestamp(self._now_ms / 1000.0, timezone.utc)

    def advance_time(self, delta: timedelta) -> int:
        """Move the tester's wall clock forward by ``delta`` and fire every timer now due
        (including timers those callbacks schedule that are due too), in due order, then
        process everything they caused. The clock stops at each due time while its timer
        fires, so a callback's ``delay=`` counts from there. Returns how many timers fired;
        raises the error a timer callback failed with (its processor stops, the timer stays
        pending, the clock stays at its due time).

        Parameters
        ----------
        delta : datetime.timedelta
            How far to move the clock (not negative).
        """
        if not isinstance(delta, timedelta):
            raise TypeError(f"delta must be a datetime.timedelta, got {type(delta).__name__}")
        if delta < timedelta(0):
            raise ValueError(f"the tester's clock cannot go backwards (delta={delta})")
        target = self._now_ms + int(delta / timedelta(milliseconds=1))
        fired = 0
        while True:  # on an error, the clock stays at the failed timer's due time
            due: list[tuple[int, int, _TesterProcessor]] = []
            for i, p in enumerate(self._timer_processors()):
                at = p.timers.next_due() if p.timers is not None else None
                if at is not None and at <= target:
                    due.append((at, i, p))
            if not due:
                break
            at, _, proc = min(due, key=lambda d: (d[0], d[1]))
            self._now_ms = max(self._now_ms, at)  # the clock passes each due time in turn
            fired += proc._fire_one(self._now_ms)
            self._drain()
        self._now_ms = target
        self._drain()
        return fired

    def _timer_processors(self) -> list[_TesterProcessor]:
        procs: dict[int, _TesterProcessor] = {}
        for subs in self._subscribers.values():
            for proc in subs:
                if proc.timers is not None:
                    procs[id(proc)] = proc
        return list(procs.values())

    def _window_processors(self) -> list[_TesterProcessor]:
        procs: dict[int, _TesterProcessor] = {}
        for subs in self._subscribers.values():
            for proc in subs:
                if proc.windows is not None:
                    procs[id(proc)] = proc
        return list(procs.values())

    def catchup(self) -> None:
        """Process everything still pending."""
        self._drain()

    def table_value(self, table: str, key: str) -> Any:
        """The decoded value of ``key`` in ``table``, or ``None``.

        Parameters
        ----------
        table : str
            A table topic (``<group>-table`` of a tested processor, or a table a group
            joins or looks up).
        key : str
            The key.
        """
        data = self._storage(table).get(_key_bytes(key))
        return None if data is None else self._codec(table).decode(data)

    def set_table_value(self, table: str, key: str, value: Any) -> None:
        """Store ``value`` for ``key`` in ``table`` directly (nothing is produced).

        Parameters
        ----------
        table : str
            A table topic (``<group>-table`` of a tested processor, or a table a group
            joins or looks up).
        key : str
            The key.
        value : any
            Encoded with the table's codec.
        """
        self._storage(table).set(_key_bytes(key), self._codec(table).encode(value))

    def get_table_keys(self, table: str) -> list[str]:
        """The keys stored in ``table``, sorted.

        Parameters
        ----------
        table : str
            A table topic (``<group>-table`` of a tested processor, or a table a group
            joins or looks up).
        """
        return [k.decode("utf-8", "surrogateescape") for k, _ in self._storage(table).items()]

    def clear_values(self) -> None:
        """Delete every stored table value (queues are kept)."""
        for storage in self._storages.values():
            storage.clear()

    def queue_tracker(self, topic: str, codec: Any = None) -> QueueTracker:
        """A tracker reading what is written to ``topic`` from now on.

        Parameters
        ----------
        topic : str
            Any topic (output, loop, table, dead-letter topic, ...).
        codec : goka.codec.Codec, optional
            Decodes the values; default the codec of the edge declaring ``topic``.
        """
        return QueueTracker(self, topic, codec)


class _TesterSink:
    """Records a processor's output into the tester's queues."""

    __slots__ = ("tester", "proc")

    def __init__(self, tester: Tester, proc: _TesterProcessor) -> None:
        self.tester = tester
        self.proc = proc

    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Any) -> None:
        self.proc.outbox.append((topic, key, value, headers))  # appended when the callback returns

    def defer(self) -> Callable[..., None]:
        done = _Done(self.tester, self.proc)
        self.proc.dones.append(done)
        return done


class _Done:
    """``done(exc=None)`` of a deferred commit; ignored once its message was rolled back."""

    __slots__ = ("tester", "proc", "called")

    def __init__(self, tester: Tester, proc: _TesterProcessor) -> None:
        self.tester = tester
        self.proc = proc
        self.called = False

    def __call__(self, exc: BaseException | None = None) -> None:
        if self.called:
            return
        self.called = True
        if exc is not None:
            proc = self.proc
            self.tester._fail(proc, ProcessingError(f"deferred commit failed: {exc!r}", group=proc.graph.group))


class _StorageTable:
    """The dispatcher's view of a tester table storage: the current message's writes over
    the storage (they reach it through the changelog records when the callback returns)."""

    __slots__ = ("storage", "staged")

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.staged: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        staged = self.staged
        if key in staged:
            return staged[key]
        return self.storage.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        self.staged[key] = value


class _TesterProcessor:
    """A processor's life in the tester: one partition, driven by ``Tester._drain``."""

    def __init__(self, tester: Tester, processor: Processor) -> None:
        graph: GroupGraph = processor.graph
        self.tester = tester
        self.graph = graph
        self.error: BaseException | None = None
        self.stopped = False
        self.outbox: list[tuple[str, bytes, bytes | None, Any]] = []  # the current message's records
        self.dones: list[_Done] = []
        self.policies = policies_of(graph, processor.on_error)
        self.skipped: dict[str, int] = {}
        self.dead_lettered: dict[str, int] = {}
        tester._restarted(graph.group)
        for topic, codec in graph.codecs().items():
            if (topic in (graph.table_topic, graph.timer_topic) or topic in graph.joins or topic in graph.lookups
                    or topic in graph.window_topics):
                tester._register_table(topic, codec)
            else:
                tester._register_codec(topic, codec)
        table = self.table = None
        if graph.persist is not None:
            table = self.table = _StorageTable(tester._storage(graph.table_topic))
        joins = {t: tester._storage(t).get for t in graph.joins}
        lookups = {t: self._lookup_getter(t, e.codec) for t, e in graph.lookups.items()}
        self.dispatcher = Dispatcher(graph, 0, _TesterSink(tester, self), table=table, joins=joins,
                                     lookups=lookups, nil_handling=processor.nil_handling)
        self.timers: Timers | None = None
        self.timer_journal: list[Any] = []  # the current callback's timer changes (TimerUndo)
        if graph.timer is not None:
            self.timers = Timers(graph.timer_topic, tester._storage(graph.timer_topic),
                                 lambda topic, key, value: self.outbox.append((topic, key, value, None)),
                                 self.timer_journal.append, lambda: tester._now_ms, group=graph.group)
            self.dispatcher.timers = self.timers
        self.windows: Windows | None = None
        if graph.windows:  # window changes are journaled with the timer changes
            self.windows = Windows(graph, {e.name: tester._storage(t) for t, e in graph.window_topics.items()},
                                   lambda topic, key, value: self.outbox.append((topic, key, value, None)),
                                   self.timer_journal.append)
            self.dispatcher.windows = self.windows
        for topic in graph.consumed_topics:
            tester._subscribers.setdefault(topic, []).append(self)

    def _lookup_getter(self, table: str, codec: Any) -> Callable[[str], Any]:
        storage = self.tester._storage(table)

        def get(key: str) -> Any:
            data = storage.get(_key_bytes(key))
            return None if data is None else codec.decode(data)
        return get

    def _fire_one(self, now: int) -> int:
        """Fire the earliest due timer: its effects and its tombstone commit together."""
        assert self.timers is not None
        due = self.timers.due(now, 1)
        if not due:
            return 0
        at, tkey, data = due[0]
        self.timer_journal.clear()
        try:
            self.dispatcher.fire(tkey[8:], data, at)
        except Exception as exc:
            self._rollback()
            self.timers.unfire(due[0])
            self.tester._fail(self, exc)
            return 0
        if tkey not in self.timers.pending:  # not scheduled again by its own callback
            self.outbox.append((self.graph.timer_topic, tkey, None, None))
        self.timers.fired_count += 1
        self._commit()
        return 1

    def _close_windows(self) -> int:
        """Run ``on_close`` of the windows the stream time has passed, each committed on its
        own, then write the stream-time markers and the tombstones of expired windows."""
        windows = self.windows
        closed = 0
        while windows is not None and self.error is None:
            due, upto = windows.due()
            for i, item in enumerate(due):
                self.timer_journal.clear()
                try:
                    windows.close_one(item, self.dispatcher)
                except Exception as exc:
                    self._rollback()
                    windows.unclose(due[i:])
                    self.tester._fail(self, exc)
                    return closed
                self._commit()
                closed += 1
            windows.closed(None, due, upto)
            if windows.bury(lambda ticket: True):
                self._commit()
            if upto >= windows.stream_time:
                break
        return closed

    def _deliver(self, topic: str, offset: int, record: Record) -> None:
        windows = self.windows
        if windows is not None:  # stream time: the largest record timestamp processed
            windows.observe(record.timestamp_ms)
        def attempt() -> None:
            self.timer_journal.clear()
            self.dispatcher.process(topic, offset, record.key, record.value, record.timestamp_ms,
                                    record.headers)
            self._commit()

        try:
            attempt()
            return
        except Exception as exc:
            self._rollback()
            policy = self.policies.get(topic) if self.policies is not None else None
            if policy is None:  # the processor stops, as it would on Kafka
                self.tester._fail(self, exc)
                return
            first = exc
        try:
            result = settle(policy, first, attempt, self._rollback, lambda seconds: False)
        except Exception as exc:
            self.tester._fail(self, exc)
            return
        if result is None:
            return
        final, err = result
        group = self.graph.group
        cause = describe(err)
        if isinstance(final, DeadLetter):
            headers = raw_headers(record.headers) + error_headers(group, topic, 0, offset, err)
            self.tester._append(final.topic, record.key, record.value, headers)
            self.dead_lettered[topic] = self.dead_lettered.get(topic, 0) + 1
            log.warning("group %s: message dead-lettered to %r (topic=%r, partition=0, offset=%d, key=%r): %s",
                        group, final.topic, topic, offset, record.key.decode("utf-8", "replace"), cause)
        else:
            self.skipped[topic] = self.skipped.get(topic, 0) + 1
            log.warning("group %s: message skipped (topic=%r, partition=0, offset=%d, key=%r): %s",
                        group, topic, offset, record.key.decode("utf-8", "replace"), cause)

    def _commit(self) -> None:
        """The callback returned: its records go to their queues (table records update the
        table storage there)."""
        outbox, self.outbox = self.outbox, []
        self.dones.clear()
        self.timer_journal.clear()
        if self.table is not None:
            self.table.staged.clear()
        for topic, key, value, headers in outbox:
            self.tester._append(topic, key, value, headers)
        if self.windows is not None:
            self.windows.seal()  # (the records above wrote the window storage)

    def _rollback(self) -> None:
        """The callback raised: discard what it did."""
        self.outbox.clear()
        for entry in reversed(self.timer_journal):
            entry.undo()
        self.timer_journal.clear()
        for done in self.dones:
            done.called = True
        self.dones.clear()
        if self.table is not None:
            self.table.staged.clear()

    # -- backend interface of goka.Processor -------------------------------------------
    def run(self) -> None:
        self.start()
        if self.error is not None:
            raise self.error

    def start(self) -> None:
        if self.stopped:
            raise ProcessorStoppedError(f"processor of group {self.graph.group!r} was stopped; "
                                        "create a new one")

    def stop(self) -> None:
        self.stopped = True
        for subs in self.tester._subscribers.values():
            if self in subs:
                subs.remove(self)

    def wait_recovered(self, timeout: float | None = None) -> bool:
        return True

    @property
    def state(self) -> str:
        if self.error is not None or self.stopped:
            return "stopped"
        return "running"

    def get(self, key: str) -> Any:
        if self.graph.persist is None:
            raise UndeclaredTopicError(f"group {self.graph.group!r} has no Persist edge")
        return self.tester.table_value(self.graph.table_topic, key)

    def visit_all(self, name: str, value: Any) -> int:
        if name not in self.graph.visitors:
            raise UndeclaredTopicError(f"group {self.graph.group!r} has no visitor {name!r}")
        keys = [k for k, _ in self.tester._storage(self.graph.table_topic).items()]
        visited = 0
        for key in keys:
            self.timer_journal.clear()
            try:
                self.dispatcher.visit(name, key, value)
            except Exception as exc:
                self._rollback()
                self.tester._fail(self, exc)
                break
            self._commit()
            visited += 1
        self.tester._drain()
        return visited

    def stats(self) -> dict[str, Any]:
        return {"group": self.graph.group, "state": self.state, "partitions": [0],
                "skipped": dict(self.skipped), "dead_lettered": dict(self.dead_lettered),
                **({"timers": self.timers.stats()} if self.timers is not None else {}),
                **({"windows": self.windows.stats()} if self.windows is not None else {})}


class _TesterView:
    """A view reading the tester's shared storage of its table."""

    def __init__(self, tester: Tester, view: View) -> None:
        self.tester = tester
        self.codec = view.codec
        self.storage = tester._register_table(view.table, view.codec)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def run(self) -> None: ...

    def wait_recovered(self, timeout: float | None = None) -> bool:
        return True

    def recovered(self) -> bool:
        return True

    @property
    def state(self) -> str:
        return "running"

    def get(self, key: str) -> Any:
        data = self.storage.get(_key_bytes(key))
        return None if data is None else self.codec.decode(data)

    def has(self, key: str) -> bool:
        return self.storage.has(_key_bytes(key))

    def items(self, prefix: str | None = None, start: str | None = None,
              end: str | None = None) -> Iterator[tuple[str, Any]]:
        def enc(s: str | None) -> bytes | None:
            return None if s is None else _key_bytes(s)

        for k, v in self.storage.items(enc(prefix), enc(start), enc(end)):
            yield k.decode("utf-8", "surrogateescape"), self.codec.decode(v)


class _TesterEmitter:
    """An emitter appending to the tester's queue and waiting for the cascade."""

    def __init__(self, tester: Tester, emitter: Emitter) -> None:
        self.tester = tester
        self.topic = emitter.topic
        tester._register_codec(emitter.topic, emitter.codec)

    def emit(self, key: bytes, value: bytes | None, headers: Any, timestamp: int | None = None) -> Future[int]:
        offset = self.tester._append(self.topic, key, value, headers, timestamp)
        self.tester._drain()
        fut: Future[int] = Future()
        fut.set_result(offset)
        return fut

    def finish(self, timeout: float | None = None) -> None: ...
