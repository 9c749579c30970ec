"""Batch helpers of ``goka._core.messages``, both twins, on real confluent-kafka messages."""
from __future__ import annotations

import gc
from types import ModuleType

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
