"""``ctx.window(name)`` / ``ctx.windows(name)``: a handle on one window of the current record
(see :mod:`goka._core.windows`, which creates them)."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from goka.window import TimeWindow, window_key

if TYPE_CHECKING:
    from goka._core.windows import WindowEdge

__all__ = ["WindowHandle"]


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
    parts : list of (int, int)
        For sessions: the bounds of the stored sessions this one covers.
    """

    __slots__ = ("_edge", "_key", "start_ms", "end_ms", "late", "_parts")

    def __init__(self, edge: WindowEdge, key: bytes, start_ms: int, end_ms: int, late: bool,
                 parts: list[tuple[int, int]]) -> None:
        self._edge = edge
        self._key = key
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.late = late
        self._parts = parts  # sessions: the stored sessions this one covers, oldest first

    @property
    def start(self) -> datetime:
        """The start as a UTC datetime."""
        return TimeWindow(self.start_ms, self.end_ms).start

    @property
    def end(self) -> datetime:
        """The (exclusive) end as a UTC datetime."""
        return TimeWindow(self.start_ms, self.end_ms).end

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
        edge, key = self._edge, self._key
        if not edge.session:
            data = edge.get(window_key(key, self.start_ms, self.end_ms))
            return None if data is None else edge.decode(data, key)
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
        if edge.session:
            for part in self._parts:
                edge.write(window_key(key, *part), None)
            self._parts = []
        else:
            edge.write(window_key(key, self.start_ms, self.end_ms), None)

    def __repr__(self) -> str:
        late = ", late" if self.late else ""
        return f"<window {self._edge.name!r} {self.start.isoformat()}..{self.end.isoformat()}{late}>"
