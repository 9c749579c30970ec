"""One assigned partition of a processor: dispatch, rollback, commit bookkeeping.

Pure twin of ``_partition_c`` and its specification (see ``goka._core``); imported
through ``goka._core.partition``.

For the messages of one input topic in one consumed batch, a ticket (``Ticket``, with
``BatchAck`` in ``goka._core._ack_py``) counts what they still wait for: each record
their callbacks produced (table write, emit, loopback) until the broker acknowledges it,
and each ``ctx.defer_commit()`` until ``done()`` is called. A ticket covers the offsets
up to its last successfully processed message. Input offsets are committed over the
contiguous prefix of finished tickets, so a commit never passes a message whose effects
are not all acknowledged, nor a message whose callback failed. (One ticket per batch
rather than per message: the bookkeeping cost per message is a counter increment.)

Table writes of one consumed batch form a :class:`Generation`. The callback sees them at
once (``ctx.value()`` reads the newest generation first), but they reach local storage
only when all their changelog records are acknowledged -- in one storage transaction
together with the changelog offset. Local storage is therefore always a prefix of the
changelog, and recovery from the stored offset + 1 is exact.

A message's effects are all or nothing. While a callback runs, the partition processor
journals what it does: each record appended to the batch outbox (its ``(topic,
partition)`` slot), each in-place change of a coalesced changelog record, each deferred
commit taken, and -- in :class:`TableCache` -- the previous entry of each key written in
the open generation. When the dispatcher raises, :meth:`PartitionProcessor.rollback`
undoes them in reverse order, so the failed message leaves nothing in the outbox, the
generation, the cache or the tickets. On success the journals are simply dropped at the
next message (the cost on the success path is one list append per write, emit or defer).
What happens next is the input edge's error policy (see :mod:`goka.policy` and
:mod:`goka._core.failure`): fail (the default), retry, skip or dead-letter.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from goka._core._ack_py import BatchAck, Ticket, _Done, _ticket_done
from goka._core._tablecache_py import Generation, TableCache
from goka._core.dispatch import Dispatcher  # a module global: the bench swaps it per twin
from goka._core.failure import handle_failure, policies_of
from goka._core.timers import Timers, TimerUndo
from goka._core.windows import Windows, own_generations
from goka.errors import ProduceError
from goka.graph import GroupGraph
from goka.options import NilHandling
from goka.storage import Storage

__all__ = ["PartitionProcessor", "process_batch"]

log = logging.getLogger("goka.processor")

_MISSING = object()


def _header_list(headers: Mapping[str, str | bytes]) -> list[tuple[str, bytes]]:
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in headers.items()]


def process_batch(msgs: list[Any], partitions: Mapping[int, PartitionProcessor],
                  on_error: Callable[[Any], None]) -> int:
    """Process one consumed batch: each message goes to the partition processor of its
    partition (messages of partitions no longer held are dropped: they were revoked while
    the batch was in flight), consumer errors go to ``on_error``; then every partition
    processor that got messages ends its batch. Returns how many messages were processed."""
    touched: dict[PartitionProcessor, None] = {}
    count = 0
    for msg in msgs:
        err = msg.error()
        if err is not None:
            on_error(err)
            continue
        pp = partitions.get(msg.partition())
        if pp is None:
            continue
        pp.process(msg)
        touched[pp] = None
        count += 1
    for pp in touched:
        pp.end_batch()
    return count


class PartitionProcessor:
    """Processes the messages of partition ``partition`` of every input topic.

    Records a batch's callbacks produce are collected and handed over at the end of the
    batch: ``produce_batch(topic, partition, records, on_delivery)`` takes a list of record
    dicts (``key``, ``value``, and ``headers`` for the few that have them) in order.
    Visits go the same way (their batch has no tickets, only the table generation).
    ``partitions_of(topic) -> int`` comes from the processor's metadata.

    ``ack_each=True``: every record carries ``on_delivery``. ``ack_each=False``: only the
    last record of each ``(topic, partition)`` carries it, as the record's ``"callback"``
    (``on_delivery`` is None). That is only sound with a producer whose successful delivery
    of a record implies the delivery of every record queued before it to the same
    partition (idempotent, gapless, no message timeout -- the processor checks its
    producer configuration), and it spares one Python call per record.

    ``coalesce=True``: within one batch, a key's later table writes replace its earlier
    changelog record instead of adding one (the record keeps the position of the first
    write). Views and the changelog then see only the last value of a key per batch.

    ``on_error`` is the processor-wide error policy (:mod:`goka.policy`; ``None``: each
    edge's own, else :class:`goka.Fail`). ``sleep(seconds) -> bool`` waits between retries
    and returns ``True`` if the processor is stopping (the retry is then abandoned and the
    message fails).

    ``timer_storage`` (groups with a :class:`goka.Timer` edge): the local storage of this
    partition of ``<group>-timers``, recovered; ``clock()`` is the wall clock in epoch ms
    (see :mod:`goka._core.timers`).

    ``window_storages`` (groups with :class:`goka.Window` edges): the local storage of this
    partition of each edge's ``<group>-<name>`` topic by edge name, recovered (see
    :mod:`goka._core.windows`).
    """

    def __init__(
        self,
        graph: GroupGraph,
        partition: int,
        *,
        produce_batch: Callable[..., None],
        partitions_of: Callable[[str], int],
        hasher: Callable[[bytes, int], int],
        fail: Callable[[BaseException], None],
        storage: Storage | None,
        joins: Mapping[str, Callable[[bytes], bytes | None]],
        lookups: Mapping[str, Callable[[str], Any]],
        nil_handling: NilHandling,
        ack_each: bool = True,
        coalesce: bool = False,
        on_error: Any = None,
        sleep: Callable[[float], bool] | None = None,
        timer_storage: Storage | None = None,
        clock: Callable[[], int] | None = None,
        window_storages: Mapping[str, Storage] | None = None,
    ) -> None:
        self.graph = graph
        self.group = graph.group
        self.partition = partition
        self.table_topic = graph.table_topic
        self._produce_batch = produce_batch
        self.outbox: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.outbox_size = 0
        self.ack_each = ack_each
        self.coalesce = coalesce
        self._changelog: dict[bytes, dict[str, Any]] = {}  # coalesce: this batch's record per key
        self._partitions_of = partitions_of
        self._hasher = hasher
        self.fail = fail
        self.table = TableCache(storage) if storage is not None and graph.persist is not None else None
        self.dispatcher = Dispatcher(graph, partition, self, table=self.table, joins=joins,
                                     lookups=lookups, nil_handling=nil_handling)
        self.tickets: dict[str, deque[Ticket]] = {t: deque() for t in graph.consumed_topics}
        self.committable: dict[str, int] = {}  # next offset to commit, per topic (acknowledged prefix)
        self.committed: dict[str, int] = {}  # what the group coordinator confirmed
        self.current: Ticket | None = None
        self.open: dict[str, Ticket] = {}  # the current batch's ticket per topic
        self.consumed: dict[str, int] = {t: 0 for t in graph.consumed_topics}
        self.last_offset: dict[str, int] = {}
        self.produced: dict[str, int] = {}
        self.hwm: dict[str, int] = {t: -1 for t in graph.consumed_topics}
        self._undo: list[Any] = []  # the current message's outbox slots, coalesced records, defers
        self.policies = policies_of(graph, on_error)  # None: every topic fails (the default)
        self.sleep = sleep if sleep is not None else _sleep
        self.skipped: dict[str, int] = {}
        self.dead_lettered: dict[str, int] = {}
        # where the records a callback produces come from (record_source): its message's
        # offset and, in a group with several inputs, topic
        self._offset = -1
        self._multi = len(graph.consumed_topics) > 1
        self._topic = None if self._multi else graph.consumed_topics[0]
        self.timer_topic = graph.timer_topic
        self.timers: Timers | None = None
        if graph.timer is not None and timer_storage is not None:
            self.timers = Timers(graph.timer_topic, timer_storage, self.emit_own, self._undo.append,
                                 clock, Generation, group=self.group, partition=partition)
            self.dispatcher.timers = self.timers
        self.windows: Windows | None = None
        if graph.windows and window_storages is not None:
            self.windows = Windows(graph, window_storages, self.emit_own, self._undo.append, Generation,
                                   partition=partition)
            self.dispatcher.windows = self.windows

    # -- the dispatcher's sink -----------------------------------------------------------
    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Any) -> None:
        coalescing = False
        if topic == self.table_topic:
            partition = self.partition  # the table partition belongs to this partition
            if self.coalesce:
                earlier = self._changelog.get(key)
                if earlier is not None:  # replace this batch's earlier record of the key
                    self._undo.append((earlier, earlier["value"], earlier.get("headers", _MISSING),
                                       earlier["offset"], earlier.get("topic", _MISSING)))
                    earlier["value"] = value
                    earlier["offset"] = self._offset
                    if self._multi:
                        earlier["topic"] = self._current_topic()
                    earlier.pop("headers", None)
                    if headers:
                        earlier["headers"] = _header_list(headers)
                    return
                coalescing = True
        else:
            partition = self._hasher(key, self._partitions_of(topic))
        record: dict[str, Any] = {"key": key, "value": value, "offset": self._offset}
        if self._multi:
            record["topic"] = self._current_topic()
        if headers:
            record["headers"] = _header_list(headers)
        if coalescing:
            self._changelog[key] = record
        slot = (topic, partition)
        records = self.outbox.get(slot)
        if records is None:
            records = self.outbox[slot] = []
        records.append(record)
        self._undo.append(slot)
        self.outbox_size += 1
        self.produced[topic] = self.produced.get(topic, 0) + 1

    def emit_own(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Add a record for this partition of ``topic`` (a co-partitioned topic the group
        owns, e.g. its timers) to the batch outbox, journaled like :meth:`emit`; it names
        no input message (its ``offset`` is -1)."""
        slot = (topic, self.partition)
        records = self.outbox.get(slot)
        if records is None:
            records = self.outbox[slot] = []
        records.append({"key": key, "value": value, "offset": -1})
        self._undo.append(slot)
        self.outbox_size += 1
        self.produced[topic] = self.produced.get(topic, 0) + 1

    def _current_topic(self) -> str | None:
        return self.current.topic if self.current is not None else None

    def record_source(self, record: Mapping[str, Any]) -> tuple[str, int, int] | None:
        """The input message that produced the outbox ``record`` (``(topic, partition,
        offset)``), None for a visit's record."""
        offset: int = record.get("offset", -1)
        if offset < 0:
            return None
        return record.get("topic", self._topic), self.partition, offset

    def defer(self) -> Callable[..., None]:
        ticket = self.current
        if ticket is None:
            return lambda exc=None: None
        done = ticket.deferred()
        self._undo.append(done)
        return done

    def rollback(self) -> None:
        """Discard what the current message did (see the module docstring)."""
        undo = self._undo
        for i in range(len(undo) - 1, -1, -1):
            entry = undo[i]
            if type(entry) is _Done:
                entry.cancel()
            elif type(entry) is TimerUndo:
                entry.undo()
            elif len(entry) == 2:  # a record appended to the outbox slot (topic, partition)
                records = self.outbox[entry]
                record = records.pop()
                if not records:
                    del self.outbox[entry]
                self.outbox_size -= 1
                count = self.produced[entry[0]] - 1
                if count:
                    self.produced[entry[0]] = count
                else:
                    del self.produced[entry[0]]
                if self._changelog and self._changelog.get(record["key"]) is record:
                    del self._changelog[record["key"]]
            else:  # a coalesced changelog record changed in place
                record, value, headers, offset, topic = entry
                record["value"] = value
                record["offset"] = offset
                for name, old in (("headers", headers), ("topic", topic)):
                    if old is _MISSING:
                        record.pop(name, None)
                    else:
                        record[name] = old
        undo.clear()
        if self.table is not None:
            self.table.rollback()

    def dead_letter(self, topic: str, key: bytes | None, value: bytes | None,
                    headers: list[tuple[str, bytes]]) -> None:
        """Add a dead-letter record to the batch outbox (acknowledged with the batch)."""
        partition = self._hasher(key if key is not None else b"", self._partitions_of(topic))
        records = self.outbox.get((topic, partition))
        if records is None:
            records = self.outbox[(topic, partition)] = []
        record: dict[str, Any] = {"key": key, "value": value, "headers": headers, "offset": self._offset}
        if self._multi:
            record["topic"] = self._current_topic()
        records.append(record)
        self.outbox_size += 1
        self.produced[topic] = self.produced.get(topic, 0) + 1

    # -- processing ----------------------------------------------------------------------
    def process(self, msg: Any) -> None:
        """Process one confluent-kafka message of this partition."""
        topic = msg.topic()
        offset = msg.offset()
        ticket = self.open.get(topic)
        if ticket is None:
            ticket = self.open[topic] = Ticket(self, topic)
            self.tickets[topic].append(ticket)
        self.current = ticket
        if self._undo:
            self._undo.clear()
        table = self.table
        if table is not None and table.undo:
            table.undo.clear()
        self._offset = offset
        windows = self.windows
        if windows is not None:  # stream time: the largest record timestamp processed
            ts = msg.timestamp()[1]
            if ts is not None and ts > windows.stream_time:
                windows.stream_time = ts
        try:
            self.dispatcher.process(topic, offset, msg.key(), msg.value(), msg.timestamp()[1], msg.headers)
        except BaseException as exc:
            self.rollback()
            if self.policies is None or not isinstance(exc, Exception):
                raise
            handle_failure(self, topic, offset, msg.key(), msg.value(), msg.timestamp()[1], msg.headers, exc)
        finally:
            self.current = None
        ticket.offset = offset  # only after success: a failed message is never covered
        self.consumed[topic] += 1
        self.last_offset[topic] = offset

    def visit(self, name: str, meta: Any) -> int:
        """Run visitor ``name`` for every key of this partition's table."""
        if self.table is None:
            return 0
        self._offset = -1
        keys = {k for k, _ in self.table.storage.items()}
        for gen in (*self.table.sealed, *((self.table.current,) if self.table.current else ())):
            for k, v in gen.writes.items():
                if v is None:
                    keys.discard(k)
                else:
                    keys.add(k)
        for key in sorted(keys):
            self._undo.clear()
            self.table.undo.clear()
            try:
                self.dispatcher.visit(name, key, meta)
            except BaseException:
                self.rollback()
                raise
        return len(keys)

    def end_batch(self) -> None:
        """Hand the batch's records to the producer and close its tickets and generation."""
        if self.outbox_size:
            gen = self.table.current if self.table is not None else None
            reports = self.outbox_size if self.ack_each else len(self.outbox)
            outbox, self.outbox, self.outbox_size = self.outbox, {}, 0
            self._changelog.clear()
            self._undo.clear()
            own = own_generations(self.timers, self.windows, self.timer_topic)
            ack = BatchAck(self, list(self.open.values()), gen, reports, outbox, own=own).ack
            try:
                for (topic, partition), records in outbox.items():
                    if self.ack_each:
                        self._produce_batch(topic, partition, records, ack)
                    else:
                        records[-1]["callback"] = ack
                        self._produce_batch(topic, partition, records, None)
            except ProduceError as exc:  # refused at once: name the input message
                if exc.record is None or exc.offset is not None:
                    raise
                raise exc.located(self.record_source(exc.record)) from exc.__cause__
        self.open.clear()
        if self.table is not None:
            self.table.seal()

    def fire_timers(self, now: int | None = None) -> int:
        """Run the callbacks of the timers due at ``now`` (epoch ms; default: the clock), in
        due order, as one batch of their own; call between batches. A failing callback is
        rolled back, its timer stays pending, and the error propagates (the processor stops).
        Returns how many fired."""
        timers = self.timers
        if timers is None:
            return 0
        due = timers.due(timers.clock() if now is None else now)
        if not due:
            return 0
        ticket = self.open[self.timer_topic] = Ticket(self, self.timer_topic)
        self._offset = -1  # a timer's records name no input message
        fired: list[bytes] = []
        try:
            for i, timer in enumerate(due):
                self._undo.clear()
                if self.table is not None:
                    self.table.undo.clear()
                self.current = ticket
                try:
                    self.dispatcher.fire(timer[1][8:], timer[2], timer[0])
                except BaseException:
                    self.rollback()
                    for rest in due[i:]:
                        timers.unfire(rest)
                    raise
                finally:
                    self.current = None
                fired.append(timer[1])
        finally:
            timers.fired.append((ticket, fired))
            timers.fired_count += len(fired)
            self.end_batch()
        return len(fired)

    def close_windows(self) -> int:
        """Run ``on_close`` of the windows closed by stream time, in close-time order, as one
        batch of their own; call between batches (see :mod:`goka._core.windows`). A failing
        callback is rolled back, the windows not closed stay open, and the error propagates
        (the processor stops). Returns how many closed."""
        windows = self.windows
        if windows is None:
            return 0
        due, upto = windows.due()
        if not due:
            windows.closed(None, due, upto)  # stream time moved: the marker follows
            return 0
        topic = due[0][1].topic
        ticket = self.open[topic] = Ticket(self, topic)
        self._offset = -1  # a close's records name no input message
        done = 0
        try:
            for item in due:
                self._undo.clear()
                if self.table is not None:
                    self.table.undo.clear()
                self.current = ticket
                try:
                    windows.close_one(item, self.dispatcher)
                except BaseException:
                    self.rollback()
                    windows.unclose(due[done:])
                    raise
                finally:
                    self.current = None
                done += 1
            windows.closed(ticket, due, upto)
        finally:
            self.end_batch()
        return done

    def advance(self) -> dict[str, int]:
        """Flush acknowledged table generations; return the offsets now committable."""
        if self.table is not None:
            self.table.flush()
        if self.timers is not None and self.timers.bury(_ticket_done):
            self.end_batch()  # the tombstones of fired timers whose effects are acknowledged
        if self.windows is not None and self.windows.bury(_ticket_done):
            self.end_batch()  # markers and expired windows of closes whose effects are acknowledged
        for topic, tickets in self.tickets.items():
            last = -1
            while tickets and tickets[0].pending == 0 and tickets[0] is not self.open.get(topic):
                offset = tickets.popleft().offset
                if offset >= 0:
                    last = offset
            if last >= 0:
                self.committable[topic] = last + 1
        return self.committable

    def in_flight(self) -> int:
        return (sum(len(t) for t in self.tickets.values()) + (self.table.unflushed if self.table else 0)
                + self.outbox_size + (self.timers.in_flight() if self.timers is not None else 0)
                + (self.windows.in_flight() if self.windows is not None else 0))

    def get(self, key: bytes) -> bytes | None:
        """The table value of ``key``; safe from any thread (see :meth:`TableCache.peek`)."""
        return self.table.peek(key) if self.table is not None else None

    def stats(self) -> dict[str, Any]:
        lag = {}
        for topic, high in self.hwm.items():
            if high >= 0:
                lag[topic] = max(0, high - self.last_offset.get(topic, -1) - 1)
        return {
            "hwm": {t: h for t, h in self.hwm.items() if h >= 0},
            "lag": lag,
            "consumed": dict(self.consumed),
            "last_offset": dict(self.last_offset),
            "committable": dict(self.committable),
            "committed": dict(self.committed),
            "produced": dict(self.produced),
            "skipped": dict(self.skipped),
            "dead_lettered": dict(self.dead_lettered),
            "in_flight": self.in_flight(),
            **({"timers": self.timers.stats()} if self.timers is not None else {}),
            **({"windows": self.windows.stats()} if self.windows is not None else {}),
        }


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
