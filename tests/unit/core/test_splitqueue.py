"""``SplitQueues``, the base both queue readers share (``PartitionQueues`` of
``goka._core.consume``, ``TableQueues`` of ``goka._core.tablequeue``): split, release and
clean-up without a broker (reading the queues on a broker:
tests/integration/test_consume_queues.py, test_table_queues*.py)."""
from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import import_twin

READERS = {"consume": "PartitionQueues", "tablequeue": "TableQueues"}


class Pipes:
    """The pipes ``os.pipe`` made while patched (the readers' wake-up pipes): which of
    them are still open (by fd and inode: a closed fd's number may be reused at once)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[int, int]] = []
        real = os.pipe

        def pipe() -> tuple[int, int]:
            r, w = real()
            self.made += [(r, os.fstat(r).st_ino), (w, os.fstat(w).st_ino)]
            return r, w

        monkeypatch.setattr(os, "pipe", pipe)

    def open(self) -> int:
        count = 0
        for fd, inode in self.made:
            try:
                count += os.fstat(fd).st_ino == inode
            except OSError:
                pass
        return count


@pytest.fixture
def pipes(monkeypatch: pytest.MonkeyPatch) -> Pipes:
    return Pipes(monkeypatch)


@pytest.fixture
def consumer() -> Iterator[Any]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        yield c
    finally:
        c.close()


def _compiled_reader(kind: str) -> Callable[[Any], Any]:
    from confluent_kafka import KafkaError

    from goka._kafka import clients

    functions = clients.librdkafka_functions()
    assert functions is not None
    cls = getattr(import_twin(kind, "c"), READERS[kind])
    if kind == "consume":
        return lambda consumer: cls(consumer, functions, KafkaError)
    return lambda consumer: cls(consumer, functions)


@pytest.mark.parametrize("kind", ["py", pytest.param("c", marks=pytest.mark.c_extension)])
def test_readers_extend_the_base_of_their_kind(kind: str) -> None:
    base = import_twin("splitqueue", kind).SplitQueues
    for module, name in READERS.items():
        assert issubclass(getattr(import_twin(module, kind), name), base)


def test_pure_base_never_splits() -> None:
    q = import_twin("splitqueue", "py").SplitQueues(object())
    assert q.add("t", 0) is False and len(q) == 0
    q.remove("t", 0)
    q.close()


@pytest.mark.c_extension
def test_compiled_base_alone_splits_nothing() -> None:
    """A base never opened (no consumer bound, no pipe) refuses to split and closes safely."""
    q = import_twin("splitqueue", "c").SplitQueues()
    assert q.add("t", 0) is False and len(q) == 0
    q.remove("t", 0)
    q.close()
    q.close()


@pytest.mark.c_extension
@pytest.mark.parametrize("kind", sorted(READERS))
def test_split_remove_and_close(kind: str, consumer: Any, pipes: Pipes) -> None:
    q = _compiled_reader(kind)(consumer)
    assert pipes.open() == 2  # the wake-up pipe
    assert q.add("t", 0) is True and q.add("t", 0) is True and len(q) == 1  # once per partition
    assert q.add("t", 1) is True and len(q) == 2
    q.remove("t", 5)  # not split: nothing happens
    q.remove("t", 0)
    assert len(q) == 1
    assert q.add("t", 0) is True and len(q) == 2  # split again after removal
    q.close()
    assert len(q) == 0 and pipes.open() == 0
    assert q.add("t", 2) is False and len(q) == 0  # closed: nothing is split any more
    q.remove("t", 1)
    q.close()  # twice: no error, nothing closed twice


@pytest.mark.c_extension
@pytest.mark.parametrize("kind", sorted(READERS))
def test_dropped_without_close_releases_its_pipe(kind: str, consumer: Any, pipes: Pipes) -> None:
    q = _compiled_reader(kind)(consumer)
    assert q.add("t", 0) is True and pipes.open() == 2
    del q
    gc.collect()
    assert pipes.open() == 0


@pytest.mark.c_extension
@pytest.mark.parametrize("kind", sorted(READERS))
def test_dropped_after_the_consumer_closed(kind: str, pipes: Pipes) -> None:
    """confluent-kafka clears its client pointer on close: a reader dropped afterwards
    must not touch the destroyed client's queues (this would crash the process)."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    q = _compiled_reader(kind)(c)
    assert q.add("t", 0) is True
    c.close()
    del q
    gc.collect()
    assert pipes.made and pipes.open() == 0
