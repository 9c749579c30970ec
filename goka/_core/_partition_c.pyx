# cython: language_level=3, embedsignature=True, binding=True
"""Per-partition bookkeeping, compiled twin of ``_partition_py`` (same interface).

``_partition_py`` is the specification: read it (and its module docstring) for what
each class and method does. This twin keeps the same public names, signatures, results,
exceptions and messages, and makes the per-message path cheap:

- ``Generation``, ``TableCache`` (``_tablecache_c.pxd``), ``Ticket``, ``BatchAck``
  (``_ack_c.pxd``) and ``PartitionProcessor`` are extension types; counters (pending units, offsets, outbox size) are C integers and the
  references between them are typed, so the bookkeeping is C field access;
- ``process_batch`` and ``process`` read a record of the compiled consume twin
  (``_consume_c.Record``, declared in ``_consume_c.pxd``) as C fields, other messages
  through their methods (once each per message);
- ``process`` calls the compiled dispatcher's ``process`` as a C function (handing it the
  message: headers are read only when the callback asks), the compiled dispatcher calls
  ``_emit`` and the table cache (``_tablecache_c.pxd``) the same way; ``emit`` appends the
  record to the outbox list of its ``(topic, partition)`` with C dict calls (the
  changelog's list kept at hand for the batch). The record is a ``_produce_c.Record`` (a
  small mapping with the twin's dict entries, read by ``DirectProducer`` as C fields)
  unless every record carries its own report (``ack_each``: confluent-kafka's
  ``produce_batch`` takes dicts), then a dict as in the twin;
  ``TableCache.get``/``set`` are a dict probe in the common case and ``BatchAck.ack``
  (once per delivery report) is a few field updates;
- the rollback journals (see the twin's module docstring) are Python lists: one append
  per table write, emit and deferred commit, emptied when the next message begins.

The dispatcher class is the module global ``Dispatcher`` (looked up when a partition
processor is built), as in the twin. ``tests/unit/core/test_partition.py`` runs the same
tests on both twins and checks that random message/acknowledgement sequences give the
same committable offsets, storage contents and produced records.
"""
cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_Append, PyList_Clear, PyList_GET_SIZE
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from cpython.ref cimport PyObject, Py_XDECREF

from goka._core._ack_c cimport BatchAck, Ticket, _Done

cdef extern from "Python.h":
    ctypedef struct PyListObject:
        PyObject **ob_item
    void Py_SET_SIZE(object o, Py_ssize_t size)

from goka._core._consume_c cimport Record as Consumed
from goka._core._produce_c cimport Record, absent, new_record
from goka._core._tablecache_c cimport Generation, TableCache

import logging
import time
from collections import deque

from goka._core._ack_c import _no_defer, _ticket_done
from goka._core.dispatch import Dispatcher  # a module global: the bench swaps it per twin
from goka._core.failure import handle_failure, policies_of
from goka._core.timers import Timers, TimerUndo
from goka._core.windows import Windows, own_generations
from goka.errors import ProduceError

__all__ = ["PartitionProcessor", "process_batch"]

log = logging.getLogger("goka.processor")

cdef class PartitionProcessor

cdef object _MISSING = object()
cdef object _ABSENT = absent()  # a Record's missing entry
cdef object _deque = deque

# ``Dispatcher.process`` of the compiled dispatch twin as a C function (its ``_process_entry()``),
# the last argument the message (its headers are read only if the callback asks)
ctypedef int (*_process_f)(object d, object topic, object offset, object key, object value, object timestamp_ms,
                           object msg) except -1


cdef list _header_list(headers):
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in headers.items()]


# The message type's methods, looked up once per type: ``_m_topic(msg)`` calls the method
# descriptor directly, where ``msg.topic()`` would first allocate a bound method object
# (six per message, each counted by the cyclic GC's allocation trigger).
cdef object _msg_type = None
cdef object _m_error, _m_partition, _m_topic, _m_offset, _m_key, _m_value, _m_timestamp


cdef inline int _bind(object msg) except -1:
    global _msg_type, _m_error, _m_partition, _m_topic, _m_offset, _m_key, _m_value, _m_timestamp
    tp = type(msg)
    if tp is not _msg_type:
        _m_error, _m_partition, _m_topic = tp.error, tp.partition, tp.topic
        _m_offset, _m_key, _m_value, _m_timestamp = tp.offset, tp.key, tp.value, tp.timestamp
        _msg_type = tp
    return 0


cdef inline int _empty(list journal) except -1:
    """Empty a rollback journal, keeping its allocation for the next message's appends
    (``PyList_Clear`` frees it, and the next append allocates it again). The references
    are dropped after the list is already empty, from a copy of the pointers, so whatever
    their release runs sees a valid empty list; a long journal is simply cleared."""
    cdef PyObject *held[8]
    cdef Py_ssize_t n = PyList_GET_SIZE(journal), i
    if n == 0:
        return 0
    if n > 8:
        PyList_Clear(journal)
        return 0
    for i in range(n):
        held[i] = (<PyListObject*>journal).ob_item[i]
    Py_SET_SIZE(journal, 0)
    for i in range(n):
        Py_XDECREF(held[i])
    return 0


def process_batch(list msgs, dict partitions, on_error):
    """Process one consumed batch (see the twin)."""
    cdef dict touched = {}
    cdef Py_ssize_t count = 0
    cdef PyObject* found
    cdef PartitionProcessor pp
    cdef PartitionProcessor last = None
    for msg in msgs:
        if type(msg) is Consumed:  # the compiled consume twin's record: C fields
            err = (<Consumed>msg)._error
            partition = (<Consumed>msg)._partition
        else:
            _bind(msg)
            err = _m_error(msg)
            partition = _m_partition(msg) if err is None else None
        if err is not None:
            on_error(err)
            continue
        found = PyDict_GetItemWithError(partitions, partition)
        if found is NULL:
            continue
        pp = <PartitionProcessor>found
        pp._process(msg)
        if pp is not last:  # (a batch comes in runs of one partition)
            touched[pp] = None
            last = pp
        count += 1
    for pp in touched:
        pp.end_batch()
    return count


cdef class PartitionProcessor:
    """Processes the messages of partition ``partition`` of every input topic.

    Records a batch's callbacks produce are collected and handed over at the end of the
    batch: ``produce_batch(topic, partition, records, on_delivery)`` takes a list of record
    mappings (``key``, ``value``, and ``headers`` for the few that have them) in order:
    dicts, or ``_produce_c.Record`` (see the module docstring).
    Visits go the same way (their batch has no tickets, only the table generation).
    ``partitions_of(topic) -> int`` comes from the processor's metadata.
    """

    cdef public object graph
    cdef public object group
    cdef public object partition
    cdef public object table_topic
    cdef public dict outbox
    cdef public Py_ssize_t outbox_size
    cdef public object fail
    cdef public TableCache table
    cdef public object dispatcher
    cdef public dict tickets
    cdef public dict committable
    cdef public dict committed
    cdef public Ticket current
    cdef public dict open
    cdef public dict consumed
    cdef public dict last_offset
    cdef public dict produced
    cdef public dict hwm
    cdef public bint ack_each
    cdef public bint coalesce
    cdef public object policies
    cdef public object sleep
    cdef public dict skipped
    cdef public dict dead_lettered
    cdef public object timer_topic
    cdef public object timers
    cdef public object windows
    cdef list _undo
    cdef Py_ssize_t _table_produced  # changelog records of this batch not yet in ``produced`` (see _fold)
    cdef dict _changelog
    cdef object _offset  # the current message's offset (-1: none), as the message gave it
    cdef object _table_slot
    cdef list _table_records  # outbox[_table_slot] while the batch has changelog records
    cdef bint _multi
    cdef object _topic
    cdef object _produce_batch
    cdef object _partitions_of
    cdef object _hasher
    cdef object _dispatch
    cdef _process_f _dispatch_c
    cdef object _dispatcher_c  # the dispatcher _dispatch_c belongs to

    def __init__(self, graph, partition, *, produce_batch, partitions_of, hasher, fail, storage,
                 joins, lookups, nil_handling, ack_each=True, coalesce=False, on_error=None, sleep=None,
                 timer_storage=None, clock=None, window_storages=None):
        self.graph = graph
        self.group = graph.group
        self.partition = partition
        self.table_topic = graph.table_topic
        self._produce_batch = produce_batch
        self.outbox = {}
        self.outbox_size = 0
        self.ack_each = ack_each
        self.coalesce = coalesce
        self._changelog = {}
        self._partitions_of = partitions_of
        self._hasher = hasher
        self.fail = fail
        self.table = TableCache(storage) if storage is not None and graph.persist is not None else None
        self.dispatcher = Dispatcher(graph, partition, self, table=self.table, joins=joins,
                                     lookups=lookups, nil_handling=nil_handling)
        self._dispatch = self.dispatcher.process
        self._dispatch_c = NULL
        entry = getattr(type(self.dispatcher), "_process_entry", None)
        if entry is not None:
            entry = entry(self.dispatcher)
            if PyCapsule_IsValid(entry, b"goka._core.dispatch_process"):
                self._dispatch_c = <_process_f>PyCapsule_GetPointer(entry, b"goka._core.dispatch_process")
                self._dispatcher_c = self.dispatcher
        self.tickets = {t: _deque() for t in graph.consumed_topics}
        self.committable = {}
        self.committed = {}
        self.current = None
        self.open = {}
        self.consumed = {t: 0 for t in graph.consumed_topics}
        self.last_offset = {}
        self.produced = {}
        self._table_produced = 0
        self.hwm = {t: -1 for t in graph.consumed_topics}
        self._undo = []
        self.policies = policies_of(graph, on_error)
        self.sleep = sleep if sleep is not None else _sleep
        self.skipped = {}
        self.dead_lettered = {}
        self._offset = -1
        self._table_slot = (self.table_topic, partition)
        self._table_records = None
        self._multi = len(graph.consumed_topics) > 1
        self._topic = None if self._multi else graph.consumed_topics[0]
        self.timer_topic = graph.timer_topic
        self.timers = None
        if graph.timer is not None and timer_storage is not None:
            self.timers = Timers(graph.timer_topic, timer_storage, self.emit_own, self._undo.append,
                                 clock, Generation, group=self.group, partition=partition)
            self.dispatcher.timers = self.timers
        self.windows = None
        if graph.windows and window_storages is not None:
            self.windows = Windows(graph, window_storages, self.emit_own, self._undo.append, Generation,
                                   partition=partition)
            self.dispatcher.windows = self.windows

    # -- the dispatcher's sink -----------------------------------------------------------
    def emit(self, topic, key, value, headers):
        self._emit(topic, key, value, headers)

    def _emit_entry(self):
        """``_emit`` for the compiled dispatcher to call directly (see ``_dispatch_c``);
        None for a subclass, whose ``emit`` may differ."""
        if type(self) is not PartitionProcessor:
            return None
        return PyCapsule_New(<void*>_sink_emit, b"goka._core.sink_emit", NULL)

    cdef object _record(self, key, value, headers):
        """A new outbox record: a ``Record`` for ``DirectProducer``, a dict when every
        record carries a report (they go to confluent-kafka's ``produce_batch``)."""
        cdef Record record
        cdef dict entries
        if self.ack_each:
            entries = {"key": key, "value": value, "offset": self._offset}
            if self._multi:
                entries["topic"] = self._current_topic()
            if headers:
                entries["headers"] = _header_list(headers)
            return entries
        record = new_record(key, value, self._offset)
        if self._multi:
            record.topic = self._current_topic()
        if headers:
            record.headers = _header_list(headers)
        return record

    cdef int _emit(self, topic, key, value, headers) except -1:
        cdef PyObject* found
        cdef Record coalesced
        cdef list records
        cdef bint coalescing = False
        cdef bint changelog = topic == self.table_topic
        if changelog:
            if self.coalesce:
                found = PyDict_GetItemWithError(self._changelog, key)
                if found is not NULL:
                    record = <object>found
                    if type(record) is Record:
                        coalesced = <Record>record
                        PyList_Append(self._undo, (
                            record, coalesced.value, _MISSING if coalesced.headers is _ABSENT else coalesced.headers,
                            coalesced.offset, _MISSING if coalesced.topic is _ABSENT else coalesced.topic))
                        coalesced.value = value
                        coalesced.offset = self._offset
                        if self._multi:
                            coalesced.topic = self._current_topic()
                        coalesced.headers = _header_list(headers) if headers else _ABSENT
                    else:
                        PyList_Append(self._undo, (record, record["value"], record.get("headers", _MISSING),
                                                   record["offset"], record.get("topic", _MISSING)))
                        record["value"] = value
                        record["offset"] = self._offset
                        if self._multi:
                            record["topic"] = self._current_topic()
                        record.pop("headers", None)
                        if headers:
                            record["headers"] = _header_list(headers)
                    return 0
                coalescing = True
            slot = self._table_slot
        else:
            slot = (topic, self._hasher(key, self._partitions_of(topic)))
        record = self._record(key, value, headers)
        if coalescing:
            self._changelog[key] = record
        if changelog and self._table_records is not None:  # the batch's changelog run
            PyList_Append(self._table_records, record)
        else:
            found = PyDict_GetItemWithError(self.outbox, slot)
            if found is NULL:
                records = [record]
                self.outbox[slot] = records
            else:
                records = <list>found
                PyList_Append(records, record)
            if changelog:
                self._table_records = records
        PyList_Append(self._undo, slot)
        self.outbox_size += 1
        if changelog:  # counted in C, added to ``produced`` by _fold (stats() adds it too)
            self._table_produced += 1
            return 0
        found = PyDict_GetItemWithError(self.produced, topic)
        if found is NULL:
            self.produced[topic] = 1
        else:
            self.produced[topic] = <object>found + 1
        return 0

    def emit_own(self, topic, key, value):
        """Add a record for this partition of ``topic`` to the batch outbox (see the twin)."""
        slot = (topic, self.partition)
        records = self.outbox.get(slot)
        if records is None:
            records = self.outbox[slot] = []
        records.append({"key": key, "value": value, "offset": -1})
        self._undo.append(slot)
        self.outbox_size += 1
        self.produced[topic] = self.produced.get(topic, 0) + 1

    def _current_topic(self):
        return self.current.topic if self.current is not None else None

    def record_source(self, record):
        """The input message that produced the outbox ``record`` (``(topic, partition,
        offset)``), None for a visit's record."""
        offset = record.get("offset", -1)
        if offset < 0:
            return None
        return record.get("topic", self._topic), self.partition, offset

    def defer(self):
        cdef Ticket ticket = self.current
        if ticket is None:
            return _no_defer
        done = ticket.deferred()
        PyList_Append(self._undo, done)
        return done

    def rollback(self):
        """Discard what the current message did (see the twin)."""
        cdef list undo = self._undo
        cdef Py_ssize_t i
        cdef list records
        for i in range(len(undo) - 1, -1, -1):
            entry = undo[i]
            if type(entry) is _Done:
                (<_Done>entry).cancel()
            elif type(entry) is TimerUndo:
                entry.undo()
            elif len(entry) == 2:
                records = self.outbox[entry]
                record = records.pop()
                if not records:
                    del self.outbox[entry]
                    if records is self._table_records:
                        self._table_records = None
                self.outbox_size -= 1
                if self._table_produced > 0 and entry[0] == self.table_topic:
                    self._table_produced -= 1  # (the current message's records are not folded yet)
                else:
                    count = self.produced[entry[0]] - 1
                    if count:
                        self.produced[entry[0]] = count
                    else:
                        del self.produced[entry[0]]
                if self._changelog and self._changelog.get(record["key"]) is record:
                    del self._changelog[record["key"]]
            else:
                record, value, headers, offset, topic = entry
                record["value"] = value
                record["offset"] = offset
                for name, old in (("headers", headers), ("topic", topic)):
                    if old is _MISSING:
                        record.pop(name, None)
                    else:
                        record[name] = old
        PyList_Clear(undo)
        if self.table is not None:
            self.table.rollback()

    def dead_letter(self, topic, key, value, list headers):
        """Add a dead-letter record to the batch outbox (acknowledged with the batch)."""
        partition = self._hasher(key if key is not None else b"", self._partitions_of(topic))
        slot = (topic, partition)
        records = self.outbox.get(slot)
        if records is None:
            records = self.outbox[slot] = []
        record = {"key": key, "value": value, "headers": headers, "offset": self._offset}
        if self._multi:
            record["topic"] = self._current_topic()
        records.append(record)
        self.outbox_size += 1
        self.produced[topic] = self.produced.get(topic, 0) + 1

    # -- processing ----------------------------------------------------------------------
    def process(self, msg):
        """Process one confluent-kafka message of this partition."""
        self._process(msg)

    cdef int _process(self, msg) except -1:
        cdef PyObject* found
        cdef Ticket ticket
        cdef Consumed rec
        if type(msg) is Consumed:  # the compiled consume twin's record: C fields, no calls
            rec = <Consumed>msg
            topic = rec._topic
            offset = rec._offset
            key = rec._key
            value = rec._value
            ts = rec._timestamp
        else:
            _bind(msg)
            topic = _m_topic(msg)
            offset = _m_offset(msg)
            key = _m_key(msg)
            value = _m_value(msg)
            ts = _m_timestamp(msg)[1]
        found = PyDict_GetItemWithError(self.open, topic)
        if found is NULL:
            ticket = Ticket(self, topic)
            self.open[topic] = ticket
            self.tickets[topic].append(ticket)
        else:
            ticket = <Ticket>found
        self.current = ticket
        _empty(self._undo)
        if self.table is not None:
            _empty(self.table.undo)
        self._offset = offset
        windows = self.windows
        if windows is not None:  # stream time: the largest record timestamp processed
            if ts is not None and ts > windows.stream_time:
                windows.stream_time = ts
        try:
            if self._dispatch_c is not NULL:
                self._dispatch_c(self._dispatcher_c, topic, offset, key, value, ts, msg)
            else:
                self._dispatch(topic, offset, key, value, ts, msg.headers)
        except BaseException as exc:
            self.rollback()
            if self.policies is None or not isinstance(exc, Exception):
                raise
            handle_failure(self, topic, offset, key, value, ts, msg.headers, exc)
        finally:
            self.current = None
        ticket.offset = offset  # only after success: a failed message is never covered
        ticket.count += 1  # consumed/last_offset: added up at the end of the batch (_fold)
        return 0

    cdef int _fold(self) except -1:
        """Add the open tickets' message counts and last offsets to ``consumed`` and
        ``last_offset``, and the changelog records counted since to ``produced`` (the twin
        updates them per message; ``stats()`` reads them all the same)."""
        cdef Ticket ticket
        if self._table_produced:
            self.produced[self.table_topic] = self.produced.get(self.table_topic, 0) + self._table_produced
            self._table_produced = 0
        for ticket in self.open.values():
            if ticket.count:
                self.consumed[ticket.topic] += ticket.count
                self.last_offset[ticket.topic] = ticket.offset
                ticket.count = 0
        return 0

    def visit(self, name, meta):
        """Run visitor ``name`` for every key of this partition's table."""
        cdef TableCache table = self.table
        cdef Generation gen
        if table is None:
            return 0
        self._offset = -1
        keys = {k for k, _ in table.storage.items()}
        for gen in (*table.sealed, *((table.current,) if table.current else ())):
            for k, v in gen.writes.items():
                if v is None:
                    keys.discard(k)
                else:
                    keys.add(k)
        for key in sorted(keys):
            PyList_Clear(self._undo)
            PyList_Clear(table.undo)
            try:
                self.dispatcher.visit(name, key, meta)
            except BaseException:
                self.rollback()
                raise
        return len(keys)

    def end_batch(self):
        """Hand the batch's records to the producer and close its tickets and generation."""
        cdef dict outbox
        cdef list records
        self._fold()
        if self.outbox_size:
            gen = self.table.current if self.table is not None else None
            reports = self.outbox_size if self.ack_each else len(self.outbox)
            outbox, self.outbox, self.outbox_size = self.outbox, {}, 0
            self._table_records = None
            self._changelog.clear()
            PyList_Clear(self._undo)
            own = own_generations(self.timers, self.windows, self.timer_topic)
            ack = BatchAck(self, list(self.open.values()), gen, reports, outbox, own=own).ack
            try:
                for (topic, partition), records in outbox.items():
                    if self.ack_each:
                        self._produce_batch(topic, partition, records, ack)
                    else:
                        if type(records[-1]) is Record:  # (a Record carries no callback)
                            records[-1] = (<Record>records[-1]).as_dict()
                        records[-1]["callback"] = ack
                        self._produce_batch(topic, partition, records, None)
            except ProduceError as exc:  # refused at once: name the input message
                if exc.record is None or exc.offset is not None:
                    raise
                raise exc.located(self.record_source(exc.record)) from exc.__cause__
        self.open.clear()
        if self.table is not None:
            self.table.seal()

    def fire_timers(self, now=None):
        """Run the callbacks of the timers due at ``now`` as one batch (see the twin)."""
        timers = self.timers
        if timers is None:
            return 0
        due = timers.due(timers.clock() if now is None else now)
        if not due:
            return 0
        ticket = Ticket(self, self.timer_topic)
        self.open[self.timer_topic] = ticket
        self._offset = -1  # a timer's records name no input message
        fired = []
        try:
            for i, timer in enumerate(due):
                PyList_Clear(self._undo)
                if self.table is not None:
                    PyList_Clear(self.table.undo)
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

    def close_windows(self):
        """Run ``on_close`` of the windows closed by stream time as one batch (see the twin)."""
        windows = self.windows
        if windows is None:
            return 0
        due, upto = windows.due()
        if not due:
            windows.closed(None, due, upto)
            return 0
        topic = due[0][1].topic
        ticket = Ticket(self, topic)
        self.open[topic] = ticket
        self._offset = -1
        done = 0
        try:
            for item in due:
                PyList_Clear(self._undo)
                if self.table is not None:
                    PyList_Clear(self.table.undo)
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

    def advance(self):
        """Flush acknowledged table generations; return the offsets now committable."""
        cdef long long last, offset
        cdef Ticket head
        if self.table is not None:
            self.table.flush()
        if self.timers is not None and self.timers.bury(_ticket_done):
            self.end_batch()
        if self.windows is not None and self.windows.bury(_ticket_done):
            self.end_batch()
        for topic, tickets in self.tickets.items():
            last = -1
            while tickets:
                head = tickets[0]
                if head.pending != 0 or head is self.open.get(topic):
                    break
                tickets.popleft()
                offset = head.offset
                if offset >= 0:
                    last = offset
            if last >= 0:
                self.committable[topic] = last + 1
        return self.committable

    def in_flight(self):
        return (sum(len(t) for t in self.tickets.values()) + (self.table.unflushed if self.table else 0)
                + self.outbox_size + (self.timers.in_flight() if self.timers is not None else 0)
                + (self.windows.in_flight() if self.windows is not None else 0))

    def get(self, key):
        """The table value of ``key``; safe from any thread (see :meth:`TableCache.peek`)."""
        return self.table.peek(key) if self.table is not None else None

    def stats(self):
        cdef Ticket ticket
        consumed, last_offset = dict(self.consumed), dict(self.last_offset)
        for ticket in list(self.open.values()):  # what _fold has not added yet (read only: any thread)
            if ticket.count:
                consumed[ticket.topic] += ticket.count
                last_offset[ticket.topic] = ticket.offset
        produced = dict(self.produced)
        pending = self._table_produced  # (likewise)
        if pending:
            produced[self.table_topic] = produced.get(self.table_topic, 0) + pending
        lag = {}
        for topic, high in self.hwm.items():
            if high >= 0:
                lag[topic] = max(0, high - last_offset.get(topic, -1) - 1)
        return {
            "hwm": {t: h for t, h in self.hwm.items() if h >= 0},
            "lag": lag,
            "consumed": consumed,
            "last_offset": last_offset,
            "committable": dict(self.committable),
            "committed": dict(self.committed),
            "produced": produced,
            "skipped": dict(self.skipped),
            "dead_lettered": dict(self.dead_lettered),
            "in_flight": self.in_flight(),
            **({"timers": self.timers.stats()} if self.timers is not None else {}),
            **({"windows": self.windows.stats()} if self.windows is not None else {}),
        }


cdef int _sink_emit(object pp, object topic, object key, object value, object headers) except -1:
    return (<PartitionProcessor>pp)._emit(topic, key, value, headers)


def _sleep(seconds):
    time.sleep(seconds)
    return False
