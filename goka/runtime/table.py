"""Table partitions in local storage, recovered from and kept up to date with Kafka.

A :class:`PartitionTable` is one partition of a table topic stored locally (LMDB or
memory). A :class:`TableReader` owns one group-less consumer and a thread that feeds any
number of partition tables: it assigns each at its stored offset + 1, applies records in
batches (values and table offset in one storage transaction), and marks a partition
*recovered* when the consumer reports the end of the partition -- that is, on the high
watermark carried by fetch responses, not on ListOffsets alone (brokers such as Tansu
under-report the latter). A reader either follows its partitions forever (views, joins,
hot standby) or releases each one once recovered (a processor's own table).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from goka._core.messages import by_partition, key_values, untrack
from goka._kafka.clients import (
    OFFSET_BEGINNING,
    KafkaError,
    Message,
    TopicPartition,
    consume_available,
    reader_consumer,
    table_queues,
)
from goka.storage import Storage, puts_writer

__all__ = ["PartitionTable", "TableReader", "UpdateContext", "UpdateCallback"]

log = logging.getLogger("goka.table")

#: messages taken from the consumer per step (each table partition's share of a step is
#: written in one storage transaction)
READ_BATCH = 10000


@dataclass(frozen=True)
class UpdateContext:
    """Where a table record applied by an update callback comes from."""

    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]] | None
    timestamp_ms: int


#: ``update_callback(ctx, storage, key, value)`` applies one table record to ``storage``;
#: the default sets ``key`` to ``value`` and deletes it for a tombstone (``value is None``).
UpdateCallback = Callable[[UpdateContext, Storage, bytes, "bytes | None"], None]


class PartitionTable:
    """One partition of a table topic held in ``storage``."""

    def __init__(self, topic: str, partition: int, storage: Storage,
                 update_callback: UpdateCallback | None = None) -> None:
        self.topic = topic
        self.partition = partition
        self.storage = storage
        self.update_callback = update_callback
        self.recovered = threading.Event()
        self.state = "idle"
        self.records = 0
        self.start_offset = -1
        self.hwm = -1
        self._puts: tuple[Storage, Callable[..., None] | None] = (storage, puts_writer(storage))

    def __repr__(self) -> str:
        return f"<PartitionTable {self.topic}/{self.partition} {self.state}>"

    def initial_offset(self) -> int:
        """Where reading starts: after the stored table offset, else the oldest record."""
        stored = self.storage.get_offset()
        return OFFSET_BEGINNING if stored is None else stored + 1

    def apply(self, msgs: list[Message]) -> None:
        """Apply a batch of table records (all of this partition, in order)."""
        last: int = msgs[-1].offset()  # type: ignore[assignment]
        callback = self.update_callback
        if callback is None:
            self.storage.write_batch(key_values(msgs), offset=last)
        else:
            for m in msgs:
                ts = m.timestamp()[1]
                ctx = UpdateContext(self.topic, self.partition, m.offset(), m.headers(), ts)  # type: ignore[arg-type]
                callback(ctx, self.storage, m.key() or b"", m.value())
            self.storage.set_offset(last)
        self.records += len(msgs)

    def apply_pairs(self, pairs: list[tuple[bytes, bytes | None]], last: int, plain: bool = False) -> None:
        """Apply a batch of table records given as ``(key, value)`` pairs (all of this
        partition, in order, the last at offset ``last``; only for tables without an
        update callback): what :meth:`apply` does for their messages. ``plain``: the batch
        holds no tombstone and no empty key, so a storage with ``write_puts`` (LMDB) may
        take it as it is."""
        storage = self.storage
        write_puts = None
        if plain:
            if self._puts[0] is not storage:
                self._puts = (storage, puts_writer(storage))
            write_puts = self._puts[1]
        if plain and write_puts is not None:
            write_puts(pairs, offset=last)
        else:
            storage.write_batch(pairs, offset=last)
        self.records += len(pairs)

    def stats(self) -> dict[str, Any]:
        offset = self.storage.get_offset()
        return {"state": self.state, "offset": offset, "hwm": self.hwm, "records": self.records,
                "start_offset": self.start_offset}


class TableReader:
    """Feeds partition tables from Kafka in a background thread (see module docstring)."""

    def __init__(self, brokers: Any, *, client_id: str, follow: bool, fail_on_error: bool = False,
                 consumer_config: dict[str, Any] | None = None) -> None:
        self._brokers = brokers
        self._client_id = client_id
        self._config = consumer_config
        self.follow = follow
        self.fail_on_error = fail_on_error
        self._tables: dict[tuple[str, int], PartitionTable] = {}
        self._lock = threading.Lock()
        self._to_add: list[PartitionTable] = []
        self._to_remove: list[tuple[PartitionTable, threading.Event]] = []
        self._stop = threading.Event()
        # set by add/remove/stop: an idle reader sleeps on it rather than polling (every
        # wake-up of a Python thread takes the GIL from the processing thread)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        #: False from a lost-brokers error until the brokers answer again
        self.connected = True
        self._last_probe = 0.0
        self._queues: Any = None  # the reader thread's TableQueues
        self._split: set[tuple[str, int]] = set()  # partitions ever split (they stay split)

    # -- called from other threads ------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"goka-reader-{self._client_id}", daemon=True)
        self._thread.start()

    def add(self, tables: Iterable[PartitionTable]) -> None:
        """Start reading ``tables`` (each from its stored offset + 1)."""
        with self._lock:
            for table in tables:
                table.recovered.clear()
                table.state = "recovering"
                self._to_add.append(table)
        self._wake.set()

    def remove(self, tables: Iterable[PartitionTable], timeout: float = 30.0) -> None:
        """Stop reading ``tables``; returns once the reader no longer writes to them."""
        events = []
        with self._lock:
            for table in tables:
                event = threading.Event()
                self._to_remove.append((table, event))
                events.append(event)
        self._wake.set()
        for event in events:
            if not self._alive():
                return
            event.wait(timeout)

    def wait_recovered(self, tables: Iterable[PartitionTable], timeout: float | None = None) -> bool:
        """Block until every table in ``tables`` is recovered (re-raises a reader failure)."""
        if self.error is not None:
            raise self.error
        for table in tables:
            while not table.recovered.wait(0.05 if timeout is None else min(0.05, timeout)):
                if self.error is not None:
                    raise self.error
                if timeout is not None:
                    timeout -= 0.05
                    if timeout <= 0:
                        return False
        return True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the reader thread -------------------------------------------------------------
    def _on_error(self, err: Any) -> None:
        """librdkafka's error callback (runs in the reader thread, inside consume)."""
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            if self.connected:
                log.warning("table reader %s lost its brokers: %s", self._client_id, err.str())
            self.connected = False
            if self.fail_on_error:
                self.error = ConnectionError(f"table reader {self._client_id}: {err.str()}")
        elif err.fatal():
            self.error = RuntimeError(f"table reader {self._client_id}: {err.str()}")

    def _check_reconnected(self, consumer: Any) -> None:
        """While disconnected, probe the brokers with a metadata request now and then."""
        now = time.monotonic()
        if now - self._last_probe < 0.5:
            return
        self._last_probe = now
        topic = next(iter(self._tables))[0] if self._tables else None
        try:
            consumer.list_topics(topic, timeout=1.0)
        except Exception:
            return
        log.info("table reader %s reconnected", self._client_id)
        self.connected = True

    def _run(self) -> None:
        consumer = reader_consumer(self._brokers, client_id=self._client_id,
                                   overrides={**(self._config or {}), "error_cb": self._on_error})
        # partitions of tables without an update callback are read off their own queues
        # in compiled code where available (goka._core.tablequeue); the others, and
        # client-wide errors, through consume()
        queues = None
        try:
            self._queues = queues = table_queues(consumer)
            while not self._stop.is_set():
                if self.error is not None:
                    raise self.error
                self._apply_changes(consumer)
                if not self._tables:
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                if len(queues):
                    # the split partitions first, then the consumer queue: what they held
                    # was queued before a client error (error_cb) served now, as consume()
                    # would see it (a partition's end must not mark a reader that just lost
                    # its brokers connected again)
                    batches, events = queues.drain(READ_BATCH)
                    if batches or events:
                        self.connected = True
                        self._handle_split(consumer, batches, events)
                    msgs = consumer.consume(READ_BATCH, 0)
                else:
                    msgs = consume_available(consumer, READ_BATCH, 0.1)
                    batches = events = []
                if msgs:
                    untrack(msgs)
                    self.connected = True
                    self._handle(consumer, msgs)
                elif not (batches or events):
                    if not self.connected:
                        self._check_reconnected(consumer)
                    if len(queues):
                        queues.wait(0.1)
        except BaseException as exc:  # surfaced to waiters via .error
            log.exception("table reader %s failed", self._client_id)
            self.error = exc
        finally:
            for table, event in self._to_remove:
                event.set()
            if queues is not None:
                queues.close()  # before the consumer closes (rdkafka.h)
            consumer.close()

    def _apply_changes(self, consumer: Any) -> None:
        with self._lock:
            adds, self._to_add = self._to_add, []
            removes, self._to_remove = self._to_remove, []
        if removes:
            gone = [TopicPartition(t.topic, t.partition) for t, _ in removes
                    if self._tables.pop((t.topic, t.partition), None) is not None]
            if gone:
                consumer.incremental_unassign(gone)
                for tp in gone:
                    self._queues.remove(tp.topic, tp.partition)
            for table, event in removes:
                table.state = "idle"
                event.set()
        if adds:
            assign = []
            for table in adds:
                self._tables[(table.topic, table.partition)] = table
                offset = table.initial_offset()
                low, high = consumer.get_watermark_offsets(TopicPartition(table.topic, table.partition),
                                                           timeout=10)
                if offset != OFFSET_BEGINNING and offset > high:
                    # The local table claims records the topic does not have: the topic
                    # was re-created or truncated (or the broker under-reports its high
                    # watermark, as Tansu may). Rebuild from the log rather than serve
                    # stale values and skip the topic's first records.
                    log.warning("%s/%d: local table offset %d is beyond the high watermark %d; "
                                "clearing the local table and reading the topic from the start",
                                table.topic, table.partition, offset - 1, high)
                    table.storage.clear()
                    offset = OFFSET_BEGINNING
                table.hwm = high
                table.start_offset = low if offset == OFFSET_BEGINNING else max(offset, low)
                if high == 0:  # an empty partition is recovered right away
                    self._recovered(consumer, table, assigned=False)
                    if not self.follow:
                        del self._tables[(table.topic, table.partition)]
                        continue
                if offset != OFFSET_BEGINNING and offset < low:
                    log.warning("%s/%d: local table offset %d is before the log start %d; "
                                "reading from the log start", table.topic, table.partition, offset - 1, low)
                    offset = low
                # An offset beyond the end (e.g. a re-created topic) is out of range:
                # the consumer then resets to the oldest record and re-reads the table.
                slot = (table.topic, table.partition)
                if table.update_callback is None:
                    # split before the assignment: no record of it reaches consume()
                    if self._queues.add(table.topic, table.partition):
                        self._split.add(slot)
                elif slot in self._split:
                    # librdkafka never forwards a split partition to the consumer queue
                    # again; goka's readers don't mix the two kinds on one partition
                    raise RuntimeError(f"table reader {self._client_id}: {table.topic}/{table.partition} "
                                       "was read without an update callback before; it can't be read "
                                       "with one by the same reader")
                assign.append(TopicPartition(table.topic, table.partition, offset))
            if assign:
                consumer.incremental_assign(assign)

    def _handle(self, consumer: Any, msgs: list[Any]) -> None:
        """Apply a consumed batch: one storage transaction per table partition (records of a
        partition stay in order), then note partition ends and errors. (A partition's end
        may be noted after records that followed it in the batch: harmless, the table
        only gets newer.)"""
        records, events = by_partition(msgs)
        tables = self._tables
        for slot, batch in records.items():
            table = tables.get(slot)
            if table is not None:
                table.apply(batch)
        for msg in events:
            err = msg.error()
            self._event(consumer, msg.topic(), msg.partition(), err.code(), msg.offset(), err.str(),
                        err.fatal())

    def _handle_split(self, consumer: Any,
                      batches: list[tuple[str, int, list[tuple[bytes, bytes | None]], int, bool]],
                      events: list[tuple[str, int, int, int, str]]) -> None:
        """:meth:`_handle` for what ``TableQueues.drain`` returned."""
        tables = self._tables
        for topic, partition, pairs, last, plain in batches:
            table = tables.get((topic, partition))
            if table is not None:
                table.apply_pairs(pairs, last, plain)
        for topic, partition, code, offset, text in events:
            self._event(consumer, topic, partition, code, offset, text, False)

    def _event(self, consumer: Any, topic: str | None, partition: int | None, code: int, offset: int | None,
               text: str, fatal: bool) -> None:
        """An end of partition marks the table recovered; an error fails the reader when
        fatal (or ``fail_on_error``), else is logged."""
        if code == KafkaError._PARTITION_EOF:
            table = self._tables.get((topic, partition))  # type: ignore[arg-type]
            if table is not None:
                table.hwm = offset  # type: ignore[assignment]
                if not table.recovered.is_set():
                    self._recovered(consumer, table, assigned=True)
        elif fatal or self.fail_on_error:
            raise RuntimeError(f"table reader {self._client_id}: {text}")
        else:
            log.warning("table reader %s: %s", self._client_id, text)

    def _recovered(self, consumer: Any, table: PartitionTable, *, assigned: bool) -> None:
        table.state = "running"
        table.recovered.set()
        log.debug("%s/%d recovered (%d records)", table.topic, table.partition, table.records)
        if not self.follow and assigned:
            del self._tables[(table.topic, table.partition)]
            consumer.incremental_unassign([TopicPartition(table.topic, table.partition)])
            self._queues.remove(table.topic, table.partition)
