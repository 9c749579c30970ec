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

    Reads (``get``, ``has``, ``items``) raise ``NotRecoveredError`` before ``start()`` and,
    unless ``stale_reads=True``, while the partitions they read are still recovering (a
    key that exists could otherwise read as missing); once recovered, a partition keeps
    serving its values, also while the brokers are unreachable (state ``connecting``).
    After ``stop()`` they raise ``ProcessorStoppedError``. A view runs once: ``start()``
    or ``run()`` after ``start()`` or ``stop()`` raises ``ProcessorStoppedError``;
    ``stop()`` again (or before ``start()``) only closes the storage.

    :param brokers: a list of ``host:port``, a comma-separated string, a :class:`goka.Kafka`
        (connection settings for every client), an EmbeddedCluster or a ``Tester``.
    :param table: the table topic (e.g. ``goka.group_table("group")``).
    :param codec: decodes the table's values.
    :param path: directory of the local LMDB storage (default under ``goka.storage.default_path``).
    :param storage: a storage builder instead of LMDB at ``path``.
    :param auto_reconnect: keep retrying when the brokers are lost (else the view fails).
    :param consumer_config: librdkafka settings for the view's consumer, applied last.
    :param stale_reads: serve reads during recovery from what is already local
        (possibly old or missing values) instead of raising ``NotRecoveredError``.
    :param hasher: maps a key to its partition for ``get``/``has``: the partitioner the
        table's writers use (default :func:`goka.hash.goka`, Goka's;
        :func:`goka.hash.murmur2` for a table written by the Java client or Kafka Streams).
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
        stale_reads: bool = False,
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
        self.stale_reads = stale_reads
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

    def get(self, key: str | bytes) -> Any:
        """The decoded value of ``key`` (``str`` or ``bytes``, else ``TypeError``), or ``None``.

        :raises NotRecoveredError: before ``start()``, or while ``key``'s partition is
            recovering (unless ``stale_reads=True``).
        """
        return self._backend.get(key)

    def has(self, key: str | bytes) -> bool:
        """Whether ``key`` has a value; raises as :meth:`get`."""
        return bool(self._backend.has(key))

    def items(self, prefix: str | bytes | None = None, start: str | bytes | None = None,
              end: str | bytes | None = None) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` pairs in key-byte order: all, by ``prefix``, or in ``[start, end)``.

        Raises as :meth:`get` (checked when called, not when iterated) while any partition
        is recovering.
        """
        return self._backend.items(prefix, start, end)  # type: ignore[no-any-return]

    def __enter__(self) -> View:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<goka.View table={self.table!r} state={self.state}>"
