"""The ``PartitionProcessor`` of ``goka._core._partition_{c,py}`` with an LMDB table.

As the ``processor`` variant of ``bench/bench_core_loop.py``: the click-count group, each
twin paired with the same twin of the dispatcher, confluent-kafka ``Message`` objects
built in memory, and a producer that acknowledges every record at once. One round
processes a batch of 10,000 messages (each key once), then ``end_batch()`` and
``advance()``, which flushes the batch's 10,000 table writes to LMDB in one transaction.
After the first round every key is in the table cache, as hot keys are.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from confluent_kafka import Message

import goka
from goka.hash import goka as goka_hash
from goka.storage.lmdb import LMDB
from bench_core_loop import InstantProducer  # bench/ is on sys.path (conftest)

TIMESTAMP = 1_700_000_000_000


@pytest.mark.benchmark(min_rounds=20)  # ~50 ms a round: the default 1 s would give ~10 rounds
def test_partition(bench: Callable[..., Any], core: Callable[[str], ModuleType], keys: list[bytes],
                   click_group: goka.GroupGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One round: ``process`` each of 10,000 messages, ``end_batch()``, ``advance()``."""
    partition = core("partition")
    monkeypatch.setattr(partition, "Dispatcher", core("dispatch").Dispatcher)  # its twin's dispatcher
    storage = LMDB(tmp_path).open(click_group.table_topic, 0)
    failures: list[BaseException] = []
    pp = partition.PartitionProcessor(
        click_group, 0, produce_batch=InstantProducer().produce_batch, partitions_of=lambda topic: 1,
        hasher=goka_hash, fail=failures.append, storage=storage, joins={}, lookups={},
        nil_handling=goka.NilHandling.IGNORE,
    )
    topic = click_group.inputs[0].topic
    batch = [Message(topic=topic, partition=0, offset=offset, key=key, value=b"click",
                     timestamp=(1, TIMESTAMP)) for offset, key in enumerate(keys)]

    def run() -> None:
        process = pp.process
        for msg in batch:
            process(msg)
        pp.end_batch()
        pp.advance()

    try:
        bench("partition click-count + LMDB", len(batch), run)
        assert not failures and pp.in_flight() == 0
        assert pp.committable == {topic: len(batch)}
        assert len({v for _, v in storage.items()}) == 1
    finally:
        storage.close()
