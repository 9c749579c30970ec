# cython: language_level=3, embedsignature=True, binding=True
"""Window handles (``ctx.window`` / ``ctx.windows``), compiled twin of ``_window_handle_py``.

``_window_handle_py`` is the specification: the same names, signatures, results,
exceptions and messages. Here the handle is an extension type (created without an
``__init__`` call on the tumbling path) and ``tumbling_handle`` is compiled.
"""
cimport cython

from datetime import datetime, timedelta, timezone

from heapq import heappush as _heappush

from goka._core.timers import TimerUndo
from goka.window import TimeWindow, window_key

__all__ = ["WindowHandle", "tumbling_handle"]

cdef object _EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
cdef tuple _NO_PARTS = ()
cdef object _MISSING = None  # goka._core.windows' journal sentinels, bound at the first write
cdef object _CLOSED = None


cdef _bind():
    global _MISSING, _CLOSED
    from goka._core import windows
    _MISSING = windows._MISSING
    _CLOSED = windows._CLOSED


cdef _put(edge, wkey, closes, data):
    """``edge.put(wkey, closes, data)`` (``WindowEdge.put``, the specification), compiled."""
    if _MISSING is None:
        _bind()
    gen = edge.current
    if gen is None:
        gen = edge.owner.generation()
        edge.current = gen
    cdef dict writes = gen.writes
    old_gen = writes.get(wkey, _MISSING)
    writes[wkey] = data
    cdef dict open_ = edge.open
    if wkey in open_:
        if data is None:
            edge._unindex(wkey)
        else:
            (<dict>edge.values)[wkey] = data
        old = closes
    else:
        if data is not None:  # (_index, inline)
            groups = <dict>edge.groups
            group = groups.get(closes)
            if group is None:
                group = {}
                groups[closes] = group
                _heappush(edge.heap, closes)
            (<dict>group)[wkey] = None
            open_[wkey] = closes
            (<dict>edge.values)[wkey] = data
        old = _CLOSED
    edge._journal(TimerUndo(edge, wkey, old, old_gen))
    edge._emit(edge.topic, wkey, data)


@cython.no_gc  # (refers to the edge and bytes only: no cycles through a handle)
cdef class WindowHandle:
    """One window of the current record (``ctx.window(name)`` / ``ctx.windows(name)``).

    ``start``/``end`` (UTC datetimes) and ``start_ms``/``end_ms`` (epoch ms, end exclusive)
    are its bounds -- for a session, including the current record (and every session it
    joins). ``late`` is True when the window has closed: ``value()`` is then None and
    ``set_value``/``delete`` do nothing. Valid only during the callback. Callbacks get
    handles from ``ctx.window(name)`` and ``ctx.windows(name)``; they are not created directly.

    Parameters
    ----------
    edge : WindowEdge
        The window edge's state in the partition.
    key : bytes
        The message key.
    start_ms : int
        The window's start, epoch ms.
    end_ms : int
        The window's (exclusive) end, epoch ms.
    late : bool
        Whether the window has closed.
    parts : sequence of (int, int)
        For sessions: the bounds of the stored sessions this one covers (empty otherwise).
    wkey : bytes, optional
        For fixed (tumbling/hopping) windows: the window's record key.
    """

    cdef public object _edge
    cdef public object _key
    cdef public object start_ms
    cdef public object end_ms
    cdef public bint late
    cdef public object _parts
    cdef public object _wkey

    def __init__(self, edge, key, start_ms, end_ms, late, parts, wkey=None):
        self._edge = edge
        self._key = key
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.late = late
        self._parts = parts
        self._wkey = wkey

    @property
    def start(self):
        """The start as a UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.start_ms)

    @property
    def end(self):
        """The (exclusive) end as a UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.end_ms)

    @property
    def window(self):
        """The bounds as a :class:`goka.TimeWindow`."""
        return TimeWindow(self.start_ms, self.end_ms)

    def value(self):
        """The window's value for the current key, or None (new, deleted or late). For a
        record that joins several sessions: their values folded with the spec's ``merge``
        (without one, the earliest session's value)."""
        if self.late:
            return None
        edge = self._edge
        wkey = self._wkey
        if wkey is not None:  # a fixed window that is not late: open (its value in memory) or empty
            data = edge.values.get(wkey)
            if data is None:
                return None
            try:
                return edge.codec.decode(data)
            except Exception:  # (again, for the error naming topic, partition and key)
                return edge.decode(data, self._key)
        key = self._key
        merge = edge.spec.merge
        result = None
        found = False
        for start, end in self._parts:
            data = edge.get(window_key(key, start, end))
            if data is None:
                continue
            value = edge.decode(data, key)
            if not found:
                result, found = value, True
            elif merge is not None:
                result = merge(result, value)
        return result

    def set_value(self, value):
        """Store ``value`` for this window and the current key (locally and in the window
        topic); nothing happens when the window is late.

        Parameters
        ----------
        value : any
            Encoded with the ``Window`` edge's codec; ``None`` is refused (use :meth:`delete`).
        """
        if value is None:
            raise ValueError("cannot set a None window value; use delete() to remove the window")
        if self.late:
            return
        edge, key = self._edge, self._key
        wkey = self._wkey
        if wkey is not None:
            try:
                data = edge.codec.encode(value)
            except Exception:  # (again, for the error naming topic, partition and key)
                data = edge.encode(value, key)
            _put(edge, wkey, self.end_ms + edge.grace_ms, data)
            return
        data = edge.encode(value, key)
        bounds = (self.start_ms, self.end_ms)
        for part in self._parts:  # sessions it extends or merges: replaced by the new one
            if part != bounds:
                edge.write(window_key(key, *part), None)
        edge.write(window_key(key, *bounds), data)
        if edge.session:
            self._parts = [bounds]

    def delete(self):
        """Delete this window for the current key (a tombstone in the window topic); nothing
        happens when the window is late."""
        if self.late:
            return
        edge, key = self._edge, self._key
        if self._wkey is not None:
            _put(edge, self._wkey, self.end_ms + edge.grace_ms, None)
        else:
            for part in self._parts:
                edge.write(window_key(key, *part), None)
            self._parts = []

    def __repr__(self):
        late = ", late" if self.late else ""
        return f"<window {self._edge.name!r} {self.start.isoformat()}..{self.end.isoformat()}{late}>"


def tumbling_handle(windows, edge, name, key, ts, topic, offset):
    """``ctx.window(name)`` for the tumbling edge ``edge`` of ``windows`` (see the twin)."""
    if ts is None or ts < 0:
        ts = 0
    if edge._lo <= ts < edge._hi:
        bucket = edge._bucket
    else:
        bucket = edge.bucket(ts)
    start, end, closes, suffix = <tuple>(bucket[0])
    cdef WindowHandle handle = WindowHandle.__new__(WindowHandle)
    handle._edge = edge
    handle._key = key
    handle.start_ms = start
    handle.end_ms = end
    handle._parts = _NO_PARTS
    handle._wkey = key + suffix
    handle.late = closes <= windows.stream_time
    if handle.late:
        windows._late(edge, name, key, topic, offset, [handle])
    return handle
