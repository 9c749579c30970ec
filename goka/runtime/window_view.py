"""Reading a window topic: the backend of ``goka.View(..., window=spec)``.

A windowed view stores the window topic ``<group>-<name>`` as it is, keyed by the record
key (message key + window start + end, :mod:`goka.window`), in the same partition tables as
any view; only the reads differ. :class:`WindowReader` wraps the view's backend (Kafka or
tester): lifecycle and stats pass through, ``get``/``has``/``items`` raise ``TypeError``
(a record key is not a message key), and :meth:`WindowReader.window` /
:meth:`WindowReader.windows` read the windows of one message key. A plain view keeps its
backend unwrapped, so its reads pay nothing for this.

The windows of a key are found with one prefix scan of its partition's storage, keeping the
keys exactly 16 bytes longer than the message key (``b"a"`` is a prefix of ``b"ab"``) and
skipping the stream-time marker (``start >= end``); a tombstone deletes the record, so none
is stored. For fixed windows (tumbling, hopping) :meth:`WindowReader.window` looks the
candidate windows up directly instead of scanning.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from goka.errors import CodecError
from goka.keys import key_bytes
from goka.window import SUFFIX_LEN, Hopping, TimeWindow, WindowSpec, parse_window_key, to_ms, window_key

__all__ = ["WindowReader", "check_window_spec", "time_ms", "scan_windows"]


def check_window_spec(spec: object, table: str) -> WindowSpec:
    """``spec`` if it is a window spec, else ``TypeError`` naming the view's table."""
    if not isinstance(spec, WindowSpec):
        raise TypeError(f"View({table!r}): window must be goka.Tumbling, goka.Hopping or goka.Session "
                        f"(the spec of the window edge that writes the table), got {spec!r}")
    return spec


def time_ms(value: object, what: str) -> int:
    """``value`` (an aware datetime or int epoch ms) in epoch ms; ``TypeError`` for other
    types (a timedelta too: a point in time is asked for), ``ValueError`` for a naive datetime."""
    if isinstance(value, bool) or not isinstance(value, (datetime, int)):
        raise TypeError(f"{what} must be a timezone-aware datetime or int epoch milliseconds, "
                        f"got {type(value).__name__} ({value!r:.40})")
    return to_ms(value, what)


def scan_windows(storage: Any, kbytes: bytes) -> Iterator[tuple[TimeWindow, bytes]]:
    """``(window, encoded value)`` of every window of message key ``kbytes`` in ``storage``
    (one partition of a window table), in storage order: a prefix scan keeping the keys
    exactly :data:`~goka.window.SUFFIX_LEN` bytes longer, without the stream-time marker."""
    size = len(kbytes) + SUFFIX_LEN
    for k, v in storage.items(kbytes or None):
        if len(k) != size:
            continue  # another key with this one as prefix
        _, start, end = parse_window_key(k)
        if start < end:  # not the stream-time marker
            yield TimeWindow(start, end), v


class WindowReader:
    """The backend of a windowed :class:`goka.View` (see the module docstring).

    Parameters
    ----------
    backend : any
        The view's plain backend (``KafkaView`` or the tester's view).
    table : str
        The window topic.
    spec : goka.window.WindowSpec
        The spec of the window edge that writes the topic.
    codec : goka.codec.Codec
        Decodes the window values.
    """

    def __init__(self, backend: Any, table: str, spec: WindowSpec, codec: Any) -> None:
        self._inner = backend
        self.table = table
        self.spec = spec
        self.codec = codec

    def __getattr__(self, name: str) -> Any:
        # lifecycle, state, tables (monitor), ...: the plain backend's
        return getattr(self._inner, name)

    @property
    def state(self) -> str:
        return str(self._inner.state)

    def start(self) -> None:
        self._inner.start()

    def stop(self) -> None:
        self._inner.stop()

    def run(self) -> None:
        self._inner.run()

    def wait_recovered(self, timeout: float | None = None) -> bool:
        return bool(self._inner.wait_recovered(timeout))

    def recovered(self) -> bool:
        return bool(self._inner.recovered())

    # -- plain reads: not on a window table ---------------------------------------------
    def _not_plain(self, what: str) -> TypeError:
        return TypeError(f"View({self.table!r}) reads a window table ({self.spec!r}): {what} has no "
                         f"meaning for its record keys; use view.window(key, at) or "
                         f"view.windows(key, start, end)")

    def get(self, key: str | bytes) -> Any:
        raise self._not_plain("get")

    def has(self, key: str | bytes) -> bool:
        raise self._not_plain("has")

    def items(self, *args: Any) -> Iterator[tuple[str, Any]]:
        raise self._not_plain("items")

    # -- window reads -------------------------------------------------------------------
    def _storage_of(self, key: str | bytes) -> tuple[bytes, Any]:
        """``key`` as bytes and the storage of its partition, checked for being readable
        (``NotRecoveredError`` / ``ProcessorStoppedError`` as for ``get``)."""
        table_of = getattr(self._inner, "_table_of", None)
        if table_of is not None:  # KafkaView: hashes the message key, checks recovery
            kbytes, table = table_of(key)
            return kbytes, table.storage
        return key_bytes(key, "View.window key"), self._inner.storage  # the tester's one storage

    def _decode(self, key: str | bytes, window: TimeWindow, data: bytes) -> Any:
        try:
            return self.codec.decode(data)
        except Exception as exc:
            raise CodecError(f"cannot decode the value of window {window!r}: {exc}", codec=self.codec,
                             topic=self.table, key=key) from exc

    def window(self, key: str | bytes, at: datetime | int) -> tuple[TimeWindow, Any] | None:
        at_ms = time_ms(at, "View.window at")
        kbytes, storage = self._storage_of(key)
        spec = self.spec
        if isinstance(spec, Hopping):
            for w in reversed(spec.windows_at(at_ms)):  # the latest start first
                data = storage.get(window_key(kbytes, w.start_ms, w.end_ms))
                if data is not None:
                    return w, self._decode(key, w, data)
            return None
        found: tuple[TimeWindow, bytes] | None = None
        for w, data in scan_windows(storage, kbytes):
            if w.start_ms <= at_ms < w.end_ms and (found is None or w.start_ms > found[0].start_ms):
                found = w, data
        return None if found is None else (found[0], self._decode(key, found[0], found[1]))

    def windows(self, key: str | bytes, start: datetime | int | None = None,
                end: datetime | int | None = None) -> list[tuple[TimeWindow, Any]]:
        lo = None if start is None else time_ms(start, "View.windows start")
        hi = None if end is None else time_ms(end, "View.windows end")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"View.windows: start ({start!r}) is after end ({end!r})")
        kbytes, storage = self._storage_of(key)
        found = [(w, data) for w, data in scan_windows(storage, kbytes)
                 if (hi is None or w.start_ms < hi) and (lo is None or w.end_ms > lo)]
        # storage orders the starts as unsigned bytes (a start before 1970 after the others)
        found.sort(key=lambda wd: (wd[0].start_ms, wd[0].end_ms))
        return [(w, self._decode(key, w, data)) for w, data in found]
