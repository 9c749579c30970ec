"""Exception classes of goka. Messages name group, topic, partition, offset and key."""
from __future__ import annotations

from typing import Any

__all__ = [
    "GokaError",
    "GroupError",
    "UndeclaredTopicError",
    "CodecError",
    "ProcessingError",
    "ProduceError",
    "CopartitionError",
    "ProcessorStoppedError",
    "EmitterClosedError",
    "EmitTimeoutError",
    "VisitAbortedError",
    "NotRecoveredError",
    "PartitionNotHeldError",
    "StorageError",
]


class GokaError(Exception):
    """Base class of every error goka raises on purpose."""


class GroupError(GokaError, ValueError):
    """A group graph is invalid (raised by ``define_group``)."""


class UndeclaredTopicError(GokaError):
    """``ctx.emit`` / ``ctx.join`` / ``ctx.lookup`` / ``ctx.loopback`` named an edge the group does not declare."""


def _where(
    group: str | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: str | bytes | None = None,
) -> str:
    parts = []
    if group is not None:
        parts.append(f"group={group!r}")
    if topic is not None:
        parts.append(f"topic={topic!r}")
    if partition is not None:
        parts.append(f"partition={partition}")
    if offset is not None:
        parts.append(f"offset={offset}")
    if key is not None:
        parts.append(f"key={key!r}")
    return ", ".join(parts)


class CodecError(GokaError):
    """A codec could not encode or decode a value.

    Attributes name where it happened; any of them may be ``None`` when unknown
    (e.g. a codec used outside a processor).
    """

    def __init__(
        self,
        message: str,
        *,
        codec: object = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: str | bytes | None = None,
        group: str | None = None,
    ) -> None:
        self.reason = message
        self.codec = codec
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.group = group
        super().__init__(self._text())

    def _text(self) -> str:
        codec = f"{type(self.codec).__name__}" if self.codec is not None else "codec"
        where = _where(self.group, self.topic, self.partition, self.offset, self.key)
        return f"{codec}: {self.reason}" + (f" ({where})" if where else "")

    def located(
        self,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: str | bytes | None = None,
        group: str | None = None,
    ) -> CodecError:
        """A copy of this error with the missing location fields filled in."""
        err = CodecError(
            self.reason,
            codec=self.codec,
            topic=self.topic if self.topic is not None else topic,
            partition=self.partition if self.partition is not None else partition,
            offset=self.offset if self.offset is not None else offset,
            key=self.key if self.key is not None else key,
            group=self.group if self.group is not None else group,
        )
        err.__cause__ = self.__cause__
        return err


class ProcessingError(GokaError):
    """A callback failed (exception, ``ctx.fail``, bad emit); the processor stops.

    The original exception is ``__cause__``; the message is not committed.
    ``by_fail`` is true when the callback called ``ctx.fail(exc)``: that stops the
    processor whatever the error policy.
    """

    by_fail: bool = False

    def __init__(
        self,
        message: str,
        *,
        group: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: str | None = None,
    ) -> None:
        self.group = group
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        where = _where(group, topic, partition, offset, key)
        super().__init__(f"error processing message ({where}): {message}")


class ProduceError(ProcessingError):
    """A record a processor produced (table write, emit, loopback) was refused, by the
    producer (e.g. larger than ``message.max.bytes``) or by the broker; the processor stops
    and commits neither the message that produced it nor any later one. ``Emitter.emit``
    raises it too for a record the producer refuses at once (no group, no input message).

    ``topic``/``partition``/``offset`` locate the input message that produced the record
    (``None`` where unknown, e.g. for a visit), ``key`` is the record's key,
    ``produce_topic``/``produce_partition`` where it was going and ``code`` the Kafka
    error code (``None`` if unknown).

    ``source`` is the input message as ``(topic, partition, offset)``; ``key`` may be bytes
    (decoded as UTF-8 for the message). ``record`` is the refused record as goka queued it
    (internal: lets the processor locate its input message, see :meth:`located`).
    """

    def __init__(
        self,
        reason: str,
        *,
        group: str | None = None,
        produce_topic: str,
        produce_partition: int,
        key: str | bytes | None = None,
        source: tuple[str, int, int] | None = None,
        code: int | None = None,
        record: Any = None,
    ) -> None:
        self.reason = reason
        self.produce_topic = produce_topic
        self.produce_partition = produce_partition
        self.code = code
        self.record = record
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        topic, partition, offset = source if source is not None else (None, None, None)
        super().__init__(f"could not produce to topic {produce_topic!r} partition {produce_partition}: {reason}",
                         group=group, topic=topic, partition=partition, offset=offset, key=key)

    def located(self, source: tuple[str, int, int] | None) -> ProduceError:
        """A copy naming ``source``, the input message that produced the record."""
        return ProduceError(self.reason, group=self.group, produce_topic=self.produce_topic,
                            produce_partition=self.produce_partition, key=self.key, source=source,
                            code=self.code)


class CopartitionError(GokaError):
    """Inputs, joins, loop and table of a group do not have equal, gap-free partition counts."""


class ProcessorStoppedError(GokaError):
    """A processor (or view) that was stopped or failed cannot be run again."""


class EmitterClosedError(GokaError):
    """An emit after ``Emitter.finish()``."""


class EmitTimeoutError(EmitterClosedError):
    """``Emitter.finish(timeout)`` expired with records not yet acknowledged by the broker.

    ``finish`` raises it, and every future still pending fails with it: such a record may
    or may not have been written (the broker may have received it without confirming).
    Attributes: ``topic``, ``pending`` (records unacknowledged when the timeout expired)
    and ``timeout`` (seconds).
    """

    def __init__(self, topic: str, pending: int, timeout: float) -> None:
        self.topic = topic
        self.pending = pending
        self.timeout = timeout
        super().__init__(f"emitter of topic {topic!r} finished with {pending} record(s) not acknowledged "
                         f"after {timeout:g} s (brokers unreachable?); they may or may not have been written")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.topic, self.pending, self.timeout))


class VisitAbortedError(GokaError):
    """``visit_all`` was interrupted by a rebalance or shutdown."""


class NotRecoveredError(GokaError):
    """A view or processor table was read before it was started/recovered."""


class PartitionNotHeldError(GokaError):
    """``Processor.get`` for a key whose partition this instance does not hold."""


class StorageError(GokaError):
    """Local table storage at ``path`` cannot be used, and goka cannot rebuild it (e.g. the
    path is not a directory, a damaged file cannot be removed, LMDB refuses to open).

    A store that is merely damaged is not an error: it is discarded with a WARNING and the
    table rebuilt from its topic. Attributes name the store; ``topic`` and ``partition`` may
    be ``None`` (a store opened outside a processor or view). The cause is ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        topic: str | None = None,
        partition: int | None = None,
    ) -> None:
        self.path = path
        self.topic = topic
        self.partition = partition
        where = _where(topic=topic, partition=partition)
        super().__init__(f"local storage {path!r}{f' ({where})' if where else ''}: {message}")
