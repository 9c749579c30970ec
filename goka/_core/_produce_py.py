"""Handing a run of records to the producer of a processor: pure twin of ``_produce_c``
and its specification (see ``goka._core``); imported through ``goka._core.produce``.

:class:`DirectProducer` ``produce(topic, partition, records)`` queues ``records`` -- dicts
with ``key`` (bytes) and ``value`` (bytes, or None for a tombstone), no headers, no
callbacks -- in order to one partition, without delivery reports, and returns how many were
queued. A record the producer's local queue did not take gets ``record["_error"]``, the
librdkafka error code (``-184``: queue full). Here it is confluent-kafka's
``produce_batch``; the compiled twin builds librdkafka's message array itself and calls
``rd_kafka_produce_batch`` on the same client, which spares confluent-kafka's parsing of
every record dict (about a tenth of a processor's time).

:data:`Record` is the type of an outbox record: here (and in the pure partition twin) a
plain dict. The compiled twin's ``Record`` is a small mapping with the same entries that
the compiled partition processor builds; records of either kind are accepted here.

:func:`headerless` ``(records)`` says whether no record of a list has a ``headers`` entry
(then the processor hands the whole list over as one run, without looking at each record
in Python); the compiled twin reads a ``Record``'s field in C.
"""
from __future__ import annotations

from typing import Any

__all__ = ["DirectProducer", "Record", "headerless"]

#: an outbox record (see the module docstring)
Record = dict


def headerless(records: list[Any]) -> bool:
    """True when no record of ``records`` (outbox records: dicts or the compiled twin's
    ``Record``) has a ``headers`` entry, even ``None``."""
    return not any("headers" in record for record in records)


class DirectProducer:
    """Queues record runs on ``producer`` (a confluent-kafka ``Producer``). ``functions``
    holds the librdkafka entry points the compiled twin calls; unused here."""

    def __init__(self, producer: Any, functions: dict[str, int] | None = None) -> None:
        self.producer = producer

    def produce(self, topic: str, partition: int, records: list[dict[str, Any]]) -> int:
        batch = [r if type(r) is dict else dict(r) for r in records]  # the compiled twin's Records
        queued: int = self.producer.produce_batch(topic, batch, partition=partition)
        if queued != len(records):
            for record, sent in zip(records, batch):
                error = sent.get("_error")
                if error is not None:
                    record["_error"] = error if isinstance(error, int) else error.code()
        return queued
