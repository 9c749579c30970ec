"""``goka.View``: a read-only local replica of a table (all partitions)."""
from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from goka.hash import Hasher, check_hasher
from goka.hash import goka as goka_hash

__all__ = ["View"]


class View:
    """Consumes every partition of ``table`` into local storage and serves reads.

    ``start()`` recovers in a background thread and then follows the table;
    ``wait_recovered()`` blocks until every partition reached its high watermark once.

    ``brokers`` is a list of ``host:port``, a comma-separated string, a :class:`goka.Kafka`
    (connection settings for every client), an EmbeddedCluster or a tester. ``hasher``
    maps a key to its partition for ``get``/``has``: the partitioner the table's writers
    use (default :func:`goka.hash.goka`, Goka's; :func:`goka.hash.murmur2` for a table
    written by the Java client or Kafka Streams).
    """

    def __init__(
        self,
        brokers: Any,
        table: str,
        codec: Any,
        *,
        path: str | None = None,
        storage: Any = None,
        auto_reconnect: bool = True,
        consumer_config: dict[str, Any] | None = None,
        hasher: Hasher = goka_hash,
    ) -> None:
        if not isinstance(table, str) or not table:
            raise ValueError(f"table must be a non-empty topic name, got {table!r}")
        self.hasher = check_hasher(hasher, f"View({table!r})")
        self.table = table
        self.codec = codec
        self.path = path
        self.storage = storage
        self.auto_reconnect = auto_reconnect
        self.consumer_config = dict(consumer_config or {})
        factory = getattr(brokers, "_view_backend", None)
        if factory is not None:
            self._backend = factory(self)
        else:
            from goka.runtime.view import KafkaView

            self._backend = KafkaView(self, brokers)

    @property
    def state(self) -> str:
        return str(self._backend.state)

    def start(self) -> None:
        self._backend.start()

    def stop(self) -> None:
        self._backend.stop()

    def run(self) -> None:
        self._backend.run()

    def wait_recovered(self, timeout: float | None = None) -> bool:
        return bool(self._backend.wait_recovered(timeout))

    def recovered(self) -> bool:
        return bool(self._backend.recovered())

    def get(self, key: str) -> Any:
        """The decoded value of ``key``, or ``None``."""
        return self._backend.get(key)

    def has(self, key: str) -> bool:
        return bool(self._backend.has(key))

    def items(self, prefix: str | None = None, start: str | None = None,
              end: str | None = None) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` pairs in key-byte order: all, by ``prefix``, or in ``[start, end)``."""
        return self._backend.items(prefix, start, end)  # type: ignore[no-any-return]

    def __enter__(self) -> View:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<goka.View table={self.table!r} state={self.state}>"
