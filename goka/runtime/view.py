"""The Kafka runtime behind :class:`goka.View`: every partition of a table, followed forever."""
from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from goka._kafka.admin import TopicManager
from goka.errors import CodecError, NotRecoveredError, ProcessorStoppedError
from goka.keys import key_bytes
from goka.runtime.table import PartitionTable, TableReader
from goka.storage import default_path
from goka.storage.lmdb import LMDB

if TYPE_CHECKING:
    from goka.view import View

__all__ = ["KafkaView"]


class KafkaView:
    """Backend of :class:`goka.View` on a Kafka cluster."""

    def __init__(self, view: View, brokers: Any) -> None:
        self.view = view
        self.table = view.table
        self.codec = view.codec
        self.hasher = view.hasher
        self.brokers = brokers
        with TopicManager.for_brokers(brokers) as topics:
            self.num_partitions = len(topics.partitions(view.table))
        builder = view.storage if view.storage is not None else LMDB(view.path or default_path("view", view.table))
        self.tables = [PartitionTable(view.table, p, builder.open(view.table, p))
                       for p in range(self.num_partitions)]
        self.reader: TableReader | None = None
        self._stopped = threading.Event()
        self._started = False

    @property
    def state(self) -> str:
        """``idle``, ``recovering``, ``running``, ``connecting`` (brokers lost; values
        are still served), ``failed`` (lost with ``auto_reconnect=False``) or ``stopped``."""
        if self._stopped.is_set():
            return "stopped"
        if not self._started:
            return "idle"
        reader = self.reader
        if reader is not None and reader.error is not None:
            return "failed"
        if reader is not None and not reader.connected:
            return "connecting"
        return "running" if self.recovered() else "recovering"

    def start(self) -> None:
        if self._started:
            raise ProcessorStoppedError(f"view of {self.table!r} was already started; create a new one")
        if self._stopped.is_set():
            raise ProcessorStoppedError(f"view of {self.table!r} was stopped; create a new one")
        self._started = True
        self.reader = TableReader(self.brokers, client_id=f"goka-view-{self.table}", follow=True,
                                  fail_on_error=not self.view.auto_reconnect,
                                  consumer_config=self.view.consumer_config or None)
        self.reader.start()
        self.reader.add(self.tables)

    def run(self) -> None:
        self.start()
        assert self.reader is not None
        while not self._stopped.wait(0.1):
            if self.reader.error is not None:
                self.stop()
                raise self.reader.error

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.reader is not None:
            self.reader.stop()
        for table in self.tables:
            table.storage.close()

    def wait_recovered(self, timeout: float | None = None) -> bool:
        if self.reader is None:
            if self._stopped.is_set():
                raise ProcessorStoppedError(f"view of {self.table!r} was stopped before it started")
            raise NotRecoveredError(f"view of {self.table!r} is not started; call start() or run() first")
        return self.reader.wait_recovered(self.tables, timeout)

    def recovered(self) -> bool:
        return self._started and all(t.recovered.is_set() for t in self.tables)

    def _check(self) -> None:
        if self._stopped.is_set():
            raise ProcessorStoppedError(f"view of {self.table!r} is stopped")
        if not self._started:
            raise NotRecoveredError(f"view of {self.table!r} is not started; call start() or run() first")

    def _table_of(self, key: str | bytes) -> tuple[bytes, PartitionTable]:
        """``key`` as bytes and its partition's table, checked for being readable."""
        self._check()
        kbytes = key.encode("utf-8", "surrogateescape") if type(key) is str else key_bytes(key, "View key")
        table = self.tables[self.hasher(kbytes, self.num_partitions)]
        if not table.recovered.is_set() and not self.view.stale_reads:
            raise self._recovering([table])
        return kbytes, table

    def _recovering(self, tables: list[PartitionTable]) -> NotRecoveredError:
        parts = [t.partition for t in tables if not t.recovered.is_set()]
        return NotRecoveredError(
            f"view of {self.table!r} is recovering (partitions {parts} not yet caught up); "
            "wait_recovered() first, or create the view with stale_reads=True to read local values")

    def _decode(self, key: str | bytes, data: bytes) -> Any:
        try:
            return self.codec.decode(data)
        except Exception as exc:
            raise CodecError(f"cannot decode table value: {exc}", codec=self.codec, topic=self.table,
                             key=key) from exc

    def get(self, key: str | bytes) -> Any:
        kbytes, table = self._table_of(key)
        data = table.storage.get(kbytes)
        return None if data is None else self._decode(key, data)

    def has(self, key: str | bytes) -> bool:
        kbytes, table = self._table_of(key)
        return table.storage.has(kbytes)

    def items(self, prefix: str | bytes | None = None, start: str | bytes | None = None,
              end: str | bytes | None = None) -> Iterator[tuple[str, Any]]:
        self._check()
        if not self.view.stale_reads and not all(t.recovered.is_set() for t in self.tables):
            raise self._recovering(self.tables)

        def enc(s: str | bytes | None, what: str) -> bytes | None:
            return None if s is None else key_bytes(s, f"View.items {what}")

        bounds = enc(prefix, "prefix"), enc(start, "start"), enc(end, "end")
        return self._items(bounds)

    def _items(self, bounds: tuple[bytes | None, bytes | None, bytes | None]) -> Iterator[tuple[str, Any]]:
        merged = heapq.merge(*(t.storage.items(*bounds) for t in self.tables))
        for k, v in merged:
            key = k.decode("utf-8", "surrogateescape")
            yield key, self._decode(key, v)
