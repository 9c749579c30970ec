"""goka for Python: stateful stream processing on Apache Kafka, after Go's Goka.

- **Emitters** put key-value events into Kafka topics.
- **Processors** run Python callbacks for the messages of a consumer group's input
  partitions; each callback may read and write the **group table** for the message's
  key (kept in LMDB locally and in the compacted ``<group>-table`` topic), emit to
  declared outputs, loop back under another key, join co-partitioned tables and look up
  any table.
- **Views** are read-only local replicas of a table.
- :mod:`goka.tester` runs processors in memory for unit tests.

Kafka is the distributed engine: start more processor instances in the same group to
spread the partitions over more processes and machines.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goka import codec, hash
from goka.context import Context
from goka.emitter import Emitter
from goka.errors import (
    CodecError,
    CopartitionError,
    EmitterClosedError,
    EmitTimeoutError,
    GokaError,
    GroupError,
    NotRecoveredError,
    PartitionNotHeldError,
    ProcessingError,
    ProduceError,
    ProcessorStoppedError,
    StorageError,
    UndeclaredTopicError,
    VisitAbortedError,
)
from goka.graph import (
    GroupGraph,
    Input,
    Inputs,
    Join,
    Lookup,
    Loop,
    Output,
    Persist,
    Timer,
    Visitor,
    Window,
    define_group,
    group_loop,
    group_table,
    group_timers,
)
from goka.kafka import Kafka
from goka.options import NilHandling, Offset
from goka.policy import DeadLetter, Fail, Retry, Skip
from goka.processor import Processor
from goka.topics import TopicManager
from goka.view import View
from goka.window import Hopping, Session, TimeWindow, Tumbling, window_table
from goka._core.window_handle import WindowHandle

if TYPE_CHECKING:
    from goka.cluster import EmbeddedCluster

__version__ = "0.1.0"

__all__ = (
    "CodecError",
    "Context",
    "CopartitionError",
    "DeadLetter",
    "EmbeddedCluster",
    "Emitter",
    "EmitterClosedError",
    "EmitTimeoutError",
    "Fail",
    "GokaError",
    "GroupError",
    "GroupGraph",
    "Input",
    "Inputs",
    "Join",
    "Kafka",
    "Lookup",
    "Loop",
    "NilHandling",
    "NotRecoveredError",
    "Offset",
    "Output",
    "PartitionNotHeldError",
    "Persist",
    "ProcessingError",
    "ProduceError",
    "Processor",
    "ProcessorStoppedError",
    "Retry",
    "Skip",
    "StorageError",
    "Timer",
    "Window",
    "Tumbling",
    "Hopping",
    "Session",
    "TimeWindow",
    "WindowHandle",
    "window_table",
    "TopicManager",
    "UndeclaredTopicError",
    "View",
    "VisitAbortedError",
    "Visitor",
    "codec",
    "define_group",
    "group_loop",
    "group_table",
    "group_timers",
    "hash",
)


def __getattr__(name: str) -> Any:
    # EmbeddedCluster loads librdkafka's mock cluster; import it only when asked for.
    if name == "EmbeddedCluster":
        from goka.cluster import EmbeddedCluster

        return EmbeddedCluster
    raise AttributeError(f"module 'goka' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy EmbeddedCluster too, so that dir(goka) and help(goka) list it
    return sorted({*globals(), *__all__})
