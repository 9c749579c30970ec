"""The Kafka runtime behind :class:`goka.Processor`.

One thread runs the loop: consume a batch from the consumer group, hand each message to
its :class:`~goka._core.partition.PartitionProcessor`, serve delivery reports, write
acknowledged table generations to local storage and commit input offsets over the
acknowledged prefix. Rebalance callbacks run in the same thread (inside ``consume``):
on assignment a partition's table is recovered and its joined partitions caught up
before it is processed; on revocation everything in flight is acknowledged, written
and committed before the partition is released.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from goka._kafka.admin import TopicManager, TopicNotFoundError
from goka._kafka.clients import (
    KafkaError,
    KafkaException,
    TopicPartition,
    delivers_in_order,
    direct_producer,
    group_consumer,
    partition_queues,
    producer,
)
from goka._core.failure import dead_letter_targets
from goka._core.messages import untrack
from goka.errors import (
    CopartitionError,
    NotRecoveredError,
    ProcessingError,
    ProduceError,
    PartitionNotHeldError,
    ProcessorStoppedError,
    UndeclaredTopicError,
    VisitAbortedError,
)
from goka.keys import key_bytes
from goka.runtime.group_errors import group_error
from goka.runtime.latency import LatencyHistogram
from goka.options import Offset
from goka._core.partition import PartitionProcessor, process_batch
from goka._core.produce import headerless
from goka.runtime.table import PartitionTable, TableReader
from goka.runtime.joining import JoinWatch
from goka.storage import Storage, default_path
from goka.storage.lmdb import LMDB

if TYPE_CHECKING:
    from goka.processor import Processor
    from goka.view import View

__all__ = ["KafkaProcessor"]

log = logging.getLogger("goka.processor")

BATCH_SIZE = 10000
COMMIT_INTERVAL = 1.0
FLUSH_TIMEOUT = 60.0
_QUEUE_FULL = -184  # RD_KAFKA_RESP_ERR__QUEUE_FULL
#: records the producer's local queue may hold before a batch waits for acknowledgements
#: (the producer is configured for 1,000,000)
QUEUE_ROOM = 500_000


def _as_dict(record: Any) -> Any:
    """An outbox record as the dict users see (the compiled partition processor's records
    are ``goka._core._produce_c.Record`` mappings)."""
    return record if record is None or type(record) is dict else dict(record)


class KafkaProcessor:
    """Backend of :class:`goka.Processor` on a Kafka cluster (see module docstring)."""

    def __init__(self, proc: Processor, brokers: Any) -> None:
        self.proc = proc
        self.graph = graph = proc.graph
        self.group = graph.group
        self.brokers = brokers
        self.topics = TopicManager.for_brokers(brokers)
        self.num_partitions = self.topics.ensure_copartitioned(graph.copartitioned_topics)
        if graph.loop is not None:
            self.topics.ensure_stream(graph.loop_topic, self.num_partitions)
        if graph.persist is not None:
            self.topics.ensure_table(graph.table_topic, self.num_partitions)
        if graph.timer is not None:  # pending timers: compacted and co-partitioned like the table
            self.topics.ensure_table(graph.timer_topic, self.num_partitions)
        for topic in graph.window_topics:  # windowed tables (goka.Window): the same
            self.topics.ensure_table(topic, self.num_partitions)
        self._partition_counts: dict[str, int] = {}
        for topic in graph.outputs:
            self._partition_counts[topic] = len(self.topics.partitions(topic))
        self._partition_counts[graph.loop_topic] = self.num_partitions
        for topic in dead_letter_targets(graph, proc.on_error):  # created at start, see goka.DeadLetter
            self.topics.ensure_topic(topic, self.num_partitions, {"cleanup.policy": "delete"})
            self._partition_counts[topic] = len(self.topics.partitions(topic))
        self.storage_builder = proc.storage if proc.storage is not None else \
            LMDB(proc.path or default_path("processor", self.group))
        self.state = "idle"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.last_error: dict[str, Any] | None = None  # the last consumer error (transient)
        #: offsets finished but refused at the last revocation: where to resume a partition
        #: that the next assignment gives back (see _on_revoke)
        self._refused: dict[tuple[str, int], int] = {}
        self._recovered = threading.Event()
        self.latency = LatencyHistogram()
        self._ran = False
        self.partitions: dict[int, PartitionProcessor] = {}
        self._storages: dict[tuple[str, int], Storage] = {}
        self._tables: dict[tuple[str, int], PartitionTable] = {}
        self._visits: list[tuple[str, Any, Future[int]]] = []
        self._visit_lock = threading.Lock()
        self.lookups: dict[str, View] = {}
        self.consumer: Any = None
        self._queues: Any = None  # the consumer's PartitionQueues (goka._core.consume)
        self.producer: Any = None
        self._direct: Any = None
        self._recovery: TableReader | None = None
        self._follower: TableReader | None = None

    # -- public backend interface --------------------------------------------------------
    def run(self) -> None:
        if self._ran:
            raise ProcessorStoppedError(f"processor of group {self.group!r} already ran or was stopped; "
                                        "create a new one")
        self._ran = True
        restore = self._install_signals()
        try:
            self._run()
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)
        if self._error is not None:
            raise self._error

    def start(self) -> None:
        if self._ran:
            raise ProcessorStoppedError(f"processor of group {self.group!r} already ran or was stopped; "
                                        "create a new one")
        self._ran = True
        self._thread = threading.Thread(target=self._run, name=f"goka-processor-{self.group}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if not self._ran:  # stopped before it ran: it never will (run()/start() raise)
            self._ran = True
            self.state = "stopped"
            self.topics.close()
            return
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._error is not None:
            raise self._error

    def wait_recovered(self, timeout: float | None = None) -> bool:
        if not self._ran:
            raise NotRecoveredError(f"processor of group {self.group!r} is not started; "
                                    "call start() or run() first")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._recovered.wait(0.05):
            if self._error is not None:
                raise self._error
            if self.state == "stopped":
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def get(self, key: str) -> Any:
        if self.graph.persist is None:
            raise UndeclaredTopicError(f"group {self.group!r} has no Persist edge")
        kbytes = key.encode("utf-8", "surrogateescape") if type(key) is str else key_bytes(key, "Processor.get key")
        partition = self.proc.hasher(kbytes, self.num_partitions)
        pp = self.partitions.get(partition)
        if pp is not None:
            data = pp.get(kbytes)
        else:
            storage = self._storages.get((self.graph.table_topic, partition)) if self.proc.hot_standby else None
            if storage is None:
                raise PartitionNotHeldError(f"group {self.group!r}: key {key!r} is in partition {partition}, "
                                            f"which this instance does not hold")
            data = storage.get(kbytes)
        return None if data is None else self.graph.persist.codec.decode(data)

    def visit_all(self, name: str, value: Any) -> int:
        if name not in self.graph.visitors:
            raise UndeclaredTopicError(f"group {self.group!r} has no visitor {name!r}")
        if self.state not in ("running", "recovering", "starting", "joining"):
            raise VisitAbortedError(f"processor of group {self.group!r} is {self.state}")
        fut: Future[int] = Future()
        with self._visit_lock:
            self._visits.append((name, value, fut))
        return fut.result()

    def stats(self) -> dict[str, Any]:
        parts = {}
        for p, pp in list(self.partitions.items()):
            entry = pp.stats()
            table = self._tables.get((self.graph.table_topic, p))
            if table is not None:
                entry["table"] = table.stats()
            parts[p] = entry
        active = sorted(parts)
        standby = sorted({p for (t, p), table in list(self._tables.items())
                          if t == self.graph.table_topic and p not in parts and table.state == "running"}) \
            if self.proc.hot_standby else []
        return {"group": self.group, "state": self.state, "partitions": parts, "active": active,
                "standby": standby,
                "tables": {f"{t}/{p}": table.stats() for (t, p), table in list(self._tables.items())},
                "lookups": {t: v.state for t, v in self.lookups.items()},
                "latency": self.latency.snapshot(), "last_error": self.last_error}

    # -- the loop ------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        restore: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            restore[sig] = signal.getsignal(sig)
            signal.signal(sig, lambda signum, frame: self._stop.set())
        return restore

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, TopicNotFoundError):  # e.g. a Lookup's table: say which edge needs it
            exc = exc.for_group(self.graph)
        if self._error is None:
            self._error = exc
        self._stop.set()

    def _run(self) -> None:
        self.state = "starting"
        try:
            self._start_clients()
            while not self._stop.is_set():
                msgs = self._queues.consume(BATCH_SIZE, 0.1)
                if msgs:
                    untrack(msgs)
                    self._process(msgs)
                self.producer.poll(0)
                self._advance()
                if self._visits:
                    self._run_visits()
        except KafkaException as exc:
            self._client_failed(exc)
        except BaseException as exc:
            self.fail(exc)
        finally:
            self._shutdown()

    def _client_failed(self, exc: KafkaException) -> None:
        """A client raised, e.g. the producer's fatal error after the broker refused a
        record (which would leave a gap in the ordered changelog). The failed records'
        delivery reports come next and name them and the input messages that produced them
        (``BatchAck.error``); the first error stops the processor."""
        if self.producer is not None:
            try:
                self.producer.poll(0.1)
            except KafkaException:
                pass
        err = exc.args[0] if exc.args else None
        reason = err.str() if isinstance(err, KafkaError) else str(exc)
        failure = ProcessingError(f"Kafka client failed: {reason}", group=self.group)
        failure.__cause__ = exc
        self.fail(failure)

    def _start_clients(self) -> None:
        proc, graph = self.proc, self.graph
        client_id = f"goka-processor-{self.group}"
        for table, edge in graph.lookups.items():
            from goka.view import View

            view = View(self.brokers, table, edge.codec, path=os.path.join(self.storage_root(), "lookup"),
                        consumer_config=proc.consumer_config or None, hasher=edge.hasher)
            self.lookups[table] = view
            view.start()
        for view in self.lookups.values():
            while not view.wait_recovered(0.1):
                if self._stop.is_set():
                    return
        self.producer = producer(self.brokers, client_id=client_id, overrides=proc.producer_config, ordered=True)
        self._direct = direct_producer(self.producer)
        self._recovery = TableReader(self.brokers, client_id=client_id + "-recovery", follow=False,
                                     consumer_config=proc.consumer_config or None)
        self._recovery.start()
        if graph.joins or proc.hot_standby:
            self._follower = TableReader(self.brokers, client_id=client_id + "-follower", follow=True,
                                         consumer_config=proc.consumer_config or None)
            self._follower.start()
        if proc.recover_ahead or proc.hot_standby:
            self._recover_ahead()
        shared = getattr(self.brokers, "config", None) or {}  # a goka.Kafka's settings
        self._join = JoinWatch(self.group, graph.consumed_topics, self.num_partitions, self._stop,
                               proc.consumer_config.get("session.timeout.ms", shared.get("session.timeout.ms", 10000)))
        offset_reset = "earliest" if proc.initial_offset == Offset.OLDEST else "latest"
        self.consumer = group_consumer(self.brokers, self.group, client_id=client_id,
                                       auto_offset_reset=offset_reset,
                                       overrides={**proc.consumer_config, "on_commit": self._on_commit})
        # assigned partitions are read off their own librdkafka queues in compiled code
        # where available (split in _on_assign, before the assignment takes effect)
        self._queues = partition_queues(self.consumer)
        self.consumer.subscribe(graph.consumed_topics, on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.state = "joining"
        self._last_commit = time.monotonic()

    def storage_root(self) -> str:
        return self.proc.path or default_path("processor", self.group)

    def _table(self, topic: str, partition: int) -> PartitionTable:
        table = self._tables.get((topic, partition))
        if table is None:
            storage = self._storages.get((topic, partition))
            if storage is None:
                storage = self._storages[(topic, partition)] = self.storage_builder.open(topic, partition)
            table = self._tables[(topic, partition)] = PartitionTable(
                topic, partition, storage,
                None if topic == self.graph.timer_topic or topic in self.graph.window_topics
                else self.proc.update_callback)
        return table

    def _own_topics(self) -> list[str]:
        """The topics of the state each active partition owns: group table, timers, windows."""
        topics = []
        if self.graph.persist is not None:
            topics.append(self.graph.table_topic)
        if self.graph.timer is not None:
            topics.append(self.graph.timer_topic)
        topics.extend(self.graph.window_topics)
        return topics

    def _state_topics(self) -> list[str]:
        return list(self.graph.joins) + self._own_topics()

    def _recover_ahead(self) -> None:
        """Before joining: bring every table and join partition up to date once; with hot
        standby, keep following all of them (assigned ones are taken over on assignment)."""
        tables = [self._table(t, p) for t in self._state_topics() for p in range(self.num_partitions)]
        reader = self._follower if self.proc.hot_standby else self._recovery
        assert reader is not None
        reader.add(tables)
        self.state = "recovering"
        reader.wait_recovered(tables)

    # -- rebalance -------------------------------------------------------------------------
    def _on_assign(self, consumer: Any, assignment: list[Any]) -> None:
        refused, self._refused = self._refused, {}
        parts: dict[int, set[str]] = {}
        for tp in assignment:
            parts.setdefault(tp.partition, set()).add(tp.topic)
        consumed = set(self.graph.consumed_topics)
        for p, topics in parts.items():
            if topics != consumed:
                raise CopartitionError(
                    f"group {self.group!r}: partition {p} assigned for {sorted(topics)} but not for "
                    f"{sorted(consumed - topics)}; inputs and loop must be co-partitioned")
        log.info("group %s: assigned partitions %s", self.group, sorted(parts))
        for tp in assignment:  # confluent-kafka assigns when this callback returns
            self._queues.add(tp.topic, tp.partition)
        self._join.assigned(sorted(parts))
        if self.proc.on_rebalance is not None:
            self.proc.on_rebalance({p: -1 for p in parts})
        self.state = "recovering"
        own = [self._table(t, p) for t in self._own_topics() for p in parts]
        joins = [self._table(t, p) for t in self.graph.joins for p in parts]
        if self._follower is not None and self.proc.hot_standby:
            self._follower.remove(own)  # one writer: the active partition takes the table over
        assert self._recovery is not None
        self._recovery.add(own)
        if self._follower is not None:
            self._follower.add(j for j in joins if not j.recovered.is_set() or j.state != "running")
        for reader, tables in ((self._recovery, own), (self._follower, joins)):
            if reader is not None and tables:
                while not reader.wait_recovered(tables, 0.2):
                    if self._stop.is_set():
                        return
        for p in parts:
            self.partitions[p] = self._partition_processor(p)
        resume = [TopicPartition(tp.topic, tp.partition, refused[(tp.topic, tp.partition)])
                  for tp in assignment if (tp.topic, tp.partition) in refused]
        if resume:
            self._resume(assignment, refused, resume)
        self.state = "running"
        self._recovered.set()

    def _resume(self, assignment: list[Any], refused: dict[tuple[str, int], int], resume: list[Any]) -> None:
        """Partitions given back whose final commit at the revocation was refused (the
        embedded cluster refuses commits while the group rebalances) resume where this
        instance finished instead of replaying from the last commit; the offsets are
        committed in the new generation (a refused commit is retried like any other: under
        load the group can rebalance again before it goes through)."""
        for tp in assignment:
            tp.offset = refused.get((tp.topic, tp.partition), tp.offset)
        self.consumer.assign(assignment)
        for tp in resume:  # committable until confirmed: retried by the next commit, and
            # remembered again if the partitions are revoked before anything new is processed
            self.partitions[tp.partition].committable[tp.topic] = tp.offset
        try:
            self.consumer.commit(offsets=resume, asynchronous=False)
        except Exception as exc:  # retried with the next commit of these partitions
            log.warning("group %s: commit of resumed offsets failed: %s", self.group, exc)
            return
        for tp in resume:
            self.partitions[tp.partition].committed[tp.topic] = tp.offset

    def _partition_processor(self, p: int) -> PartitionProcessor:
        graph = self.graph
        storage = self._table(graph.table_topic, p).storage if graph.persist is not None else None
        timer_storage = self._table(graph.timer_topic, p).storage if graph.timer is not None else None
        windows = {e.name: self._table(t, p).storage for t, e in graph.window_topics.items()}
        joins = {t: self._table(t, p).storage.get for t in graph.joins}
        lookups = {t: view.get for t, view in self.lookups.items()}
        return PartitionProcessor(
            graph, p, produce_batch=self._produce_batch, partitions_of=self._partitions_of,
            hasher=self.proc.hasher, fail=self.fail, storage=storage, joins=joins, lookups=lookups,
            nil_handling=self.proc.nil_handling, ack_each=not delivers_in_order(self.proc.producer_config),
            coalesce=self.proc.coalesce_changelog, on_error=self.proc.on_error, sleep=self._stop.wait,
            timer_storage=timer_storage, window_storages=windows)

    def _produce(self, topic: str, value: bytes | None, key: bytes, partition: int, headers: Any,
                 on_delivery: Callable[[Any, Any], None] | None, record: Any = None) -> None:
        """Produce one record (``record``: its outbox dict, which the partition processor
        uses to name the input message in the :class:`ProduceError` of a refused record)."""
        producer = self.producer
        while True:
            try:
                producer.produce(topic, value, key, partition, on_delivery=on_delivery, headers=headers)
                return
            except BufferError:  # the local queue is full: serve delivery reports, retry
                producer.poll(0.05)
            except KafkaException as exc:  # e.g. larger than message.max.bytes
                err = exc.args[0]
                raise ProduceError(err.str(), group=self.group, produce_topic=topic, produce_partition=partition,
                                   key=key, record=_as_dict(record), code=err.code()) from exc

    def _produce_batch(self, topic: str, partition: int, records: list[dict[str, Any]],
                       on_delivery: Callable[[Any, Any], None] | None) -> None:
        """Produce ``records`` to one partition, in order: runs without headers in one call
        each, records with headers one by one (batch produce cannot carry headers). A
        record's own ``"callback"`` takes the place of ``on_delivery`` for it.

        With ``on_delivery`` (a report per record) a run goes through confluent-kafka's
        ``produce_batch``, the partition passed per call (2.16 ignores a ``partition``
        inside the record dicts). Without it, only a run's last record may carry a
        callback: the rest goes through :class:`goka._core.produce.DirectProducer`, the
        last record through ``produce``."""
        if headerless(records):  # the common case: one run, no look at each record here
            self._produce_run(topic, partition, records, on_delivery)
            return
        run: list[dict[str, Any]] = []
        for record in records:
            if "headers" in record:
                if run:
                    self._produce_run(topic, partition, run, on_delivery)
                    run = []
                self._produce(topic, record["value"], record["key"], partition, record["headers"],
                              record.get("callback", on_delivery), record)
            else:
                run.append(record)
        if run:
            self._produce_run(topic, partition, run, on_delivery)

    def _produce_run(self, topic: str, partition: int, run: list[dict[str, Any]],
                     on_delivery: Callable[[Any, Any], None] | None) -> None:
        producer = self.producer
        while len(producer) + len(run) > QUEUE_ROOM:  # keep clear of "queue full": order matters
            producer.poll(0.05)
        if on_delivery is None:  # one report per partition: only the last record may carry it
            last = run[-1] if "callback" in run[-1] else None
            body = run[:-1] if last is not None else run
            if body and self._direct.produce(topic, partition, body) != len(body):
                self._requeue(topic, partition, body, None)
            if last is not None:
                self._produce(topic, last["value"], last["key"], partition, None, last["callback"],
                              last)
            return
        run = [r if type(r) is dict else dict(r) for r in run]  # confluent-kafka takes dicts only
        try:
            queued = producer.produce_batch(topic, run, partition=partition, on_delivery=on_delivery)
        except BufferError:
            queued = 0
            for record in run:
                record["_error"] = _QUEUE_FULL
        if queued != len(run):
            self._requeue(topic, partition, run, on_delivery)

    def _requeue(self, topic: str, partition: int, run: list[dict[str, Any]],
                 on_delivery: Callable[[Any, Any], None] | None) -> None:
        """Produce, in order and one by one, the records of ``run`` the local queue did not
        take (rare, see QUEUE_ROOM); any other refusal fails the processor."""
        for record in run:
            error = record.pop("_error", None)
            if error is None:
                continue
            code = error if isinstance(error, int) else error.code()
            if code != _QUEUE_FULL:
                raise ProduceError(KafkaError(code).str(), group=self.group, produce_topic=topic,
                                   produce_partition=partition, key=record["key"], record=_as_dict(record),
                                   code=code)
            self._produce(topic, record["value"], record["key"], partition, None,
                          record.get("callback", on_delivery), record)

    def _partitions_of(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            count = self._partition_counts[topic] = len(self.topics.partitions(topic))
        return count

    def _on_lost(self, consumer: Any, lost: list[Any]) -> None:
        self._on_revoke(consumer, lost, lost=True)

    def _on_revoke(self, consumer: Any, revoked: list[Any], lost: bool = False) -> None:
        """Finish, acknowledge and commit (synchronously: a broker accepts a commit of the
        current generation until the revocation completes) everything of the revoked
        partitions, then release them."""
        parts = sorted({tp.partition for tp in revoked})
        log.info("group %s: releasing partitions %s", self.group, parts)
        if self.state != "stopping":  # a stopping processor drained just before closing
            self._drain()
        self._commit(sync=True)
        for tp in revoked:  # what is still queued for them is dropped, as by consume()
            self._queues.remove(tp.topic, tp.partition)
        own: list[PartitionTable] = []
        for p in parts:
            pp = self.partitions.pop(p, None)
            if pp is None:
                continue
            if not lost:
                for topic, off in pp.committable.items():
                    if off > pp.committed.get(topic, -1):
                        self._refused[(topic, p)] = off
            own.extend(self._table(t, p) for t in self._own_topics())
        if self._follower is not None:
            joins = [self._tables[(t, p)] for t in self.graph.joins for p in parts if (t, p) in self._tables]
            if self.proc.hot_standby:
                self._follower.add(own)  # back to standby
            else:
                self._follower.remove(joins)
        if not self.proc.hot_standby:
            for table in own:
                table.state = "idle"

    # -- processing ------------------------------------------------------------------------
    def _process(self, msgs: list[Any]) -> None:
        started = time.perf_counter()
        process_batch(msgs, self.partitions, self._consumer_error)
        self.latency.observe((time.perf_counter() - started) / len(msgs), len(msgs))

    def _consumer_error(self, err: Any) -> None:
        """A consumer error event: one no retry cures (see :mod:`goka.runtime.group_errors`)
        stops the processor with a :class:`GroupError`; librdkafka retries the rest, which
        are logged and kept as ``stats()["last_error"]``."""
        failure = group_error(self.group, err)
        if failure is not None:
            raise failure
        last = self.last_error
        count = last["count"] + 1 if last is not None and last["code"] == err.name() else 1
        self.last_error = {"code": err.name(), "message": err.str(), "time": time.time(), "count": count}
        log.warning("group %s: consumer error (%s, retrying): %s", self.group, err.name(), err.str())

    def _advance(self) -> None:
        if self.graph.timer is not None:  # between batches: due timers fire on this thread
            for pp in self.partitions.values():
                pp.fire_timers()
        if self.graph.windows:  # between batches: windows the stream time passed close
            for pp in self.partitions.values():
                pp.close_windows()
        for pp in self.partitions.values():
            pp.advance()
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL:
            self._commit(sync=False)
            self._refresh_watermarks()

    def _refresh_watermarks(self) -> None:
        """Note each input partition's high watermark (as last fetched) for lag in stats();
        the consumer is only ever touched from this thread."""
        for p, pp in self.partitions.items():
            for topic in pp.hwm:
                try:
                    high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1]
                except Exception:  # nothing fetched yet
                    continue
                if high is not None and high >= 0:
                    pp.hwm[topic] = high

    def _commit(self, *, sync: bool) -> None:
        """Commit every acknowledged offset not yet confirmed as committed. A failed commit
        is retried at the next interval (confirmation comes from ``on_commit``)."""
        self._last_commit = time.monotonic()
        offsets = [TopicPartition(topic, p, off) for p, pp in self.partitions.items()
                   for topic, off in pp.committable.items() if off > pp.committed.get(topic, -1)]
        if not offsets:
            return
        try:
            if sync:
                done = self.consumer.commit(offsets=offsets, asynchronous=False)
                self._on_commit(None, done)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=True)
        except Exception as exc:  # retried at the next interval; at worst replayed after a restart
            log.warning("group %s: commit failed: %s", self.group, exc)

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        if err is not None:
            log.warning("group %s: commit failed: %s", self.group, err)
        else:
            for tp in partitions or ():
                pp = self.partitions.get(tp.partition)
                if pp is not None and tp.error is None and tp.offset > pp.committed.get(tp.topic, -1):
                    pp.committed[tp.topic] = tp.offset
        user = self.proc.consumer_config.get("on_commit")
        if user is not None:
            user(err, partitions)

    def _drain(self) -> None:
        """Wait until everything produced so far is acknowledged and written."""
        if self.producer is None:
            return
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while True:
            for pp in self.partitions.values():
                pp.end_batch()  # hand over what the current batch produced
            unacknowledged = self.producer.flush(1.0)
            for pp in self.partitions.values():
                pp.advance()
            if all(pp.in_flight() == 0 for pp in self.partitions.values()):
                return
            if self._error is not None and unacknowledged == 0:
                return  # failing: what was produced is settled; don't wait for deferred commits
            if time.monotonic() >= deadline:
                log.error("group %s: records still unacknowledged after %.0f s", self.group, FLUSH_TIMEOUT)
                return
            time.sleep(0.01)  # deferred commits outstanding: give them time

    def _run_visits(self) -> None:
        with self._visit_lock:
            visits, self._visits = self._visits, []
        for name, meta, fut in visits:
            try:
                count = 0
                for pp in list(self.partitions.values()):
                    count += pp.visit(name, meta)
                    pp.end_batch()
                self._drain()
                if self._error is not None:
                    fut.set_exception(VisitAbortedError(f"visit {name!r} aborted: {self._error}"))
                else:
                    fut.set_result(count)
            except BaseException as exc:
                fut.set_exception(exc)
                raise

    def _shutdown(self) -> None:
        self.state = "stopping"
        try:
            if self.consumer is not None:
                if self._error is None or self.partitions:
                    self._drain()
                    self._commit(sync=True)
                if self._queues is not None:
                    self._queues.close()  # before the consumer closes (rdkafka.h)
                self.consumer.close()
            if self.producer is not None:
                self.producer.flush(FLUSH_TIMEOUT)
        except Exception as exc:
            log.exception("group %s: error while stopping", self.group)
            if self._error is None:
                self._error = exc
        finally:
            with self._visit_lock:
                for _, _, fut in self._visits:
                    fut.set_exception(VisitAbortedError("processor stopped"))
                self._visits.clear()
            for reader in (self._recovery, self._follower):
                if reader is not None:
                    reader.stop()
            for view in self.lookups.values():
                try:
                    view.stop()
                except Exception:
                    log.exception("group %s: stopping lookup view failed", self.group)
            self._tables.clear()  # (stats() of a stopped processor must not read closed storage)
            for storage in self._storages.values():
                storage.close()
            self._storages.clear()
            self.partitions.clear()
            self.topics.close()
            # librdkafka destroys a client with its last reference
            self.consumer = self.producer = self._direct = self._recovery = self._follower = self._queues = None
            self.state = "stopped"  # waiters see it: wait_recovered() is False unless recovered
