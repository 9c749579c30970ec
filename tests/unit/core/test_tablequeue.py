"""``TableQueues`` without a broker: the twins' surface and the compiled twin's safety
checks (the behaviour on a broker: tests/integration/test_table_queues.py)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import import_twin


def _public(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_"))


def test_pure_twin_never_splits() -> None:
    q = import_twin("tablequeue", "py").TableQueues(object())
    assert q.add("t", 0) is False and len(q) == 0
    assert q.drain(100) == ([], [])
    q.wait(0)
    q.close()


@pytest.mark.c_extension
def test_twins_have_the_same_methods() -> None:
    py, c = import_twin("tablequeue", "py"), import_twin("tablequeue", "c")
    assert [n for n in _public(c.TableQueues) if n != "consumer"] == \
        [n for n in _public(py.TableQueues) if n != "consumer"]
    for name in ("add", "remove", "drain", "wait", "close"):
        assert callable(getattr(c.TableQueues, name))


@pytest.mark.c_extension
@pytest.mark.parametrize("functions", [None, {}])
def test_compiled_twin_needs_the_entry_points(functions: Any) -> None:
    c = import_twin("tablequeue", "c")
    with pytest.raises(ValueError, match="entry points"):
        c.TableQueues(object(), functions)


@pytest.mark.c_extension
def test_fallback_for_a_consumer_the_compiled_twin_refuses(monkeypatch: Any) -> None:
    from confluent_kafka import Consumer

    from goka._kafka import clients

    from goka._core import _tablequeue_py, tablequeue

    consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        monkeypatch.delenv("GOKA_SPLIT_TABLE_QUEUES", raising=False)
        if tablequeue.TableQueues is not _tablequeue_py.TableQueues:  # compiled twin loaded: split by default
            default = clients.table_queues(consumer)
            assert type(default).__module__ == "goka._core._tablequeue_c"
            default.close()
        monkeypatch.setenv("GOKA_SPLIT_TABLE_QUEUES", "0")
        assert type(clients.table_queues(consumer)).__module__ == "goka._core._tablequeue_py"
        monkeypatch.setattr(clients, "librdkafka_functions", lambda: None)
        monkeypatch.setenv("GOKA_SPLIT_TABLE_QUEUES", "1")
        assert type(clients.table_queues(consumer)).__module__ == "goka._core._tablequeue_py"
    finally:
        consumer.close()
