"""``PartitionQueues`` without a broker: the twins' surface and the compiled twin's safety
checks (the behaviour on a broker: tests/integration/test_consume_queues.py)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import import_twin


def _public(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_"))


class FakeConsumer:
    """What the pure twin calls: consume(n, 0) first, then poll(timeout) if nothing."""

    def __init__(self, batches: list[list[str]], polled: str | None) -> None:
        self.batches = batches
        self.polled = polled
        self.calls: list[tuple[str, Any, Any]] = []

    def consume(self, n: int, timeout: float) -> list[str]:
        self.calls.append(("consume", n, timeout))
        return self.batches.pop(0) if self.batches else []

    def poll(self, timeout: float) -> str | None:
        self.calls.append(("poll", timeout, None))
        return self.polled


def test_pure_twin_never_splits_and_consumes_what_is_there() -> None:
    q = import_twin("consume", "py").PartitionQueues(FakeConsumer([["a", "b"]], None))
    assert q.add("t", 0) is False and len(q) == 0
    assert q.consume(10, 0.5) == ["a", "b"]
    assert q.consumer.calls == [("consume", 10, 0)]  # no waiting when records are there
    q.remove("t", 0)
    q.close()


def test_pure_twin_waits_for_the_first_record_only_when_nothing_is_there() -> None:
    consumer = FakeConsumer([[], ["c"]], "first")
    q = import_twin("consume", "py").PartitionQueues(consumer)
    assert q.consume(10, 0.5) == ["first", "c"]
    assert consumer.calls == [("consume", 10, 0), ("poll", 0.5, None), ("consume", 9, 0)]
    assert q.consume(10, 0.1) == ["first"]


@pytest.mark.c_extension
def test_twins_have_the_same_methods() -> None:
    py, c = import_twin("consume", "py"), import_twin("consume", "c")
    assert [n for n in _public(c.PartitionQueues) if n != "consumer"] == \
        [n for n in _public(py.PartitionQueues) if n != "consumer"]


@pytest.mark.c_extension
def test_record_has_the_message_methods_goka_reads() -> None:
    c = import_twin("consume", "c")
    for name in ("error", "topic", "partition", "offset", "key", "value", "timestamp", "headers"):
        assert callable(getattr(c.Record, name))
    empty = c.Record()  # never built from Python by goka: every field is unset
    assert (empty.key(), empty.value(), empty.error(), empty.headers(), empty.timestamp()) == \
        (None, None, None, None, (0, 0))


@pytest.mark.c_extension
@pytest.mark.parametrize("functions", [None, {}])
def test_compiled_twin_needs_the_entry_points(functions: Any) -> None:
    c = import_twin("consume", "c")
    with pytest.raises(ValueError, match="entry points"):
        c.PartitionQueues(object(), functions, object)


@pytest.mark.c_extension
def test_compiled_twin_refuses_a_producer_and_falls_back() -> None:
    from confluent_kafka import KafkaError, Producer

    from goka._kafka import clients

    functions = clients.librdkafka_functions()
    assert functions is not None
    p = Producer({"bootstrap.servers": "127.0.0.1:1"})
    with pytest.raises(ValueError, match="not a confluent-kafka Consumer"):
        import_twin("consume", "c").PartitionQueues(p, functions, KafkaError)
    assert type(clients.partition_queues(p)).__module__ == "goka._core._consume_py"


@pytest.mark.c_extension
def test_default_split_and_opt_out(monkeypatch: Any) -> None:
    from confluent_kafka import Consumer

    from goka._core import _consume_py, consume
    from goka._kafka import clients

    consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        monkeypatch.delenv("GOKA_SPLIT_QUEUES", raising=False)
        if consume.PartitionQueues is not _consume_py.PartitionQueues:  # compiled twin loaded
            default = clients.partition_queues(consumer)
            assert type(default).__module__ == "goka._core._consume_c"
            assert default.add("t", 0) is True and len(default) == 1
            assert default.consume(10, 0) == []
            default.remove("t", 0)
            assert len(default) == 0
            default.close()
            assert default.add("t", 1) is False  # closed: nothing is split any more
        monkeypatch.setenv("GOKA_SPLIT_QUEUES", "0")
        assert type(clients.partition_queues(consumer)).__module__ == "goka._core._consume_py"
        monkeypatch.setattr(clients, "librdkafka_functions", lambda: None)
        monkeypatch.delenv("GOKA_SPLIT_QUEUES")
        assert type(clients.partition_queues(consumer)).__module__ == "goka._core._consume_py"
    finally:
        consumer.close()


@pytest.mark.c_extension
@pytest.mark.parametrize("kind", ["consume", "tablequeue"])
def test_waiting_works_with_file_descriptors_above_1024(kind: str) -> None:
    """A process with many open files (a processor holds several per LMDB partition)
    gets wake-up pipes numbered above 1024, which select() refuses."""
    import os
    import resource

    from confluent_kafka import Consumer, KafkaError

    from goka._kafka import clients

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        if hard != resource.RLIM_INFINITY and hard < 1100:
            pytest.skip(f"the file limit ({hard}) does not allow 1100 open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100 if hard == resource.RLIM_INFINITY else min(hard, 4096), hard))
    fillers: list[int] = []
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        while not fillers or fillers[-1] < 1030:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        functions = clients.librdkafka_functions()
        assert functions is not None
        if kind == "consume":
            queues = import_twin("consume", "c").PartitionQueues(consumer, functions, KafkaError)
            assert queues.consume(10, 0.01) == []
        else:
            queues = import_twin("tablequeue", "c").TableQueues(consumer, functions)
            queues.wait(0.01)
        queues.close()
    finally:
        for fd in fillers:
            os.close(fd)
        consumer.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
