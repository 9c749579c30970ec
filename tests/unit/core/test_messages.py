"""Batch helpers of ``goka._core.messages``, both twins, on real confluent-kafka messages."""
from __future__ import annotations

import gc
from types import ModuleType
from typing import Any

from confluent_kafka import Message


def batch() -> list[Message]:
    return [Message(topic="t", key=b"k1", value=b"v1"), Message(topic="t", key=None, value=None),
            Message(topic="t", key=b"", value=b"v3")]


def test_key_values(messages: ModuleType) -> None:
    assert messages.key_values(batch()) == [(b"k1", b"v1"), (b"", None), (b"", b"v3")]
    assert messages.key_values([]) == []


def test_untrack(messages: ModuleType) -> None:
    """The compiled twin takes messages out of the collector; the pure one can't (and
    need not: it changes nothing but speed). Either way the messages stay usable and
    are freed by reference counting."""
    msgs = batch()
    assert all(gc.is_tracked(m) for m in msgs)
    messages.untrack(msgs)
    compiled = messages.__name__.endswith("_c")
    assert [gc.is_tracked(m) for m in msgs] == [not compiled] * 3
    assert [m.key() for m in msgs] == [b"k1", None, b""]
    gc.collect()
    del msgs  # dealloc of an untracked message must be clean
    gc.collect()


class Eof:
    """A message carrying an error (what confluent-kafka gives for a partition's end)."""

    def __init__(self, partition: int) -> None:
        self._partition = partition

    def error(self) -> str:
        return "eof"

    def partition(self) -> int:
        return self._partition


def test_by_partition(messages: ModuleType) -> None:
    a0 = [Message(topic="a", partition=0, offset=i, value=b"%d" % i) for i in range(3)]
    a1 = [Message(topic="a", partition=1, offset=i, value=b"x") for i in range(2)]
    b0 = [Message(topic="b", partition=0, offset=7, value=b"y")]
    eof1, eof0 = Eof(1), Eof(0)
    msgs: list[Any] = [a0[0], a1[0], eof1, a0[1], b0[0], a1[1], a0[2], eof0]
    records, events = messages.by_partition(msgs)
    assert list(records) == [("a", 0), ("a", 1), ("b", 0)]  # in order of first record
    assert records[("a", 0)] == a0 and records[("a", 1)] == a1 and records[("b", 0)] == b0
    assert events == [eof1, eof0]
    assert messages.by_partition([]) == ({}, [])
