"""``ctx.window(name)`` / ``ctx.windows(name)``: a handle on one window of the current record
(see :mod:`goka._core.windows`, which creates them).

The pure twin (the specification) of ``_window_handle_c``; :mod:`goka._core.window_handle`
picks one. Besides the handle class, :func:`tumbling_handle` is ``ctx.window(name)`` for a
tumbling edge: the per-record path of the commonest window spec."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from goka.window import TimeWindow, window_key

if TYPE_CHECKING:
    from goka._core.windows import WindowEdge, Windows

__all__ = ["WindowHandle", "tumbling_handle"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class WindowHandle:
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

    __slots__ = ("_edge", "_key", "start_ms", "end_ms", "late", "_parts", "_wkey")

    def __init__(self, edge: WindowEdge, key: bytes, start_ms: int, end_ms: int, late: bool,
                 parts: Sequence[tuple[int, int]], wkey: bytes | None = None) -> None:
        self._edge = edge
        self._key = key
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.late = late
        self._parts = parts  # sessions: the stored sessions this one covers, oldest first
        self._wkey = wkey  # fixed windows: the record key

    @property
    def start(self) -> datetime:
        """The start as a UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.start_ms)

    @property
    def end(self) -> datetime:
        """The (exclusive) end as a UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.end_ms)

    @property
    def window(self) -> TimeWindow:
        """The bounds as a :class:`goka.TimeWindow`."""
        return TimeWindow(self.start_ms, self.end_ms)

    def value(self) -> Any:
        """The window's value for the current key, or None (new, deleted or late). For a
        record that joins several sessions: their values folded with the spec's ``merge``
        (without one, the earliest session's value)."""
        if self.late:
            return None
        edge = self._edge
        wkey = self._wkey
        if wkey is not None:  # a fixed window that is not late: open (its value in memory) or empty
            data = edge.values.get(wkey)
            return None if data is None else edge.decode(data, self._key)
        key = self._key
        merge = edge.spec.merge
        result: Any = None
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

    def set_value(self, value: Any) -> None:
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
        data = edge.encode(value, key)
        wkey = self._wkey
        if wkey is not None:
            edge.put(wkey, self.end_ms + edge.grace_ms, data)
            return
        bounds = (self.start_ms, self.end_ms)
        for part in self._parts:  # sessions it extends or merges: replaced by the new one
            if part != bounds:
                edge.write(window_key(key, *part), None)
        edge.write(window_key(key, *bounds), data)
        if edge.session:
            self._parts = [bounds]

    def delete(self) -> None:
        """Delete this window for the current key (a tombstone in the window topic); nothing
        happens when the window is late."""
        if self.late:
            return
        edge, key = self._edge, self._key
        if self._wkey is not None:
            edge.put(self._wkey, self.end_ms + edge.grace_ms, None)
        else:
            for part in self._parts:
                edge.write(window_key(key, *part), None)
            self._parts = []

    def __repr__(self) -> str:
        late = ", late" if self.late else ""
        return f"<window {self._edge.name!r} {self.start.isoformat()}..{self.end.isoformat()}{late}>"


def tumbling_handle(windows: Windows, edge: WindowEdge, name: str, key: bytes, ts: int | None, topic: str,
                    offset: int) -> WindowHandle:
    """``ctx.window(name)`` for the tumbling edge ``edge`` of ``windows``: the window of ``ts``
    (None or negative: the epoch) for ``key``; a late one is counted (:meth:`Windows._late`)."""
    if ts is None or ts < 0:
        ts = 0
    if edge._lo <= ts < edge._hi:
        start, end, closes, suffix = edge._bucket[0]
    else:
        start, end, closes, suffix = edge.bucket(ts)[0]
    late = closes <= windows.stream_time
    handle = WindowHandle(edge, key, start, end, late, (), key + suffix)
    if late:
        windows._late(edge, name, key, topic, offset, [handle])
    return handle
