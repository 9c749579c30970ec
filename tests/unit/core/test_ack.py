"""The acknowledgement tracking of ``goka._core.ack``, both twins: tickets, deferred
commits and batch acknowledgements, driven directly (``test_partition.py`` drives them
through the partition processor)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import goka._core.ack
import goka._core.partition
from goka.errors import ProcessingError, ProduceError
from tests.conftest import import_twin, twin_fixture

# the fake message, producer and set-up of test_partition (test modules are not a package)
_spec = importlib.util.spec_from_file_location("_partition_tests", Path(__file__).with_name("test_partition.py"))
assert _spec is not None and _spec.loader is not None
_tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tp)

ack = twin_fixture("ack")

TABLE = "g-table"
TIMERS = "g-timers"


class Owner:
    """What the ack types read of their partition processor."""

    group = "g"
    partition = 3
    table_topic = TABLE

    def __init__(self) -> None:
        self.failures: list[BaseException] = []
        self.fail = self.failures.append

    def record_source(self, record: dict[str, Any]) -> tuple[str, int, int] | None:
        offset: int = record.get("offset", -1)
        return None if offset < 0 else ("in", self.partition, offset)


Report = _tp.Delivered  # a delivery report: topic, offset, partition, key, value


class Err:
    def str(self) -> str:
        return "broker said no"

    def code(self) -> int:
        return 7


def _generation(ack: ModuleType) -> Any:
    """A table generation of the same kind as the ack twin (the compiled one types it)."""
    kind = ack.__name__.rsplit("_", 1)[1]
    return import_twin("tablecache", kind).Generation()


def test_deferred_commit_counts_once(ack: ModuleType) -> None:
    ticket = ack.Ticket(Owner(), "in")
    first, second = ticket.deferred(), ticket.deferred()
    assert ticket.pending == 2
    first()
    first()  # a second call does not count
    assert ticket.pending == 1
    second.cancel()  # the message that took it was rolled back
    second()
    assert ticket.pending == 0
    first.cancel()  # already called: nothing to release
    assert ticket.pending == 0


def test_deferred_commit_failure_names_the_message(ack: ModuleType) -> None:
    owner = Owner()
    ticket = ack.Ticket(owner, "in")
    ticket.offset = 41
    done = ticket.deferred()
    done(RuntimeError("no disk"))
    assert ticket.pending == 1  # never released: the offset is not committed
    [err] = owner.failures
    assert isinstance(err, ProcessingError)
    assert (err.group, err.topic, err.partition, err.offset) == ("g", "in", 3, 41)
    assert "deferred commit failed: RuntimeError('no disk')" in str(err)
    done()  # later calls are ignored
    assert ticket.pending == 1 and len(owner.failures) == 1


def test_batch_ack_releases_on_the_last_report(ack: ModuleType) -> None:
    owner = Owner()
    tickets = [ack.Ticket(owner, "in"), ack.Ticket(owner, "in2")]
    gen, timers = _generation(ack), _generation(ack)
    batch = ack.BatchAck(owner, tickets, gen, 3, {(TABLE, 3): []}, own={TIMERS: timers})
    assert [t.pending for t in tickets] == [1, 1] and gen.pending == 1 and timers.pending == 1
    batch.ack(None, Report(TABLE, 8))
    batch.ack(None, Report(TIMERS, 5))
    assert batch.remaining == 1 and [t.pending for t in tickets] == [1, 1]
    batch.ack(None, Report(TABLE, 6))  # reports of one batch may come in any order
    assert batch.remaining == 0 and batch.outbox is None
    assert [t.pending for t in tickets] == [0, 0] and gen.pending == 0 and timers.pending == 0
    assert gen.offset == 8 and timers.offset == 5  # the highest acknowledged offsets
    assert owner.failures == []
    assert ack._ticket_done(tickets[0])


def test_batch_ack_without_generation(ack: ModuleType) -> None:
    owner = Owner()
    ticket = ack.Ticket(owner, "in")
    batch = ack.BatchAck(owner, [ticket], None, 1)
    assert not ack._ticket_done(ticket)
    batch.ack(None, Report(TABLE, 2))  # a changelog report without a generation: counted only
    assert ticket.pending == 0 and ack._ticket_done(ticket)


def test_failed_delivery_names_the_input_message(ack: ModuleType) -> None:
    owner = Owner()
    ticket = ack.Ticket(owner, "in")
    outbox = {("out", 1): [{"key": b"k", "value": b"v1", "offset": 10},
                           {"key": b"k", "value": b"v2", "offset": 11}]}
    batch = ack.BatchAck(owner, [ticket], None, 2, outbox)
    batch.ack(Err(), Report("out", -1, 1, b"k", b"v2"))
    [err] = owner.failures
    assert isinstance(err, ProduceError)
    assert (err.produce_topic, err.produce_partition, err.code) == ("out", 1, 7)
    assert (err.group, err.topic, err.partition, err.offset, err.key) == ("g", "in", 3, 11, "k")
    assert ticket.pending == 1  # a failed report releases nothing


@pytest.mark.parametrize("kind", ["py", pytest.param("c", marks=pytest.mark.c_extension)])
def test_partition_twin_uses_the_ack_twin_of_its_kind(kind: str) -> None:
    """A partition processor's tickets and batch acks are the ack twin's of its own kind
    (the compiled one reads their fields as C fields), and ``goka._core.partition``
    re-exports the ack types of the partition twin it selected."""
    partition, twin = import_twin("partition", kind), import_twin("ack", kind)
    s = _tp.Setup(partition)
    s.run((b"a", b"sx;e1"), (b"b", b"sy"))
    [ticket] = s.pp.tickets["in"]
    assert type(ticket) is twin.Ticket
    s.pp.end_batch()
    callbacks = {cb for _, _, _, cb in s.producer.pending}
    assert [type(cb.__self__) for cb in callbacks] == [twin.BatchAck]
    s.producer.deliver()
    assert s.pp.advance() == {"in": 2}
    assert goka._core.partition.Ticket is goka._core.ack.Ticket
    assert goka._core.partition.BatchAck is goka._core.ack.BatchAck
    assert goka._core.ack.Ticket.__module__ == goka._core.partition.PartitionProcessor.__module__.replace(
        "_partition_", "_ack_")
