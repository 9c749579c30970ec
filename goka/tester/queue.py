"""In-memory topics of the tester: one queue per topic (one partition, offset = index)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from goka.tester.tester import Tester

__all__ = ["Record", "Queue", "QueueTracker"]


class Record(NamedTuple):
    """One message in a tester topic."""

    key: bytes
    value: bytes | None
    headers: dict[str, bytes] | None
    timestamp_ms: int


class Queue:
    """The messages of one topic, in order."""

    __slots__ = ("topic", "records")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.records: list[Record] = []

    def append(self, record: Record) -> int:
        self.records.append(record)
        return len(self.records) - 1

    @property
    def hwm(self) -> int:
        """The high watermark: the offset the next message will get."""
        return len(self.records)


class QueueTracker:
    """Reads what was written to one topic since the tracker was created.

    ``next()`` returns ``(key, value, True)`` for the next message, decoded with the
    topic's codec, or ``(None, None, False)`` when there is none.

    Parameters
    ----------
    tester : goka.tester.Tester
        The tester whose queue is read (use ``tester.queue_tracker(topic)``).
    topic : str
        The topic.
    codec : goka.codec.Codec, optional
        Decodes the values; default the codec of the edge declaring ``topic``.
    """

    def __init__(self, tester: Tester, topic: str, codec: Any = None) -> None:
        self._tester = tester
        self.topic = topic
        self._queue = tester._queue(topic)
        self._codec = codec
        self._offset = self._queue.hwm

    def _decode(self, data: bytes | None) -> Any:
        if data is None:
            return None
        codec = self._codec if self._codec is not None else self._tester._codec(self.topic)
        return codec.decode(data)

    def next_raw_with_headers(self) -> tuple[str | None, bytes | None, dict[str, bytes], bool]:
        if self._offset >= self._queue.hwm:
            return None, None, {}, False
        rec = self._queue.records[self._offset]
        self._offset += 1
        return rec.key.decode("utf-8", "surrogateescape"), rec.value, dict(rec.headers or {}), True

    def next_raw(self) -> tuple[str | None, bytes | None, bool]:
        key, value, _, ok = self.next_raw_with_headers()
        return key, value, ok

    def next_with_headers(self) -> tuple[str | None, Any, dict[str, bytes], bool]:
        key, value, headers, ok = self.next_raw_with_headers()
        return key, self._decode(value), headers, ok

    def next(self) -> tuple[str | None, Any, bool]:
        key, value, _, ok = self.next_with_headers()
        return key, value, ok

    def seek(self, offset: int) -> None:
        """Continue reading at ``offset``.

        Parameters
        ----------
        offset : int
            The queue offset of the next message to read (0 is the first message ever
            written to the topic; :meth:`hwm` the next one).
        """
        self._offset = offset

    def hwm(self) -> int:
        """The topic's high watermark (offset of the next message written)."""
        return self._queue.hwm

    def next_offset(self) -> int:
        """The offset ``next()`` reads next."""
        return self._offset
