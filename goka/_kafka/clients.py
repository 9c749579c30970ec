"""confluent-kafka clients configured as goka uses them.

The rest of goka reaches librdkafka only through the names re-exported here, so this
package stays the one place that imports ``confluent_kafka``.

Defaults follow Go Goka where it matters for semantics (group timing, range-style
co-partitioned assignment, offsets stored only after acknowledgement) and are tuned
for throughput where they don't (fetch pacing, batching). Every default can be
overridden by the ``consumer_config`` / ``producer_config`` a user passes.
"""
from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import confluent_kafka

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from goka._kafka.logs import rdkafka_log

__all__ = [
    "ORDERED",
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "Consumer",
    "KafkaError",
    "KafkaException",
    "Message",
    "Producer",
    "TopicPartition",
    "base_config",
    "bootstrap_servers",
    "cluster_of",
    "consume_available",
    "delivers_in_order",
    "direct_producer",
    "group_consumer",
    "reader_consumer",
    "producer",
    "partition_queues",
    "table_queues",
]


def consume_available(consumer: Consumer, max_messages: int, timeout: float) -> list[Message]:
    """Up to ``max_messages`` messages: whatever is already fetched, without waiting; if
    nothing is, wait at most ``timeout`` for the first one. (``consume(n, timeout)`` alone
    waits the whole timeout whenever fewer than ``n`` messages are available, which adds
    up to ``timeout`` of latency per step at low rates.)"""
    msgs = consumer.consume(max_messages, 0)
    if msgs:
        return msgs
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(max_messages - 1, 0)]


def bootstrap_servers(brokers: Any) -> str:
    """``bootstrap.servers`` from any accepted form of ``brokers`` (see :func:`base_config`)."""
    return str(base_config(brokers)["bootstrap.servers"])


def base_config(brokers: Any) -> dict[str, Any]:
    """The configuration every client goka builds for ``brokers`` starts from.

    ``brokers`` is a list of ``host:port``, a comma-separated string, a
    :class:`goka.Kafka` (its ``config`` is included: security settings and the like) or
    any object with a ``brokers`` attribute (e.g. :class:`goka.EmbeddedCluster`). Every
    consumer, producer and admin client of goka is configured through this function.
    """
    from goka.kafka import Kafka

    if isinstance(brokers, Kafka):
        return {"bootstrap.servers": brokers.bootstrap, **brokers.config}
    inner = getattr(brokers, "brokers", None)
    if inner is not None:
        brokers = inner
    items = list(brokers) if isinstance(brokers, Iterable) and not isinstance(brokers, (str, bytes, Mapping)) \
        else None
    if isinstance(brokers, str):
        servers = brokers
    elif items is not None and all(isinstance(b, str) for b in items):
        servers = ",".join(items)
    else:
        raise TypeError("brokers must be 'host:port[,...]', a list of 'host:port', a goka.Kafka or an "
                        f"EmbeddedCluster, got {type(brokers).__name__}")
    if not servers:
        raise ValueError("no brokers given")
    return {"bootstrap.servers": servers}


def cluster_of(brokers: Any) -> Any:
    """The :class:`goka.EmbeddedCluster` behind ``brokers`` (itself, or the one a
    :class:`goka.Kafka` was built from), else ``None``."""
    from goka.kafka import Kafka

    if isinstance(brokers, Kafka):
        return brokers.cluster
    if isinstance(getattr(brokers, "brokers", None), str) and callable(getattr(brokers, "create_topic", None)):
        return brokers
    return None


def _configure(tunable: dict[str, Any], essential: dict[str, Any], brokers: Any,
               overrides: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A client's configuration: goka's ``tunable`` defaults < the shared settings of
    ``brokers`` (:func:`base_config`) < the settings goka's semantics rest on
    (``essential``: group ids, offset storage, end-of-partition events, ordered
    delivery) < ``overrides`` (``consumer_config`` / ``producer_config``, which may
    change anything)."""
    shared = base_config(brokers)
    ignored = sorted(k for k in shared if k in essential and str(shared[k]) != str(essential[k]))
    if ignored:
        logging.getLogger("goka.kafka").warning(
            "%s: goka sets %s itself; the goka.Kafka setting is not used for this client (pass it in "
            "consumer_config/producer_config to override)", what, ", ".join(ignored))
    return {**tunable, **shared, **essential, **(overrides or {})}



_FETCH = {
    # librdkafka's default backoff paces fetching to ~150k msgs/s here; lift it.
    "fetch.queue.backoff.ms": 10,
    "queued.min.messages": 200000,
}

#: Added for the consumers of a :class:`goka.EmbeddedCluster` (given as the cluster object
#: or a :class:`goka.Kafka` built from one): librdkafka's mock cluster answers a fetch that
#: finds no data only after ``fetch.wait.max.ms`` (librdkafka's default: 500 ms), even when
#: records arrive meanwhile (a Kafka broker answers as they arrive), so an idle consumer
#: there sees up to that much latency per record. A shorter wait costs a few more fetch
#: requests on an in-process cluster; configuration the user gives still wins.
EMBEDDED_FETCH_WAIT_MS = 50


def _fetch_defaults(brokers: Any) -> dict[str, Any]:
    """A consumer's fetch tuning for ``brokers`` (see :data:`EMBEDDED_FETCH_WAIT_MS`)."""
    if cluster_of(brokers) is None:
        return _FETCH
    return {"fetch.wait.max.ms": EMBEDDED_FETCH_WAIT_MS, **_FETCH}


def group_consumer(brokers: Any, group: str, *, client_id: str, auto_offset_reset: str,
                   overrides: Mapping[str, Any] | None = None) -> Consumer:
    """A consumer-group member for a processor's inputs.

    Offsets are stored by goka only after everything a message produced was
    acknowledged (``enable.auto.offset.store=false``) and committed every second.
    """
    return Consumer(_configure({
        "client.id": client_id,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 3000,
        "auto.commit.interval.ms": 1000,
        "logger": rdkafka_log,
        **_fetch_defaults(brokers),
    }, {
        "group.id": group,
        "partition.assignment.strategy": "range",  # co-partitioned inputs: same partitions together
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "auto.offset.reset": auto_offset_reset,
        "allow.auto.create.topics": False,
    }, brokers, overrides, f"consumer of group {group}"))


def reader_consumer(brokers: Any, *, client_id: str, overrides: Mapping[str, Any] | None = None) -> Consumer:
    """A group-less consumer that reads assigned table partitions and reports end of
    partition (used for recovery and for following tables)."""
    return Consumer(_configure({
        "client.id": client_id,
        "logger": rdkafka_log,
        **_fetch_defaults(brokers),
    }, {
        # librdkafka requires a group.id even for assign(); it is never joined or committed.
        "group.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "allow.auto.create.topics": False,
    }, brokers, overrides, f"table reader {client_id}"))


#: A producer with these settings delivers each partition's records in order and never
#: skips one: a record's successful delivery report implies that every record queued before
#: it for the same partition was delivered too (idempotence orders and deduplicates
#: retries; the gapless guarantee turns any failure that would leave a gap into a fatal
#: error; no message timeout, so nothing expires quietly while the broker is away). A
#: processor on such a producer waits for one delivery report per partition and batch.
ORDERED = {"enable.idempotence": True, "enable.gapless.guarantee": True, "message.timeout.ms": 0}


def delivers_in_order(overrides: Mapping[str, Any]) -> bool:
    """Whether a producer built with ``ordered=True`` and ``overrides`` keeps :data:`ORDERED`."""
    def flag(name: str) -> bool:
        return str(overrides.get(name, True)).lower() in ("true", "1")
    timeouts = {str(overrides[k]) for k in ("message.timeout.ms", "delivery.timeout.ms") if k in overrides}
    return flag("enable.idempotence") and flag("enable.gapless.guarantee") and timeouts <= {"0"}


def producer(brokers: Any, *, client_id: str, overrides: Mapping[str, Any] | None = None,
             ordered: bool = False) -> Producer:
    """A producer whose delivery reports resolve goka's pending work (with ``ordered``:
    configured as :data:`ORDERED`, before ``overrides``)."""
    essential: dict[str, Any] = {"acks": "all", **(ORDERED if ordered else {})}
    overrides = overrides or {}
    if ordered and "enable.gapless.guarantee" not in overrides and \
            str(overrides.get("enable.idempotence", True)).lower() not in ("true", "1"):
        del essential["enable.gapless.guarantee"]  # it requires idempotence
    return Producer(_configure({
        "client.id": client_id,
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1000000,
        "queue.buffering.max.kbytes": 1048576,
        "logger": rdkafka_log,
    }, essential, brokers, overrides, f"producer {client_id}"))


_DIRECT = ("rd_kafka_topic_new", "rd_kafka_topic_destroy", "rd_kafka_produce_batch", "rd_kafka_name",
           # the compiled TableQueues (goka._core.tablequeue)
           "rd_kafka_queue_get_partition", "rd_kafka_queue_forward", "rd_kafka_queue_destroy",
           "rd_kafka_consume_batch_queue", "rd_kafka_message_destroy", "rd_kafka_queue_io_event_enable",
           "rd_kafka_err2str",
           # the compiled PartitionQueues (goka._core.consume)
           "rd_kafka_queue_get_consumer", "rd_kafka_queue_length", "rd_kafka_message_timestamp",
           "rd_kafka_message_detach_headers", "rd_kafka_header_get_all", "rd_kafka_headers_destroy",
           "rd_kafka_message_errstr")
_functions: dict[str, int] | None = None
_looked_up = False


def librdkafka_functions() -> dict[str, int] | None:
    """Addresses of the librdkafka functions the compiled ``DirectProducer``,
    ``TableQueues`` and ``PartitionQueues`` call, taken
    from the library confluent-kafka has already loaded (``RTLD_NOLOAD``: never a second
    copy), or None where that can't be established (another confluent-kafka major version,
    a platform without ``RTLD_NOLOAD``, a library not found)."""
    global _functions, _looked_up
    if _looked_up:
        return _functions
    _looked_up = True
    reported: Any = confluent_kafka.version()  # "2.16.1" (older releases: ("2.x.y", int))
    version = reported if isinstance(reported, str) else str(reported[0])
    if not version.startswith("2.") or not hasattr(os, "RTLD_NOLOAD"):
        return None
    from goka._kafka.mock import MockClusterError, library_path

    try:
        lib = ctypes.CDLL(library_path(), mode=os.RTLD_NOLOAD)
        _functions = {name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0 for name in _DIRECT}
    except (OSError, AttributeError, MockClusterError) as exc:
        logging.getLogger("goka.kafka").debug("librdkafka entry points not available: %s", exc)
        return None
    if not all(_functions.values()):
        _functions = None
    return _functions


def direct_producer(p: Producer) -> Any:
    """A ``DirectProducer`` (``goka._core.produce``) for ``p``: the compiled twin hands
    record runs to librdkafka itself where :func:`librdkafka_functions` finds the library,
    the pure twin (and the fallback) goes through ``produce_batch``."""
    from goka._core import _produce_py
    from goka._core.produce import DirectProducer

    if DirectProducer is _produce_py.DirectProducer:
        return DirectProducer(p)
    functions = librdkafka_functions()
    if functions is None:
        return _produce_py.DirectProducer(p)
    return DirectProducer(p, functions)


def table_queues(c: Consumer) -> Any:
    """A ``TableQueues`` (``goka._core.tablequeue``) for the table reader consumer ``c``:
    the compiled twin reads table partitions off their own librdkafka queues where
    :func:`librdkafka_functions` finds the library (the default; ``GOKA_SPLIT_TABLE_QUEUES=0``
    opts out); the pure twin (and the fallback) leaves every record to ``consume``."""
    from goka._core import _tablequeue_py
    from goka._core.tablequeue import TableQueues

    return _split_queues(c, TableQueues, _tablequeue_py.TableQueues, "GOKA_SPLIT_TABLE_QUEUES", "table reader")


def partition_queues(c: Consumer) -> Any:
    """A ``PartitionQueues`` (``goka._core.consume``) for the processor's group consumer
    ``c``: the compiled twin takes each assigned partition's records off its own
    librdkafka queue where :func:`librdkafka_functions` finds the library (the default;
    ``GOKA_SPLIT_QUEUES=0`` opts out); the pure twin (and the fallback) consumes every
    record through ``consume``."""
    from goka._core import _consume_py
    from goka._core.consume import PartitionQueues

    return _split_queues(c, PartitionQueues, _consume_py.PartitionQueues, "GOKA_SPLIT_QUEUES", "processor",
                         KafkaError)


def _split_queues(c: Consumer, compiled: Any, pure: Any, switch: str, what: str, *extra: Any) -> Any:
    """``compiled(c, functions, *extra)`` unless the twins are pure, ``$switch`` is ``0``,
    librdkafka's entry points are not found or the compiled twin refuses the consumer
    (``ValueError``, logged at DEBUG): then ``pure(c)``, which leaves every record to
    ``consume``."""
    if compiled is pure or os.environ.get(switch, "") == "0":
        return pure(c)
    functions = librdkafka_functions()
    if functions is None:
        return pure(c)
    try:
        return compiled(c, functions, *extra)
    except ValueError as exc:
        logging.getLogger("goka.kafka").debug("%s on consume(): %s", what, exc)
        return pure(c)
