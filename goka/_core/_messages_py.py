"""Helpers over a consumed batch of confluent-kafka messages.

Pure twin of ``_messages_c`` and its specification (see ``goka._core``); imported
through ``goka._core.messages``.
"""
from __future__ import annotations

from typing import Any

__all__ = ["untrack", "key_values", "by_partition"]


def untrack(msgs: list[Any]) -> None:
    """Take the messages out of the cyclic garbage collector's care.

    A confluent-kafka message references only its topic, key, value, headers and error,
    never itself or a container that could lead back to it, so it can't be part of a
    reference cycle and reference counting frees it. Kept tracked, a batch of 10,000
    messages held while it is processed is walked by every collection it lives through
    and promoted into older generations, which makes full collections more frequent and
    longer. Only the compiled twin can do this (Python has no ``gc`` call for it); here it
    does nothing, which changes nothing but speed.
    """


def key_values(msgs: list[Any]) -> list[tuple[bytes, bytes | None]]:
    """``(key, value)`` of each message, in order; a missing key is ``b""``."""
    return [(m.key() or b"", m.value()) for m in msgs]


def by_partition(msgs: list[Any]) -> tuple[dict[tuple[str, int], list[Any]], list[Any]]:
    """Split a consumed batch: the records of each ``(topic, partition)`` in order, and the
    messages carrying an error (end-of-partition events included) in order."""
    records: dict[tuple[str, int], list[Any]] = {}
    events: list[Any] = []
    for msg in msgs:
        if msg.error() is not None:
            events.append(msg)
            continue
        slot = (msg.topic(), msg.partition())
        run = records.get(slot)
        if run is None:
            records[slot] = [msg]
        else:
            run.append(msg)
    return records, events
