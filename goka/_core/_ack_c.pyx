# cython: language_level=3, embedsignature=True, binding=True
"""Acknowledgement tracking, compiled twin of ``_ack_py`` (same interface).

``_ack_py`` is the specification. The types are declared in ``_ack_c.pxd`` so that the
compiled partition processor (``_partition_c``) creates them and reads their counters
(pending units, offsets, message counts) as C fields; ``BatchAck.ack`` (once per delivery
report) is a few field updates. ``Ticket.pp`` and ``BatchAck.pp`` are typed ``object``
(the partition processor's module cimports this one, not the reverse): they are read on
failures only, and ``BatchAck`` keeps the table topic it compares each report with.
"""
cimport cython

from goka._core._tablecache_c cimport Generation

from goka.errors import ProcessingError, ProduceError

__all__ = ["Ticket", "BatchAck"]


@cython.final
cdef class Ticket:
    """What the messages of one topic in one batch still wait for before their offsets
    may be committed; ``offset`` is the last one processed successfully (-1: none)."""

    def __init__(self, pp, topic):
        self.pp = pp
        self.topic = topic
        self.offset = -1
        self.pending = 0
        self.count = 0

    def deferred(self):
        self.pending += 1
        return _Done(self)


@cython.final
cdef class _Done:
    """``done(exc=None)`` of one deferred commit; only the first call counts."""

    def __init__(self, Ticket ticket):
        self.ticket = ticket
        self.called = False

    def __call__(self, exc=None):
        cdef Ticket ticket = self.ticket
        if self.called:
            return
        self.called = True
        if exc is not None:
            pp = ticket.pp
            pp.fail(ProcessingError(
                f"deferred commit failed: {exc!r}", group=pp.group, topic=ticket.topic,
                partition=pp.partition, offset=ticket.offset))
            return
        ticket.pending -= 1

    def cancel(self):
        if not self.called:
            self.called = True
            self.ticket.pending -= 1


@cython.final
cdef class BatchAck:
    """The records one batch produced, acknowledged together (``reports`` delivery reports
    expected: one per record, or one per ``(topic, partition)``)."""

    def __init__(self, pp, list tickets, Generation gen, Py_ssize_t reports,
                 dict outbox=None, *, dict own=None):
        cdef Ticket ticket
        cdef Generation ogen
        self.pp = pp
        self.tickets = tickets
        self.gen = gen
        self.remaining = reports
        self.outbox = outbox
        self.own = own  # the batch's writes to the timer and window topics, by topic
        self._table_topic = pp.table_topic
        for ticket in tickets:
            ticket.pending += 1
        if gen is not None:
            gen.pending += 1
        if own is not None:
            for ogen in own.values():
                ogen.pending += 1

    def ack(self, err, msg):
        cdef Generation gen, ogen
        cdef Ticket ticket
        cdef long long offset
        if err is not None:
            self.pp.fail(self.error(err, msg))
            return
        gen = self.gen
        if gen is not None and msg.topic() == self._table_topic:
            offset = msg.offset()
            if offset > gen.offset:
                gen.offset = offset
        elif self.own is not None:
            ogen = self.own.get(msg.topic())
            if ogen is not None and msg.offset() > ogen.offset:
                ogen.offset = msg.offset()
        self.remaining -= 1
        if self.remaining == 0:
            self.outbox = None  # (with one report per partition, a record holds this ack)
            for ticket in self.tickets:
                ticket.pending -= 1
            if gen is not None:
                gen.pending -= 1
            if self.own is not None:
                for ogen in self.own.values():
                    ogen.pending -= 1

    def error(self, err, msg):
        """The error of a failed delivery: where the record went, its key, and the input
        message that produced it (found among the batch's records by key and value)."""
        topic, partition, key = msg.topic(), msg.partition(), msg.key()
        source = None
        for record in (self.outbox or {}).get((topic, partition), ()):
            if record["key"] == key:
                source = self.pp.record_source(record)
                if record["value"] == msg.value():
                    break
        return ProduceError(err.str(), group=self.pp.group, produce_topic=topic, produce_partition=partition,
                            key=key, source=source, code=err.code())


def _no_defer(exc=None):
    return None


def _ticket_done(Ticket ticket):
    return ticket.pending == 0
