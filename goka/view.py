"""``goka.View``: a read-only local replica of a table (all partitions)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any

from goka.hash import Hasher, check_hasher
from goka.hash import goka as goka_hash
from goka.window import TimeWindow, WindowSpec

__all__ = ["View"]


class View:
    """Consumes every partition of ``table`` into local storage and serves reads.

    ``start()`` recovers in a background thread and then follows the table;
    ``wait_recovered()`` blocks until every partition reached its high watermark once;
    ``run()`` does the same in the calling thread until ``stop()``; as a context manager
    it starts on enter and stops on exit.

    :attr:`state` is ``"idle"`` (not started), ``"recovering"`` (reading the table up
    to its high watermarks), ``"running"`` (recovered, following new records),
    ``"connecting"`` (the brokers were lost; the values held are still served),
    ``"failed"`` (lost with ``auto_reconnect=False``) or ``"stopped"``.

    Reads (``get``, ``has``, ``items``) raise ``NotRecoveredError`` before ``start()`` and,
    unless ``stale_reads=True``, while the partitions they read are still recovering (a
    key that exists could otherwise read as missing); once recovered, a partition keeps
    serving its values, also while the brokers are unreachable (state ``connecting``).
    After ``stop()`` they raise ``ProcessorStoppedError``. A view runs once: ``start()``
    or ``run()`` after ``start()`` or ``stop()`` raises ``ProcessorStoppedError``;
    ``stop()`` again (or before ``start()``) only closes the storage.

    Parameters
    ----------
    brokers : list of str, str, goka.Kafka, goka.EmbeddedCluster or goka.tester.Tester
        A list of ``host:port``, a comma-separated string, a :class:`goka.Kafka`
        (connection settings for every client), an EmbeddedCluster or a tester.
    table : str
        The table topic, e.g. ``"clicks-table"`` (:func:`goka.group_table`).
    codec : goka.codec.Codec
        Decodes the table's values, e.g. ``codec.Int64()``.
    path : str, optional
        Directory of the local LMDB copy; default ``<tempdir>/goka-state/view/<table>``.
        Ignored when ``storage`` is given.
    storage : goka.storage.StorageBuilder, optional
        A storage builder instance (``goka.storage.lmdb.LMDB(path)``,
        ``goka.storage.memory.Memory()``, ...); default ``LMDB(path)``.
    auto_reconnect : bool
        ``True`` (default): when the brokers are lost, keep serving and reconnect
        (state ``"connecting"``); ``False``: the view fails (state ``"failed"``) and
        ``run()`` raises.
    consumer_config : dict of str to any, optional
        librdkafka settings of the table reader, applied last.
    stale_reads : bool
        Serve reads during recovery from what is already local (possibly old or
        missing values) instead of raising ``NotRecoveredError``.
    hasher : callable
        ``hasher(key, partitions) -> partition`` for ``get``/``has``: the partitioner
        the table's writers use (default :func:`goka.hash.goka`, Goka's;
        :func:`goka.hash.murmur2` for a table written by the Java client or Kafka
        Streams).
    window : goka.Tumbling, goka.Hopping or goka.Session, optional
        Read a window table (:func:`goka.window_table`, written by a :class:`goka.Window`
        edge with this spec): reads are :meth:`window` and :meth:`windows`, and ``get``,
        ``has`` and ``items`` raise ``TypeError``. Without it, :meth:`window` and
        :meth:`windows` raise ``TypeError``.
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
        window: WindowSpec | None = None,
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
        self.window_spec = window
        if window is not None:
            from goka.runtime.window_view import check_window_spec

            check_window_spec(window, table)
        factory = getattr(brokers, "_view_backend", None)
        if factory is not None:
            self._backend = factory(self)
        else:
            from goka.runtime.view import KafkaView

            self._backend = KafkaView(self, brokers)
        if window is not None:
            from goka.runtime.window_view import WindowReader

            # a wrapper, so that a plain view's reads pay nothing for windows
            self._backend = WindowReader(self._backend, table, window, codec)

    @property
    def state(self) -> str:
        """``"idle"``, ``"recovering"``, ``"running"``, ``"connecting"``, ``"failed"`` or ``"stopped"``
        (see the class docstring)."""
        return str(self._backend.state)

    def start(self) -> None:
        """Recover and follow the table in a background thread."""
        self._backend.start()

    def stop(self) -> None:
        """Stop following and close the local storage."""
        self._backend.stop()

    def run(self) -> None:
        """Recover and follow the table in this thread until :meth:`stop`."""
        self._backend.run()

    def wait_recovered(self, timeout: float | None = None) -> bool:
        """Block until every partition reached its high watermark once; ``False`` on timeout.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most; ``None`` waits until recovered or stopped.
        """
        return bool(self._backend.wait_recovered(timeout))

    def recovered(self) -> bool:
        """Whether every partition reached its high watermark once."""
        return bool(self._backend.recovered())

    def get(self, key: str | bytes) -> Any:
        """The decoded value of ``key``, or ``None``.

        Parameters
        ----------
        key : str or bytes
            The key (any other type raises ``TypeError``); its partition is found with
            the view's ``hasher``.

        Raises
        ------
        NotRecoveredError
            Before ``start()``, or while ``key``'s partition is recovering (unless
            ``stale_reads=True``).
        """
        return self._backend.get(key)

    def has(self, key: str | bytes) -> bool:
        """Whether ``key`` has a value; raises as :meth:`get`.

        Parameters
        ----------
        key : str or bytes
            The key; its partition is found with the view's ``hasher``.
        """
        return bool(self._backend.has(key))

    def items(self, prefix: str | bytes | None = None, start: str | bytes | None = None,
              end: str | bytes | None = None) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` pairs of all partitions in key-byte order.

        Raises as :meth:`get` (checked when called, not when iterated) while any partition
        is recovering.

        Parameters
        ----------
        prefix : str or bytes, optional
            Only keys starting with it.
        start : str or bytes, optional
            Only keys ``>= start`` (byte order).
        end : str or bytes, optional
            Only keys ``< end`` (byte order).
        """
        return self._backend.items(prefix, start, end)  # type: ignore[no-any-return]

    def _windowed(self, what: str) -> Any:
        if self.window_spec is None:
            raise TypeError(f"View({self.table!r}) is not windowed: {what} reads a window table; "
                            f"create the view with window=<the edge's spec> (goka.Tumbling, "
                            f"goka.Hopping or goka.Session), or use get/has/items")
        return self._backend

    def window(self, key: str | bytes, at: datetime | int) -> tuple[TimeWindow, Any] | None:
        """The window of ``key`` that contains ``at`` and its decoded value, or ``None``.

        Of several stored windows that contain ``at`` (hopping windows) the one with the
        latest start; for sessions, the session that contains ``at``. Only on a view created
        with ``window=``.

        Parameters
        ----------
        key : str or bytes
            The message key (any other type raises ``TypeError``); its partition is found
            with the view's ``hasher``.
        at : datetime.datetime or int
            A point in time: a timezone-aware datetime or epoch milliseconds (other types
            raise ``TypeError``, a naive datetime ``ValueError``).

        Returns
        -------
        tuple of (goka.TimeWindow, any) or None

        Raises
        ------
        TypeError
            On a view created without ``window=``.
        NotRecoveredError
            As :meth:`get`.
        """
        return self._windowed("window(key, at)").window(key, at)  # type: ignore[no-any-return]

    def windows(self, key: str | bytes, start: datetime | int | None = None,
                end: datetime | int | None = None) -> list[tuple[TimeWindow, Any]]:
        """``(window, value)`` of every stored window of ``key`` that overlaps
        ``[start, end)``, oldest first. Only on a view created with ``window=``.

        Parameters
        ----------
        key : str or bytes
            The message key, as for :meth:`window`.
        start : datetime.datetime or int, optional
            Only windows ending after it (aware datetime or epoch ms; ``None``: no bound).
        end : datetime.datetime or int, optional
            Only windows starting before it (``None``: no bound); ``ValueError`` if before
            ``start``.

        Raises
        ------
        TypeError
            On a view created without ``window=``.
        NotRecoveredError
            As :meth:`get`.
        """
        return self._windowed("windows(key, start, end)").windows(key, start, end)  # type: ignore[no-any-return]

    def __enter__(self) -> View:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<goka.View table={self.table!r} state={self.state}>"
