"""Per-partition processing step (pure twin, the reference).

One :class:`Dispatcher` serves one partition of a processor group. For each input
message it decodes the value, calls the user's callback with a reused
:class:`Context`, and hands what the callback produced to the runtime:

- table writes go to ``table.set(key, data)`` (local state, visible to the next
  ``ctx.value()``) and, as a changelog record, to ``sink.emit(table_topic, ...)``;
- emits and loopbacks go to ``sink.emit(topic, key, data, headers)``;
- ``ctx.defer_commit()`` returns ``sink.defer()``.

The runtime (Kafka partition processor or the tester) brackets each message to learn
which records, table writes and deferred commits belong to it: it commits them when
:meth:`Dispatcher.process` returns and discards them when it raises (a message's effects
are all or nothing), then applies the edge's error policy. Every runtime uses this step,
so processing semantics are identical everywhere. A :class:`goka.ProcessingError` raised
for ``ctx.fail`` has ``by_fail`` set: it stops the processor whatever the policy.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from goka._core.timers import due_ms
from goka._core.window_handle import WindowHandle
from goka._core.windows import window_handles
from goka.errors import CodecError, ProcessingError, UndeclaredTopicError
from goka.graph import GroupGraph
from goka.options import NilHandling

__all__ = ["Context", "Dispatcher", "Sink", "TableAccess", "Headers"]

#: headers as given to emits: a mapping of str to bytes (str values are UTF-8 encoded)
Headers = Mapping[str, "bytes | str"]
#: raw record headers as confluent-kafka delivers them, or a function returning them (called
#: only if the callback reads ``ctx.headers``)
RawHeaders = "list[tuple[str, bytes | None]] | None"

_EPOCH = datetime.fromtimestamp(0, timezone.utc)


class Sink(Protocol):
    """Where the records a callback produces go (the runtime's producer)."""

    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Headers | None) -> None: ...

    def defer(self) -> Callable[..., None]: ...


class TableAccess(Protocol):
    """The local group-table partition as the dispatcher sees it."""

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes | None) -> None: ...


def _encode_key(key: str | bytes) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8", "surrogateescape")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"key must be str or bytes, got {type(key).__name__}")


class Context:
    """What a callback sees of the message it processes and of its group.

    One object per partition, reused for every message: it is valid only during the
    callback. Properties describe the current message; methods read and write the
    group table for the current key, emit to declared outputs, loop back, join and
    look up tables.

    Parameters
    ----------
    dispatcher : Dispatcher
        The partition's dispatcher: goka creates contexts, callbacks receive them.
    """

    __slots__ = ("_d", "_topic", "_kbytes", "_key", "_offset", "_ts", "_raw_headers",
                 "_headers", "_failure")

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._d = dispatcher
        self._topic = ""
        self._kbytes = b""
        self._key: str | None = ""
        self._offset = -1
        self._ts: int | None = None
        self._raw_headers: Any = None
        self._headers: dict[str, bytes] | None = None
        self._failure: BaseException | None = None

    # -- message metadata -------------------------------------------------------------
    @property
    def key(self) -> str:
        """The message key (``""`` for a null key)."""
        key = self._key
        if key is None:
            key = self._key = self._kbytes.decode("utf-8", "surrogateescape")
        return key

    @property
    def topic(self) -> str:
        """The topic the message came from (a visitor's name during ``visit_all``)."""
        return self._topic

    @property
    def partition(self) -> int:
        return self._d.partition

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def group(self) -> str:
        return self._d.group

    @property
    def timestamp(self) -> datetime:
        """The record timestamp as an aware UTC datetime (the epoch if the record has none)."""
        ts = self._ts
        if ts is None or ts < 0:
            return _EPOCH
        return datetime.fromtimestamp(ts / 1000.0, timezone.utc)

    @property
    def headers(self) -> dict[str, bytes]:
        """The record headers; for a repeated header name the last value wins."""
        headers = self._headers
        if headers is None:
            raw = self._raw_headers
            if callable(raw):  # e.g. confluent-kafka's msg.headers: parsed only when read
                raw = raw()
            if raw is None:
                headers = {}
            elif isinstance(raw, Mapping):
                headers = {k: _header_bytes(v) for k, v in raw.items()}
            else:
                headers = {k: _header_bytes(v) for k, v in raw}
            self._headers = headers
        return headers

    # -- group table ------------------------------------------------------------------
    def value(self) -> Any:
        """The group table's value for the current key, or ``None``."""
        d = self._d
        if d.table is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Persist edge: value() needs a group table")
        data = d.table.get(self._kbytes)
        if data is None:
            return None
        try:
            return d.table_codec.decode(data)  # type: ignore[union-attr]
        except CodecError as exc:
            raise exc.located(topic=d.table_topic, partition=d.partition, key=self.key, group=d.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot decode table value: {exc}", codec=d.table_codec, topic=d.table_topic,
                             partition=d.partition, key=self.key, group=d.group) from exc

    def set_value(self, value: Any, headers: Headers | None = None) -> None:
        """Store ``value`` for the current key (locally and in the table topic).

        Parameters
        ----------
        value : any
            Encoded with the Persist codec; ``None`` is refused (use :meth:`delete`).
        headers : mapping of str to bytes or str, optional
            Headers of the table record.
        """
        d = self._d
        if d.table is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Persist edge: set_value() needs a group table")
        if value is None:
            raise ValueError("cannot set a None value; use ctx.delete() to remove the key")
        data = d.encode(d.table_codec, value, d.table_topic, self)
        d.table.set(self._kbytes, data)
        d.sink.emit(d.table_topic, self._kbytes, data, headers)

    def delete(self, headers: Headers | None = None) -> None:
        """Delete the current key from the group table (a tombstone in the table topic).

        Parameters
        ----------
        headers : mapping of str to bytes or str, optional
            Headers of the tombstone.
        """
        d = self._d
        if d.table is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Persist edge: delete() needs a group table")
        d.table.set(self._kbytes, None)
        d.sink.emit(d.table_topic, self._kbytes, None, headers)

    # -- other topics -----------------------------------------------------------------
    def emit(self, topic: str, key: str | bytes, value: Any, headers: Headers | None = None) -> None:
        """Emit ``value`` to the declared output ``topic`` (``None`` emits a tombstone).

        Parameters
        ----------
        topic : str
            A topic declared with :class:`goka.Output`.
        key : str or bytes
            The record key (partitioned with the processor's ``hasher``).
        value : any
            Encoded with the output's codec; ``None`` emits a tombstone.
        headers : mapping of str to bytes or str, optional
            Headers of the produced record.
        """
        d = self._d
        codec = d.outputs.get(topic)
        if codec is None:
            if topic == d.loop_topic:
                hint = "; use ctx.loopback()"
            elif topic == d.table_topic:
                hint = "; use ctx.set_value()"
            else:
                hint = ""
            raise UndeclaredTopicError(
                f"group {d.group!r}: cannot emit to {topic!r}, it is not declared as an Output{hint}"
            )
        data = None if value is None else d.encode(codec, value, topic, self)
        d.sink.emit(topic, _encode_key(key), data, headers)

    def loopback(self, key: str | bytes, value: Any, headers: Headers | None = None) -> None:
        """Send ``value`` to the group's loop topic under ``key`` (processed by the Loop callback).

        Parameters
        ----------
        key : str or bytes
            The key the Loop callback will see (partitioned with the processor's ``hasher``).
        value : any
            Encoded with the Loop codec.
        headers : mapping of str to bytes or str, optional
            Headers of the produced record.
        """
        d = self._d
        if d.loop_codec is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Loop edge: cannot loopback")
        data = d.encode(d.loop_codec, value, d.loop_topic, self)
        d.sink.emit(d.loop_topic, _encode_key(key), data, headers)

    def join(self, table: str) -> Any:
        """The value of the joined (co-partitioned) ``table`` for the current key, or ``None``.

        Parameters
        ----------
        table : str
            A table declared with :class:`goka.Join`.
        """
        d = self._d
        joined = d.joins.get(table)
        if joined is None:
            raise UndeclaredTopicError(f"group {d.group!r}: table {table!r} is not declared as a Join")
        getter, codec = joined
        data = getter(self._kbytes)
        if data is None:
            return None
        try:
            return codec.decode(data)
        except Exception as exc:
            raise CodecError(f"cannot decode joined value: {exc}", codec=codec, topic=table,
                             partition=d.partition, key=self.key, group=d.group) from exc

    def lookup(self, table: str, key: str | bytes) -> Any:
        """The value of ``key`` in the looked-up ``table`` (any partition), or ``None``.

        Parameters
        ----------
        table : str
            A table declared with :class:`goka.Lookup`.
        key : str or bytes
            Any key (its partition is found with the Lookup's ``hasher``).
        """
        d = self._d
        getter = d.lookups.get(table)
        if getter is None:
            raise UndeclaredTopicError(f"group {d.group!r}: table {table!r} is not declared as a Lookup")
        if type(key) is not str and not isinstance(key, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"ctx.lookup({table!r}): key must be str or bytes, got {type(key).__name__}")
        return getter(key)

    # -- flow control -----------------------------------------------------------------
    def fail(self, exc: BaseException | str) -> None:
        """Stop the processor with ``exc``, whatever the error policy (``on_error``); the
        current message is not committed and what it did is discarded.

        Parameters
        ----------
        exc : BaseException or str
            The error the processor stops with (a ``str`` becomes a ``RuntimeError``
            with it as message).
        """
        if not isinstance(exc, BaseException):
            exc = RuntimeError(str(exc))
        self._failure = exc
        raise exc

    def defer_commit(self) -> Callable[..., None]:
        """Delay the commit of this message until the returned ``done(exc=None)`` is called.

        ``done(exc)`` with an exception stops the processor instead.
        """
        return self._d.sink.defer()

    # -- timers -----------------------------------------------------------------------
    def schedule(self, value: Any, *, at: datetime | None = None, delay: timedelta | None = None) -> None:
        """Run the group's ``Timer`` callback with ``(ctx, value)`` for the current key once
        the wall clock passes the due time. One timer per key and due time: scheduling it
        again replaces its value.

        Parameters
        ----------
        value : any
            Handed to the timer callback; encoded with the ``Timer`` edge's codec.
        at : datetime.datetime, optional
            The due time, timezone-aware.
        delay : datetime.timedelta, optional
            The due time as a delay from now (the processor's wall clock; the tester's clock
            in the tester). Give exactly one of ``at`` and ``delay``.
        """
        d = self._d
        timers = d.timers
        if timers is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Timer edge: cannot schedule")
        due = due_ms(timers.clock(), at, delay)
        timers.schedule(self._kbytes, due, d.encode(d.timer_codec, value, timers.topic, self))

    def cancel_timers(self) -> int:
        """Drop the current key's pending timers; returns how many there were."""
        d = self._d
        timers = d.timers
        if timers is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Timer edge: cannot cancel timers")
        return timers.cancel(self._kbytes)  # type: ignore[no-any-return]

    # -- windows ----------------------------------------------------------------------
    def window(self, name: str) -> WindowHandle:
        """The window of the ``Window`` edge ``name`` that contains ``ctx.timestamp``, for the
        current key (a handle with ``start``/``end``, ``value()``, ``set_value(v)``,
        ``delete()`` and ``late``; see :class:`goka._core.windows.WindowHandle`). A hopping
        spec whose advance is shorter than its size puts a record in several windows: use
        :meth:`windows`.

        Parameters
        ----------
        name : str
            The ``Window`` edge's name.
        """
        return window_handles(self._d, name, self._kbytes, self._ts, self._topic, self._offset,  # type: ignore[no-any-return]
                              True)

    def windows(self, name: str) -> list[WindowHandle]:
        """Every window of the ``Window`` edge ``name`` that contains ``ctx.timestamp``, for the
        current key, oldest first (one for tumbling and session windows).

        Parameters
        ----------
        name : str
            The ``Window`` edge's name.
        """
        return window_handles(self._d, name, self._kbytes, self._ts, self._topic, self._offset,  # type: ignore[no-any-return]
                              False)


def _header_bytes(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return bytes(value)  # type: ignore[call-overload,no-any-return]


class Dispatcher:
    """Runs callbacks for one partition of a group (see the module docstring)."""

    __slots__ = ("graph", "group", "partition", "table", "table_codec", "table_topic", "loop_topic",
                 "loop_codec", "outputs", "joins", "lookups", "sink", "nil_handling", "routes", "ctx",
                 "timers", "timer_codec", "windows")

    def __init__(
        self,
        graph: GroupGraph,
        partition: int,
        sink: Sink,
        table: TableAccess | None = None,
        joins: Mapping[str, Callable[[bytes], bytes | None]] | None = None,
        lookups: Mapping[str, Callable[[Any], Any]] | None = None,  # key: str or bytes
        nil_handling: NilHandling = NilHandling.IGNORE,
    ) -> None:
        self.graph = graph
        self.group = graph.group
        self.partition = partition
        self.sink = sink
        self.table_topic = graph.table_topic
        self.loop_topic = graph.loop_topic
        self.table = table if graph.persist is not None else None
        if graph.persist is not None and table is None:
            raise ValueError(f"group {graph.group!r} persists a table: the dispatcher needs table access")
        self.table_codec = graph.persist.codec if graph.persist is not None else None
        self.loop_codec = graph.loop.codec if graph.loop is not None else None
        self.outputs = {t: e.codec for t, e in graph.outputs.items()}
        joins = joins or {}
        missing = set(graph.joins) - set(joins)
        if missing:
            raise ValueError(f"group {graph.group!r}: no getter for joined tables {sorted(missing)}")
        self.joins = {t: (joins[t], e.codec) for t, e in graph.joins.items()}
        lookups = lookups or {}
        missing = set(graph.lookups) - set(lookups)
        if missing:
            raise ValueError(f"group {graph.group!r}: no getter for looked-up tables {sorted(missing)}")
        self.lookups = {t: lookups[t] for t in graph.lookups}
        self.nil_handling = NilHandling(nil_handling)
        self.routes: dict[str, tuple[Any, Callable[[Any, Any], None]]] = {
            i.topic: (i.codec, i.callback) for i in graph.inputs
        }
        if graph.loop is not None:
            self.routes[graph.loop_topic] = (graph.loop.codec, graph.loop.callback)
        self.ctx = Context(self)
        #: the partition's :class:`goka._core.timers.Timers`, set by the runtime (Timer edge)
        self.timers: Any = None
        self.timer_codec = graph.timer.codec if graph.timer is not None else None
        #: the partition's :class:`goka._core.windows.Windows`, set by the runtime (Window edges)
        self.windows: Any = None

    def encode(self, codec: Any, value: Any, topic: str, ctx: Context) -> bytes:
        try:
            data = codec.encode(value)
        except CodecError as exc:
            raise exc.located(topic=topic, partition=self.partition, key=ctx.key, group=self.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot encode {type(value).__name__} value: {exc}", codec=codec, topic=topic,
                             partition=self.partition, key=ctx.key, group=self.group) from exc
        return data  # type: ignore[no-any-return]

    def process(
        self,
        topic: str,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> bool:
        """Process one message. Returns ``False`` if it was dropped (a null value under
        ``NilHandling.IGNORE``) without calling the callback.

        Raises :class:`goka.CodecError` if the value cannot be decoded and
        :class:`goka.ProcessingError` if the callback fails.
        """
        route = self.routes.get(topic)
        if route is None:
            raise ProcessingError(f"group does not consume topic {topic!r}", group=self.group,
                                  topic=topic, partition=self.partition, offset=offset)
        codec, callback = route
        if value is None:
            nil = self.nil_handling
            if nil == NilHandling.IGNORE:
                return False
            msg: Any = None if nil == NilHandling.PROCESS else self._decode(codec, None, topic, offset, key)
        else:
            msg = self._decode(codec, value, topic, offset, key)
        ctx = self.ctx
        ctx._topic = topic
        ctx._kbytes = key if key is not None else b""
        ctx._key = None
        ctx._offset = offset
        ctx._ts = timestamp_ms
        ctx._raw_headers = headers
        ctx._headers = None
        self._call(callback, ctx, msg)
        return True

    def visit(self, name: str, key: bytes, meta: Any) -> None:
        """Run visitor ``name`` for table key ``key`` with ``meta`` as the message."""
        visitor = self.graph.visitors.get(name)
        if visitor is None:
            raise UndeclaredTopicError(f"group {self.group!r} has no visitor {name!r}")
        ctx = self.ctx
        ctx._topic = name
        ctx._kbytes = key
        ctx._key = None
        ctx._offset = 0
        ctx._ts = int(datetime.now(timezone.utc).timestamp() * 1000)
        ctx._raw_headers = None
        ctx._headers = None
        self._call(visitor.callback, ctx, meta)

    def fire(self, key: bytes, data: bytes, due: int) -> None:
        """Run the Timer callback for ``key`` with the decoded ``data``, due at ``due`` (ms)."""
        timer = self.graph.timer
        if timer is None:
            raise UndeclaredTopicError(f"group {self.group!r} has no Timer edge")
        topic = self.graph.timer_topic
        msg = self._decode(timer.codec, data, topic, -1, key)
        ctx = self.ctx
        ctx._topic = topic
        ctx._kbytes = key
        ctx._key = None
        ctx._offset = -1
        ctx._ts = due
        ctx._raw_headers = None
        ctx._headers = None
        self._call(timer.callback, ctx, msg)

    def close(self, topic: str, key: bytes, at: int, callback: Callable[[Any, Any], None], value: Any) -> None:
        """Run ``callback(ctx, value)`` for ``key`` as a window's close (``ctx.topic`` is the
        window topic, ``ctx.timestamp`` the close time ``at`` in ms)."""
        ctx = self.ctx
        ctx._topic = topic
        ctx._kbytes = key
        ctx._key = None
        ctx._offset = -1
        ctx._ts = at
        ctx._raw_headers = None
        ctx._headers = None
        self._call(callback, ctx, value)

    def _decode(self, codec: Any, value: bytes | None, topic: str, offset: int, key: bytes | None) -> Any:
        try:
            return codec.decode(value)
        except CodecError as exc:
            raise exc.located(topic=topic, partition=self.partition, offset=offset,
                              key=_key_text(key), group=self.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot decode message: {exc}", codec=codec, topic=topic,
                             partition=self.partition, offset=offset, key=_key_text(key),
                             group=self.group) from exc

    def _call(self, callback: Callable[[Any, Any], None], ctx: Context, msg: Any) -> None:
        ctx._failure = None
        try:
            callback(ctx, msg)
        except Exception as exc:
            failure = ctx._failure if ctx._failure is not None else exc
            err = ProcessingError(f"{type(failure).__name__}: {failure}", group=self.group, topic=ctx._topic,
                                  partition=self.partition, offset=ctx._offset, key=ctx.key)
            err.by_fail = ctx._failure is not None
            raise err from failure
        if ctx._failure is not None:  # ctx.fail() whose exception the callback swallowed
            failure = ctx._failure
            err = ProcessingError(f"{type(failure).__name__}: {failure}", group=self.group, topic=ctx._topic,
                                  partition=self.partition, offset=ctx._offset, key=ctx.key)
            err.by_fail = True
            raise err from failure


def _key_text(key: bytes | None) -> str:
    return "" if key is None else key.decode("utf-8", "surrogateescape")
