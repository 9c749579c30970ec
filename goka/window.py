"""Windowed tables: window specs, the window record layout, the window topic's name.

This module is the contract shared by the processor side (``ctx.window``, closing,
``on_close``) and the reader side (``goka.View(..., window=spec)``): the specs decide which
windows hold a timestamp, and :func:`window_key` / :func:`parse_window_key` are the only
code that knows the byte layout.

Record layout of a window topic ``<group>-<name>`` (and of its local storage)
-------------------------------------------------------------------------------
- key: the message key's bytes (UTF-8, as on every goka topic), then the window's start and
  end as two 8-byte big-endian signed 64-bit integers, milliseconds since the Unix epoch
  (UTC); the end is exclusive. The suffix has a fixed length, so a reader takes it from the
  back: Python ``key, (start, end) = k[:-16], struct.unpack(">qq", k[-16:])``; Go
  ``int64(binary.BigEndian.Uint64(k[len(k)-16:]))`` and ``...(k[len(k)-8:])``; Java
  ``ByteBuffer.wrap(k, k.length - 16, 16).getLong()`` twice.
- value: the window's value in the edge's codec; a window that was deleted, or closed and
  past its retention, is a tombstone (null value).
- partition: the partition of the *message* key (co-partitioned with the group's inputs):
  hash the bytes before the suffix, not the whole record key.
- One record per partition is not a window: the stream-time marker, whose key is an empty
  message key with start == end == 2**63 - 1 (:data:`STREAM_TIME_KEY`) and whose value is the
  partition's stream time as one 8-byte big-endian signed integer (ms). Every window has
  ``start < end``; readers skip records with ``start >= end``.

In local storage the same keys sort by message key, then window start, so the windows of
one key are one prefix range (filter on the length: key ``b"a"`` is a prefix of ``b"ab"``).
"""
from __future__ import annotations

import re
import struct
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "Tumbling",
    "Hopping",
    "Session",
    "WindowSpec",
    "TimeWindow",
    "window_table",
    "window_key",
    "parse_window_key",
    "is_window_record",
    "STREAM_TIME_KEY",
    "encode_stream_time",
    "decode_stream_time",
    "to_ms",
    "SUFFIX_LEN",
    "RESERVED_WINDOW_NAMES",
]

_SUFFIX = struct.Struct(">qq")
_STREAM_TIME = struct.Struct(">q")
SUFFIX_LEN = _SUFFIX.size
_MAX = 2**63 - 1
_MIN = -(2**63)
#: the record key of a partition's stream-time marker (not a window)
STREAM_TIME_KEY = _SUFFIX.pack(_MAX, _MAX)
#: window edge names that would collide with the group's own topics
RESERVED_WINDOW_NAMES = frozenset({"table", "loop", "timers"})
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def window_table(group: str, name: str) -> str:
    """The topic of ``group``'s window edge ``name``: ``"<group>-<name>"``.

    Parameters
    ----------
    group : str
        The group name.
    name : str
        The :class:`goka.Window` edge's name.
    """
    check_window_name(name)
    return f"{group}-{name}"


def check_window_name(name: object) -> str:
    """``name`` if it can name a window edge, else ``ValueError`` saying why."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"window name must be a non-empty string of letters, digits, '.', '_' "
                         f"or '-', got {name!r}")
    if name in RESERVED_WINDOW_NAMES:
        raise ValueError(f"window name {name!r} is reserved (the group's own <group>-{name} topic)")
    return name


def window_key(key: bytes, start: int, end: int) -> bytes:
    """The record key of ``key``'s window ``[start, end)`` (epoch ms)."""
    if not _MIN <= start < end <= _MAX:
        raise ValueError(f"window [{start}, {end}) ms is empty or outside the 64-bit range")
    return key + _SUFFIX.pack(start, end)


def parse_window_key(record_key: bytes) -> tuple[bytes, int, int]:
    """``(message key, start ms, end ms)`` of a window record key (see the module doc)."""
    if len(record_key) < SUFFIX_LEN:
        raise ValueError(f"window record key too short ({len(record_key)} bytes, need >= {SUFFIX_LEN})")
    start, end = _SUFFIX.unpack_from(record_key, len(record_key) - SUFFIX_LEN)
    return record_key[:-SUFFIX_LEN], start, end


def is_window_record(record_key: bytes) -> bool:
    """Whether ``record_key`` names a window (and not the stream-time marker or garbage)."""
    if len(record_key) < SUFFIX_LEN:
        return False
    start, end = _SUFFIX.unpack_from(record_key, len(record_key) - SUFFIX_LEN)
    return bool(start < end)


def encode_stream_time(ms: int) -> bytes:
    """The value of the stream-time marker record."""
    return _STREAM_TIME.pack(ms)


def decode_stream_time(value: bytes) -> int:
    """The stream time (epoch ms) a marker record holds."""
    if len(value) != _STREAM_TIME.size:
        raise ValueError(f"stream-time marker value has {len(value)} bytes, expected 8")
    return int(_STREAM_TIME.unpack(value)[0])


def to_ms(value: datetime | timedelta | int, what: str) -> int:
    """Milliseconds of a timedelta, an aware datetime (since the epoch) or an int (ms)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a timedelta, datetime or int ms, got bool")
    if isinstance(value, timedelta):
        return int(value / timedelta(milliseconds=1))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be timezone-aware (e.g. datetime.now(timezone.utc))")
        return int((value - _EPOCH) / timedelta(milliseconds=1))
    if isinstance(value, int):
        return value
    raise TypeError(f"{what} must be a timedelta, datetime or int ms, got {type(value).__name__}")


def _positive(value: object, what: str) -> int:
    if not isinstance(value, timedelta):
        raise TypeError(f"{what} must be a datetime.timedelta, got {type(value).__name__}")
    ms = to_ms(value, what)
    if ms <= 0:
        raise ValueError(f"{what} must be at least 1 ms, got {value!r}")
    return ms


def _grace(value: object) -> int:
    if not isinstance(value, timedelta):
        raise TypeError(f"grace must be a datetime.timedelta, got {type(value).__name__}")
    ms = to_ms(value, "grace")
    if ms < 0:
        raise ValueError(f"grace must not be negative, got {value!r}")
    return ms


class TimeWindow:
    """The bounds of one window: ``[start, end)``.

    Parameters
    ----------
    start_ms : int
        The start, epoch milliseconds (inclusive).
    end_ms : int
        The end, epoch milliseconds (exclusive).
    """

    __slots__ = ("start_ms", "end_ms")

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms

    @property
    def start(self) -> datetime:
        """The start as a UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.start_ms)

    @property
    def end(self) -> datetime:
        """The (exclusive) end as a UTC datetime."""
        return _EPOCH + timedelta(milliseconds=self.end_ms)

    def __contains__(self, ts_ms: object) -> bool:
        return isinstance(ts_ms, int) and self.start_ms <= ts_ms < self.end_ms

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TimeWindow) and self.start_ms == other.start_ms
                and self.end_ms == other.end_ms)

    def __hash__(self) -> int:
        return hash((self.start_ms, self.end_ms))

    def __repr__(self) -> str:
        return f"TimeWindow({self.start.isoformat()}, {self.end.isoformat()})"


class WindowSpec:
    """Base of the window specs; ``grace_ms`` is how long after its end a window still
    accepts records (in stream time)."""

    __slots__ = ("grace_ms",)
    grace_ms: int

    def windows_at(self, ts_ms: int) -> list[TimeWindow]:
        """The fixed windows that contain ``ts_ms``, oldest first (empty for sessions,
        whose bounds depend on the records).

        Parameters
        ----------
        ts_ms : int
            A record timestamp, epoch milliseconds.
        """
        return []

    @property
    def default_retention_ms(self) -> int:
        """How long (ms) a window is kept by default, counted from a fixed window's start or
        from a session's end: until it closes. A window is deleted (tombstoned) once stream
        time reaches start + retention (fixed) or end + retention (sessions)."""
        raise NotImplementedError

    def closes_at(self, window: TimeWindow) -> int:
        """The stream time (ms) at which ``window`` closes: records for it are late from then on.

        Parameters
        ----------
        window : goka.TimeWindow
            A window of this spec.
        """
        raise NotImplementedError


class Hopping(WindowSpec):
    """Fixed-size windows starting every ``advance``, aligned to the Unix epoch; a record
    belongs to every window that contains its timestamp (``size / advance`` of them).

    Parameters
    ----------
    size : datetime.timedelta
        The length of each window (at least 1 ms).
    advance : datetime.timedelta
        The distance between the starts of consecutive windows (1 ms to ``size``).
    grace : datetime.timedelta, optional
        How long after its end (in stream time) a window still accepts late records.
    """

    __slots__ = ("size_ms", "advance_ms")

    def __init__(self, size: timedelta, advance: timedelta, grace: timedelta = timedelta(0)) -> None:
        self.size_ms = _positive(size, "size")
        self.advance_ms = _positive(advance, "advance")
        if self.advance_ms > self.size_ms:
            raise ValueError(f"advance ({advance}) must not exceed size ({size})")
        self.grace_ms = _grace(grace)

    def windows_at(self, ts_ms: int) -> list[TimeWindow]:
        """The fixed windows that contain ``ts_ms``, oldest first (empty for sessions,
        whose bounds depend on the records).

        Parameters
        ----------
        ts_ms : int
            A record timestamp, epoch milliseconds.
        """
        last = ts_ms - ts_ms % self.advance_ms
        first = last - ((self.size_ms - 1) // self.advance_ms) * self.advance_ms
        return [TimeWindow(s, s + self.size_ms)
                for s in range(first, last + 1, self.advance_ms) if s <= ts_ms < s + self.size_ms]

    @property
    def default_retention_ms(self) -> int:
        return self.size_ms + self.grace_ms

    def closes_at(self, window: TimeWindow) -> int:
        """The stream time (ms) at which ``window`` closes: records for it are late from then on.

        Parameters
        ----------
        window : goka.TimeWindow
            A window of this spec.
        """
        return window.end_ms + self.grace_ms

    def __repr__(self) -> str:
        return (f"Hopping(size={timedelta(milliseconds=self.size_ms)}, "
                f"advance={timedelta(milliseconds=self.advance_ms)}, "
                f"grace={timedelta(milliseconds=self.grace_ms)})")


class Tumbling(Hopping):
    """Fixed-size, non-overlapping windows aligned to the Unix epoch (a hopping window whose
    advance is its size): each record belongs to exactly one window.

    Parameters
    ----------
    size : datetime.timedelta
        The length of each window (at least 1 ms).
    grace : datetime.timedelta, optional
        How long after its end (in stream time) a window still accepts late records.
    """

    __slots__ = ()

    def __init__(self, size: timedelta, grace: timedelta = timedelta(0)) -> None:
        super().__init__(size, size, grace)

    def __repr__(self) -> str:
        return (f"Tumbling(size={timedelta(milliseconds=self.size_ms)}, "
                f"grace={timedelta(milliseconds=self.grace_ms)})")


class Session(WindowSpec):
    """Windows of activity per key. A session ``[start, end)`` spans its first record's
    timestamp to its last one's + 1 ms; a record at ``ts`` joins it if
    ``start - gap <= ts < end + gap`` (extending it), and a record that joins two sessions
    merges them. A session closes once stream time reaches ``end + gap + grace``.

    Parameters
    ----------
    gap : datetime.timedelta
        The inactivity that ends a session (at least 1 ms).
    grace : datetime.timedelta, optional
        How long after a session could last have been extended it still accepts late records.
    merge : callable, optional
        ``merge(earlier_value, later_value) -> value``: combines the values of two sessions a
        record joins. Without it, the earlier session's value is kept and the later one's is
        dropped (a WARNING says so once per edge).
    """

    __slots__ = ("gap_ms", "merge")

    def __init__(self, gap: timedelta, grace: timedelta = timedelta(0),
                 merge: Callable[[Any, Any], Any] | None = None) -> None:
        self.gap_ms = _positive(gap, "gap")
        self.grace_ms = _grace(grace)
        if merge is not None and not callable(merge):
            raise TypeError(f"merge must be callable, got {merge!r}")
        self.merge = merge

    @property
    def default_retention_ms(self) -> int:
        return self.gap_ms + self.grace_ms

    def closes_at(self, window: TimeWindow) -> int:
        """The stream time (ms) at which ``window`` closes: records for it are late from then on.

        Parameters
        ----------
        window : goka.TimeWindow
            A window of this spec.
        """
        return window.end_ms + self.gap_ms + self.grace_ms

    def __repr__(self) -> str:
        return (f"Session(gap={timedelta(milliseconds=self.gap_ms)}, "
                f"grace={timedelta(milliseconds=self.grace_ms)})")
