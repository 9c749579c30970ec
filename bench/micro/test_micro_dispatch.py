"""The core ``Dispatcher`` of ``goka._core._dispatch_{c,py}`` on the click-count group.

As the ``dispatcher`` variant of ``bench/bench_core_loop.py``: a dict-backed table (its
``get``/``set`` are the dict's own methods) and a sink that drops every record. One round
processes a batch of 10,000 messages, each key once, so every round adds 1 to each count.
"""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import goka
from bench_core_loop import DictTable, NullSink  # bench/ is on sys.path (conftest)

TIMESTAMP = 1_700_000_000_000


def test_dispatch(bench: Callable[..., Any], core: Callable[[str], ModuleType], keys: list[bytes],
                  click_group: goka.GroupGraph) -> None:
    """One round: ``Dispatcher.process`` for each of 10,000 click messages."""
    table = DictTable()
    process = core("dispatch").Dispatcher(click_group, 0, NullSink(), table=table).process
    topic = click_group.inputs[0].topic
    batch = [(topic, offset, key, b"click", TIMESTAMP, None) for offset, key in enumerate(keys)]

    def run() -> None:
        for topic, offset, key, value, ts, headers in batch:
            process(topic, offset, key, value, ts, headers)

    bench("dispatch click-count", len(batch), run)
    assert len(table.data) == len(keys) and len(set(table.data.values())) == 1
