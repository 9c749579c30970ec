# cython: language_level=3, embedsignature=True, binding=True
"""Per-partition processing step, compiled twin of ``_dispatch_py`` (same interface).

``_dispatch_py`` is the specification: read it for what each method does. This twin
keeps the same public names, signatures, results, exceptions and messages, and makes
the per-message path cheap:

- ``Context`` and ``Dispatcher`` are final extension types whose per-message state is
  C struct fields; the one ``Context`` of a partition is reused, nothing is allocated
  per message beyond what the codecs and the callback create;
- the route of a topic (codec, callback) is one dict lookup; ``table.get``/``table.set``
  and ``sink.emit`` are bound once when the dispatcher is built, and called as C
  functions when the table is the compiled ``TableCache`` (``_tablecache_c.pxd``) and the
  sink the compiled ``PartitionProcessor`` (its ``_emit_entry()``);
- the key ``str``, the headers ``dict`` and the timestamp ``datetime`` are computed only
  when the callback asks for them, as in the twin;
- the built-in codecs ``String``, ``Int64`` and ``Bytes`` (exact types, not
  subclasses) are encoded and decoded inline for the inputs they accept. Anything else
  (another codec, a subclass, a value of another type, invalid data) goes through the
  codec's own ``encode``/``decode``, so results and errors are the codec's.

``tests/unit/core/test_dispatch.py`` runs the same tests on both twins and checks that
random message sequences give identical records and tables.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItemWithError
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.exc cimport PyErr_Occurred
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from cpython.ref cimport PyObject

from goka._core._tablecache_c cimport TableCache

from collections.abc import Mapping
from datetime import datetime, timezone

from goka import codec as _codec
from goka._core._dispatch_py import Headers, Sink, TableAccess
from goka._core.timers import due_ms as _due_ms
from goka._core.windows import window_handles as _window_handles
from goka.errors import CodecError, ProcessingError, UndeclaredTopicError
from goka.options import NilHandling

__all__ = ["Context", "Dispatcher", "Sink", "TableAccess", "Headers"]

cdef object _EPOCH = datetime.fromtimestamp(0, timezone.utc)
cdef object _UTC = timezone.utc
cdef object _fromtimestamp = datetime.fromtimestamp
cdef object _now = datetime.now
cdef object _Mapping = Mapping

cdef object _String = _codec.String
cdef object _Int64 = _codec.Int64
cdef object _Bytes = _codec.Bytes

# NilHandling as C ints
cdef enum:
    _NIL_IGNORE = 0
    _NIL_PROCESS = 1
    _NIL_DECODE = 2

# "no fast path for this codec/input": the caller then calls the codec itself
cdef object _NOFAST = object()


# -- inline paths of the built-in codecs ---------------------------------------------------

@cython.boundscheck(False)
@cython.wraparound(False)
cdef object _int64_decode(bytes data):
    # Int64.decode accepts an optional sign then ASCII digits; up to 18 digits always
    # fit in int64, longer input is left to the codec (range check, errors)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t i = 0
    cdef bint negative = False
    cdef long long v = 0
    cdef unsigned int digit
    if n == 0:
        return _NOFAST
    if p[0] == 45:  # '-'
        negative = True
        i = 1
    elif p[0] == 43:  # '+'
        i = 1
    if i == n or n - i > 18:
        return _NOFAST
    while i < n:
        digit = <unsigned int>p[i] - 48
        if digit > 9:
            return _NOFAST
        v = v * 10 + digit
        i += 1
    return -v if negative else v


cdef inline object _fast_decode(object codec, object data):
    cdef type t = type(codec)
    if t is _Bytes:
        return data
    if type(data) is not bytes:
        return _NOFAST
    if t is _String:
        try:
            return (<bytes>data).decode("utf-8")
        except UnicodeDecodeError:
            return _NOFAST
    if t is _Int64:
        return _int64_decode(<bytes>data)
    return _NOFAST


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef bytes _int64_encode(long long v):
    # decimal ASCII, as b"%d" % v
    cdef char buf[24]
    cdef char* end = buf + 24
    cdef char* p = end
    cdef unsigned long long u = <unsigned long long>v
    if v < 0:
        u = <unsigned long long>0 - u
    while True:
        p -= 1
        p[0] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if v < 0:
        p -= 1
        p[0] = 45  # '-'
    return PyBytes_FromStringAndSize(p, end - p)


cdef inline object _fast_encode(object codec, object value):
    cdef type t = type(codec)
    cdef type vt = type(value)
    cdef long long v
    cdef int overflow = 0
    if t is _Int64:
        if vt is int:
            v = PyLong_AsLongLongAndOverflow(value, &overflow)
            if not overflow:
                return _int64_encode(v)
        return _NOFAST
    if t is _String:
        if vt is str:
            try:
                return (<str>value).encode("utf-8")
            except UnicodeEncodeError:
                return _NOFAST
        return _NOFAST
    if t is _Bytes and vt is bytes:
        return value
    return _NOFAST


# -- helpers shared with the pure twin -----------------------------------------------------

cdef object _encode_key(object key):
    if isinstance(key, str):
        return (<str>key).encode("utf-8", "surrogateescape")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"key must be str or bytes, got {type(key).__name__}")


cdef object _header_bytes(object value):
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


cdef inline str _key_text(object key):
    if key is None:
        return ""
    if type(key) is bytes:
        return (<bytes>key).decode("utf-8", "surrogateescape")
    return key.decode("utf-8", "surrogateescape")


cdef class Dispatcher

# ``PartitionProcessor._emit`` of the compiled partition twin, handed over in a capsule by
# its ``_emit_entry()`` (a function pointer: ``_partition_c`` imports this module, so this
# one cannot cimport it)
ctypedef int (*_sink_emit_f)(object sink, object topic, object key, object value, object headers) except -1


@cython.final
cdef class Context:
    """What a callback sees of the message it processes and of its group.

    One object per partition, reused for every message: it is valid only during the
    callback. Properties describe the current message; methods read and write the
    group table for the current key, emit to declared outputs, loop back, join and
    look up tables.
    """

    cdef Dispatcher _d
    cdef object _topic
    cdef object _kbytes
    cdef object _key
    cdef object _offset
    cdef object _ts
    cdef object _raw_headers
    cdef object _headers_of  # the message whose headers() gives the headers (see _process_entry)
    cdef object _headers
    cdef object _failure

    def __init__(self, Dispatcher dispatcher not None):
        self._d = dispatcher
        self._topic = ""
        self._kbytes = b""
        self._key = ""
        self._offset = -1
        self._ts = None
        self._raw_headers = None
        self._headers_of = None
        self._headers = None
        self._failure = None

    cdef str _get_key(self):
        key = self._key
        if key is None:
            kb = self._kbytes
            if type(kb) is bytes:
                key = (<bytes>kb).decode("utf-8", "surrogateescape")
            else:
                key = kb.decode("utf-8", "surrogateescape")
            self._key = key
        return key

    # -- message metadata -------------------------------------------------------------
    @property
    def key(self):
        """The message key (``""`` for a null key)."""
        return self._get_key()

    @property
    def topic(self):
        """The topic the message came from (a visitor's name during ``visit_all``)."""
        return self._topic

    @property
    def partition(self):
        return self._d.partition

    @property
    def offset(self):
        return self._offset

    @property
    def group(self):
        return self._d.group

    @property
    def timestamp(self):
        """The record timestamp as an aware UTC datetime (the epoch if the record has none)."""
        ts = self._ts
        if ts is None or ts < 0:
            return _EPOCH
        return _fromtimestamp(ts / 1000.0, _UTC)

    @property
    def headers(self):
        """The record headers; for a repeated header name the last value wins."""
        headers = self._headers
        if headers is None:
            raw = self._raw_headers
            if self._headers_of is not None:
                raw = self._headers_of.headers()
            elif callable(raw):  # e.g. confluent-kafka's msg.headers: parsed only when read
                raw = raw()
            if raw is None:
                headers = {}
            elif isinstance(raw, dict) or isinstance(raw, _Mapping):
                headers = {k: _header_bytes(v) for k, v in raw.items()}
            else:
                headers = {k: _header_bytes(v) for k, v in raw}
            self._headers = headers
        return headers

    # -- group table ------------------------------------------------------------------
    def value(self):
        """The group table's value for the current key, or ``None``."""
        cdef Dispatcher d = self._d
        if d.table is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Persist edge: value() needs a group table")
        if d._cache is not None:
            data = d._cache.get_c(self._kbytes)
        elif d._table_get is not None:
            data = d._table_get(self._kbytes)
        else:
            data = d.table.get(self._kbytes)
        if data is None:
            return None
        result = _fast_decode(d.table_codec, data)
        if result is not _NOFAST:
            return result
        try:
            return d.table_codec.decode(data)
        except CodecError as exc:
            raise exc.located(topic=d.table_topic, partition=d.partition, key=self._get_key(),
                              group=d.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot decode table value: {exc}", codec=d.table_codec, topic=d.table_topic,
                             partition=d.partition, key=self._get_key(), group=d.group) from exc

    def set_value(self, value, headers=None):
        """Store ``value`` for the current key (locally and in the table topic).

        Parameters
        ----------
        value : any
            Encoded with the Persist codec; ``None`` is refused (use :meth:`delete`).
        headers : mapping of str to bytes or str, optional
            Headers of the table record.
        """
        cdef Dispatcher d = self._d
        if d.table is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Persist edge: set_value() needs a group table")
        if value is None:
            raise ValueError("cannot set a None value; use ctx.delete() to remove the key")
        data = d._encode(d.table_codec, value, d.table_topic, self)
        if d._cache is not None:
            d._cache.set_c(self._kbytes, data)
        elif d._table_set is not None:
            d._table_set(self._kbytes, data)
        else:
            d.table.set(self._kbytes, data)
        d._sink_emit(d.table_topic, self._kbytes, data, headers)

    def delete(self, headers=None):
        """Delete the current key from the group table (a tombstone in the table topic).

        Parameters
        ----------
        headers : mapping of str to bytes or str, optional
            Headers of the tombstone.
        """
        cdef Dispatcher d = self._d
        if d.table is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Persist edge: delete() needs a group table")
        if d._cache is not None:
            d._cache.set_c(self._kbytes, None)
        elif d._table_set is not None:
            d._table_set(self._kbytes, None)
        else:
            d.table.set(self._kbytes, None)
        d._sink_emit(d.table_topic, self._kbytes, None, headers)

    # -- other topics -----------------------------------------------------------------
    def emit(self, topic, key, value, headers=None):
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
        cdef Dispatcher d = self._d
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
        data = None if value is None else d._encode(codec, value, topic, self)
        d._sink_emit(topic, _encode_key(key), data, headers)

    def loopback(self, key, value, headers=None):
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
        cdef Dispatcher d = self._d
        if d.loop_codec is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Loop edge: cannot loopback")
        data = d._encode(d.loop_codec, value, d.loop_topic, self)
        d._sink_emit(d.loop_topic, _encode_key(key), data, headers)

    def join(self, table):
        """The value of the joined (co-partitioned) ``table`` for the current key, or ``None``.

        Parameters
        ----------
        table : str
            A table declared with :class:`goka.Join`.
        """
        cdef Dispatcher d = self._d
        joined = d.joins.get(table)
        if joined is None:
            raise UndeclaredTopicError(f"group {d.group!r}: table {table!r} is not declared as a Join")
        getter, codec = joined
        data = getter(self._kbytes)
        if data is None:
            return None
        result = _fast_decode(codec, data)
        if result is not _NOFAST:
            return result
        try:
            return codec.decode(data)
        except Exception as exc:
            raise CodecError(f"cannot decode joined value: {exc}", codec=codec, topic=table,
                             partition=d.partition, key=self._get_key(), group=d.group) from exc

    def lookup(self, table, key):
        """The value of ``key`` in the looked-up ``table`` (any partition), or ``None``.

        Parameters
        ----------
        table : str
            A table declared with :class:`goka.Lookup`.
        key : str or bytes
            Any key (its partition is found with the Lookup's ``hasher``).
        """
        cdef Dispatcher d = self._d
        getter = d.lookups.get(table)
        if getter is None:
            raise UndeclaredTopicError(f"group {d.group!r}: table {table!r} is not declared as a Lookup")
        if type(key) is not str and not isinstance(key, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"ctx.lookup({table!r}): key must be str or bytes, got {type(key).__name__}")
        return getter(key)

    # -- flow control -----------------------------------------------------------------
    def fail(self, exc):
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

    def defer_commit(self):
        """Delay the commit of this message until the returned ``done(exc=None)`` is called.

        ``done(exc)`` with an exception stops the processor instead.
        """
        return self._d.sink.defer()

    # -- timers (off the per-message path; see the twin) ----------------------------------
    def schedule(self, value, *, at=None, delay=None):
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
        due = _due_ms(timers.clock(), at, delay)
        timers.schedule(self._kbytes, due, d._encode(d.timer_codec, value, timers.topic, self))

    def cancel_timers(self):
        """Drop the current key's pending timers; returns how many there were."""
        d = self._d
        timers = d.timers
        if timers is None:
            raise UndeclaredTopicError(f"group {d.group!r} has no Timer edge: cannot cancel timers")
        return timers.cancel(self._kbytes)

    # -- windows (off the per-message path; see the twin) ---------------------------------
    def window(self, name):
        """The window of the ``Window`` edge ``name`` that contains ``ctx.timestamp``, for the
        current key (see the twin).

        Parameters
        ----------
        name : str
            The ``Window`` edge's name.
        """
        return _window_handles(self._d, name, self._kbytes, self._ts, self._topic, self._offset, True)

    def windows(self, name):
        """Every window of the ``Window`` edge ``name`` that contains ``ctx.timestamp``, for the
        current key, oldest first (see the twin).

        Parameters
        ----------
        name : str
            The ``Window`` edge's name.
        """
        return _window_handles(self._d, name, self._kbytes, self._ts, self._topic, self._offset, False)


@cython.final
cdef class _Route:
    cdef object codec
    cdef object callback

    def __cinit__(self, codec, callback):
        self.codec = codec
        self.callback = callback


@cython.final
cdef class Dispatcher:
    """Runs callbacks for one partition of a group (see the module docstring)."""

    cdef readonly object graph
    cdef readonly object group
    cdef readonly object partition
    cdef readonly object table
    cdef readonly object table_codec
    cdef readonly object table_topic
    cdef readonly object loop_topic
    cdef readonly object loop_codec
    cdef readonly dict outputs
    cdef readonly dict joins
    cdef readonly dict lookups
    cdef readonly object sink
    cdef readonly object nil_handling
    cdef readonly dict routes
    cdef readonly Context ctx
    cdef public object timers
    cdef readonly object timer_codec
    cdef public object windows
    cdef dict _routes
    cdef int _nil
    cdef object _table_get
    cdef object _table_set
    cdef TableCache _cache  # the table when it is the compiled cache: called directly
    cdef object _emit
    cdef _sink_emit_f _emit_c  # the compiled partition processor's emit, called directly

    def __init__(self, graph, partition, sink, table=None, joins=None, lookups=None,
                 nil_handling=NilHandling.IGNORE):
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
        self._nil = int(self.nil_handling)
        self.routes = {i.topic: (i.codec, i.callback) for i in graph.inputs}
        if graph.loop is not None:
            self.routes[graph.loop_topic] = (graph.loop.codec, graph.loop.callback)
        self._routes = {t: _Route(c, cb) for t, (c, cb) in self.routes.items()}
        # bound once; a table or sink lacking the method fails when it is used, as in the twin
        self._table_get = getattr(self.table, "get", None) if self.table is not None else None
        self._table_set = getattr(self.table, "set", None) if self.table is not None else None
        self._emit = getattr(sink, "emit", None)
        self._cache = self.table if type(self.table) is TableCache else None
        self._emit_c = NULL
        entry = getattr(type(sink), "_emit_entry", None)  # the compiled PartitionProcessor's
        if entry is not None:
            entry = entry(sink)
            if PyCapsule_IsValid(entry, b"goka._core.sink_emit"):
                self._emit_c = <_sink_emit_f>PyCapsule_GetPointer(entry, b"goka._core.sink_emit")
        self.ctx = Context(self)
        self.timers = None
        self.timer_codec = graph.timer.codec if graph.timer is not None else None
        self.windows = None

    cdef inline object _sink_emit(self, topic, key, data, headers):
        if self._emit_c is not NULL:
            self._emit_c(self.sink, topic, key, data, headers)
            return None
        if self._emit is not None:
            return self._emit(topic, key, data, headers)
        return self.sink.emit(topic, key, data, headers)

    cdef object _encode(self, codec, value, topic, Context ctx):
        data = _fast_encode(codec, value)
        if data is not _NOFAST:
            return data
        try:
            data = codec.encode(value)
        except CodecError as exc:
            raise exc.located(topic=topic, partition=self.partition, key=ctx._get_key(),
                              group=self.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot encode {type(value).__name__} value: {exc}", codec=codec, topic=topic,
                             partition=self.partition, key=ctx._get_key(), group=self.group) from exc
        return data

    def encode(self, codec, value, topic, Context ctx not None):
        return self._encode(codec, value, topic, ctx)

    def process(self, topic, offset, key, value, timestamp_ms=None, headers=None):
        return self._process(topic, offset, key, value, timestamp_ms, headers, None)

    def _process_entry(self):
        """``process`` as a C function for the compiled partition processor (see
        ``_partition_c``): ``headers`` is then the message itself, whose ``headers()`` is
        called only if the callback reads them (no bound method per message)."""
        return PyCapsule_New(<void*>_process_message, b"goka._core.dispatch_process", NULL)

    cdef bint _process(self, topic, offset, key, value, timestamp_ms, headers, headers_of) except -1:
        """Process one message. Returns ``False`` if it was dropped (a null value under
        ``NilHandling.IGNORE``) without calling the callback.

        Raises :class:`goka.CodecError` if the value cannot be decoded and
        :class:`goka.ProcessingError` if the callback fails.
        """
        cdef PyObject* found = PyDict_GetItemWithError(self._routes, topic)
        cdef _Route route
        if found is NULL:
            if PyErr_Occurred():
                raise
            raise ProcessingError(f"group does not consume topic {topic!r}", group=self.group,
                                  topic=topic, partition=self.partition, offset=offset)
        route = <_Route><object>found
        if value is None:
            if self._nil == _NIL_IGNORE:
                return False
            msg = None if self._nil == _NIL_PROCESS else self._decode(route.codec, None, topic, offset, key)
        else:
            msg = _fast_decode(route.codec, value)
            if msg is _NOFAST:
                msg = self._decode(route.codec, value, topic, offset, key)
        cdef Context ctx = self.ctx
        ctx._topic = topic
        ctx._kbytes = key if key is not None else b""
        ctx._key = None
        ctx._offset = offset
        ctx._ts = timestamp_ms
        ctx._raw_headers = headers
        ctx._headers_of = headers_of
        ctx._headers = None
        self._call(route.callback, ctx, msg)
        return True

    def visit(self, name, key, meta):
        """Run visitor ``name`` for table key ``key`` with ``meta`` as the message."""
        visitor = self.graph.visitors.get(name)
        if visitor is None:
            raise UndeclaredTopicError(f"group {self.group!r} has no visitor {name!r}")
        cdef Context ctx = self.ctx
        ctx._topic = name
        ctx._kbytes = key
        ctx._key = None
        ctx._offset = 0
        ctx._ts = int(_now(_UTC).timestamp() * 1000)
        ctx._raw_headers = None
        ctx._headers_of = None
        ctx._headers = None
        self._call(visitor.callback, ctx, meta)

    def fire(self, key, data, due):
        """Run the Timer callback for ``key`` with the decoded ``data``, due at ``due`` (ms)."""
        timer = self.graph.timer
        if timer is None:
            raise UndeclaredTopicError(f"group {self.group!r} has no Timer edge")
        topic = self.graph.timer_topic
        msg = self._decode(timer.codec, data, topic, -1, key)
        cdef Context ctx = self.ctx
        ctx._topic = topic
        ctx._kbytes = key
        ctx._key = None
        ctx._offset = -1
        ctx._ts = due
        ctx._raw_headers = None
        ctx._headers_of = None
        ctx._headers = None
        self._call(timer.callback, ctx, msg)

    def close(self, topic, key, at, callback, value):
        """Run ``callback(ctx, value)`` for ``key`` as a window's close (see the twin)."""
        cdef Context ctx = self.ctx
        ctx._topic = topic
        ctx._kbytes = key
        ctx._key = None
        ctx._offset = -1
        ctx._ts = at
        ctx._raw_headers = None
        ctx._headers_of = None
        ctx._headers = None
        self._call(callback, ctx, value)

    cdef object _decode(self, codec, value, topic, offset, key):
        try:
            return codec.decode(value)
        except CodecError as exc:
            raise exc.located(topic=topic, partition=self.partition, offset=offset,
                              key=_key_text(key), group=self.group) from exc.__cause__
        except Exception as exc:
            raise CodecError(f"cannot decode message: {exc}", codec=codec, topic=topic,
                             partition=self.partition, offset=offset, key=_key_text(key),
                             group=self.group) from exc

    cdef int _call(self, callback, Context ctx, msg) except -1:
        ctx._failure = None
        try:
            callback(ctx, msg)
        except Exception as exc:
            failure = ctx._failure if ctx._failure is not None else exc
            err = ProcessingError(f"{type(failure).__name__}: {failure}", group=self.group, topic=ctx._topic,
                                  partition=self.partition, offset=ctx._offset, key=ctx._get_key())
            err.by_fail = ctx._failure is not None
            raise err from failure
        if ctx._failure is not None:  # ctx.fail() whose exception the callback swallowed
            failure = ctx._failure
            err = ProcessingError(f"{type(failure).__name__}: {failure}", group=self.group, topic=ctx._topic,
                                  partition=self.partition, offset=ctx._offset, key=ctx._get_key())
            err.by_fail = True
            raise err from failure
        return 0


cdef int _process_message(object d, object topic, object offset, object key, object value, object timestamp_ms,
                          object msg) except -1:
    """``Dispatcher.process`` of a message whose headers are ``msg.headers()`` (the
    compiled partition processor's entry, see ``Dispatcher._process_entry``)."""
    (<Dispatcher>d)._process(topic, offset, key, value, timestamp_ms, None, msg)
    return 0

