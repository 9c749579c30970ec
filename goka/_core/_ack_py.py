"""Acknowledgement tracking of a partition processor: tickets, deferred commits, batch acks.

Pure twin of ``_ack_c`` and its specification (see ``goka._core``); imported through
``goka._core.ack`` and used by the partition processor (``goka._core._partition_py``,
whose module docstring tells how tickets and table generations gate commits).

A :class:`Ticket` counts what the messages of one input topic in one batch still wait
for; ``ctx.defer_commit()`` takes a :class:`_Done` from it; a :class:`BatchAck` is the
delivery-report callback of one batch's records, releasing its tickets and generations
when the last expected report arrives.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goka._core._tablecache_py import Generation
from goka.errors import ProcessingError, ProduceError

if TYPE_CHECKING:
    from goka._core._partition_py import PartitionProcessor

__all__ = ["Ticket", "BatchAck"]


class Ticket:
    """What the messages of one topic in one batch still wait for before their offsets
    may be committed; ``offset`` is the last one processed successfully (-1: none)."""

    __slots__ = ("pp", "topic", "offset", "pending")

    def __init__(self, pp: PartitionProcessor, topic: str) -> None:
        self.pp = pp
        self.topic = topic
        self.offset = -1
        self.pending = 0

    def deferred(self) -> _Done:
        self.pending += 1
        return _Done(self)


class _Done:
    """``done(exc=None)`` of one deferred commit; only the first call counts. ``cancel()``
    (the message that took it was rolled back) releases the ticket and ignores later calls."""

    __slots__ = ("ticket", "called")

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.called = False

    def __call__(self, exc: BaseException | None = None) -> None:
        if self.called:
            return
        self.called = True
        ticket = self.ticket
        if exc is not None:
            pp = ticket.pp
            pp.fail(ProcessingError(
                f"deferred commit failed: {exc!r}", group=pp.group, topic=ticket.topic,
                partition=pp.partition, offset=ticket.offset))
            return
        ticket.pending -= 1

    def cancel(self) -> None:
        if not self.called:
            self.called = True
            self.ticket.pending -= 1


class BatchAck:
    """The records one batch produced, acknowledged together: when the last expected delivery
    report arrives, each of the batch's tickets and its table generation drop one pending
    unit. The generation's offset becomes the highest acknowledged changelog offset.

    ``reports`` is how many delivery reports to expect: one per record, or -- with a
    producer that delivers each partition's records in order and never leaves a gap (see
    :class:`~goka._core._partition_py.PartitionProcessor`) -- one per ``(topic, partition)``,
    from its last record.

    ``outbox`` (the batch's records per ``(topic, partition)``) is kept until the last report
    so that a failed delivery can name the input message that produced the record.
    """

    __slots__ = ("pp", "tickets", "gen", "remaining", "outbox", "own")

    def __init__(self, pp: PartitionProcessor, tickets: list[Ticket], gen: Generation | None,
                 reports: int, outbox: dict[tuple[str, int], list[dict[str, Any]]] | None = None, *,
                 own: dict[str, Generation] | None = None) -> None:
        self.pp = pp
        self.tickets = tickets
        self.gen = gen
        self.remaining = reports
        self.outbox = outbox
        #: the batch's writes to the timer and window topics by topic, acknowledged like the table's
        self.own = own
        for ticket in tickets:
            ticket.pending += 1
        if gen is not None:
            gen.pending += 1
        if own is not None:
            for ogen in own.values():
                ogen.pending += 1

    def ack(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.pp.fail(self.error(err, msg))
            return
        gen = self.gen
        if gen is not None and msg.topic() == self.pp.table_topic:
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

    def error(self, err: Any, msg: Any) -> ProduceError:
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


def _ticket_done(ticket: Ticket) -> bool:
    return ticket.pending == 0
