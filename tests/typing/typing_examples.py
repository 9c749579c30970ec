"""Types of goka's public API as a type checker sees them (never run, only type-checked).

``test_mypy.py`` runs ``mypy --strict`` on this file. A line revealing a type ends with an
``R:`` comment giving the type mypy must reveal, exactly (``builtins.`` omitted); a line
ending with an ``E:`` comment must be reported with that error code; every other line
must be clean.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

import goka
from goka import codec
from goka.tester import Tester


class User(msgspec.Struct):
    name: str
    clicks: int = 0


@dataclasses.dataclass
class Click:
    user: str


# -- the group graph -------------------------------------------------------------------
def count(ctx: goka.Context, msg: User) -> None:
    ctx.set_value((ctx.value() or 0) + msg.clicks)


def graph() -> goka.GroupGraph:
    user_codec = codec.Json(type=User)
    reveal_type(user_codec)  # R: goka.codec.Json[typing_examples.User]
    edge = goka.Input("clicks", user_codec, count)
    reveal_type(edge)  # R: goka.graph.Input
    reveal_type(goka.Inputs(["a", "b"], codec.String(), count))  # R: goka.graph.Inputs
    reveal_type(goka.Output("out", codec.Int64()))  # R: goka.graph.Output
    reveal_type(goka.Loop(codec.Bytes(), count))  # R: goka.graph.Loop
    reveal_type(goka.Join("users-table", user_codec))  # R: goka.graph.Join
    reveal_type(goka.Lookup("other-table", user_codec))  # R: goka.graph.Lookup
    reveal_type(goka.Persist(codec.Int64()))  # R: goka.graph.Persist
    reveal_type(goka.Visitor("reset", count))  # R: goka.graph.Visitor
    group = goka.define_group("counter", edge, goka.Persist(codec.Int64()))
    reveal_type(group)  # R: goka.graph.GroupGraph
    reveal_type(group.group)  # R: str
    reveal_type(group.table_topic)  # R: str
    reveal_type(group.input_topics)  # R: list[str]
    reveal_type(goka.group_table("counter"))  # R: str
    reveal_type(goka.group_loop("counter"))  # R: str
    goka.define_group("counter", "clicks")  # E: arg-type
    return group


# -- codecs ----------------------------------------------------------------------------
def codecs(data: bytes) -> None:
    reveal_type(codec.Json(type=User).decode(data))  # R: typing_examples.User
    reveal_type(codec.Json(type=Click).decode(data))  # R: typing_examples.Click
    reveal_type(codec.MsgPack(type=User).decode(data))  # R: typing_examples.User
    reveal_type(codec.Json().decode(data))  # R: Any
    reveal_type(codec.Json(type=User).encode(User("ann")))  # R: bytes
    reveal_type(codec.String().decode(data))  # R: str
    reveal_type(codec.Int64().decode(data))  # R: int
    reveal_type(codec.Bytes().decode(data))  # R: bytes | None
    reveal_type(codec.Int64().encode(7))  # R: bytes
    reveal_type(codec.Json(type=User).type)  # R: Any
    as_protocol: codec.Codec[User] = codec.Json(type=User)
    reveal_type(as_protocol.decode(None))  # R: typing_examples.User
    as_str: codec.Codec[str] = codec.String()
    reveal_type(as_str)  # R: goka.codec.Codec[str]
    codec.Json(type=User).encode(42)  # E: arg-type
    codec.String().encode(b"bytes")  # E: arg-type
    codec.Int64().encode("7")  # E: arg-type
    wrong: codec.Codec[int] = codec.String()  # E: assignment


# -- the callback context --------------------------------------------------------------
def callback(ctx: goka.Context, msg: Any) -> None:
    reveal_type(ctx)  # R: goka._core._dispatch_py.Context
    reveal_type(ctx.key)  # R: str
    reveal_type(ctx.topic)  # R: str
    reveal_type(ctx.partition)  # R: int
    reveal_type(ctx.offset)  # R: int
    reveal_type(ctx.group)  # R: str
    reveal_type(ctx.timestamp)  # R: datetime.datetime
    reveal_type(ctx.headers)  # R: dict[str, bytes]
    reveal_type(ctx.value())  # R: Any
    reveal_type(ctx.set_value(1, headers={"h": b"v", "s": "text"}))  # R: None
    reveal_type(ctx.delete())  # R: None
    reveal_type(ctx.emit("out", "key", 1))  # R: None
    reveal_type(ctx.emit("out", b"key", 1, {"h": "v"}))  # R: None
    reveal_type(ctx.loopback("other-key", msg))  # R: None
    reveal_type(ctx.join("users-table"))  # R: Any
    reveal_type(ctx.lookup("other-table", "key"))  # R: Any
    done = ctx.defer_commit()
    reveal_type(done)  # R: def (*Any, **Any)
    reveal_type(ctx.fail)  # R: def (exc: BaseException | str)
    ctx.emit("out", 42, 1)  # E: arg-type
    ctx.key = "other"  # E: misc


# -- processor, view, emitter ----------------------------------------------------------
def runtime(group: goka.GroupGraph, tt: Tester) -> None:
    proc = goka.Processor(tt, group, initial_offset=goka.Offset.NEWEST,
                          nil_handling=goka.NilHandling.DECODE)
    reveal_type(proc)  # R: goka.processor.Processor
    reveal_type(proc.group)  # R: str
    reveal_type(proc.state)  # R: str
    reveal_type(proc.run())  # R: None
    reveal_type(proc.start())  # R: None
    reveal_type(proc.stop())  # R: None
    reveal_type(proc.wait_recovered(1.5))  # R: bool
    reveal_type(proc.get("key"))  # R: Any
    reveal_type(proc.visit_all("reset", None))  # R: int
    reveal_type(proc.stats())  # R: dict[str, Any]
    with goka.Processor(["localhost:9092"], group) as running:
        reveal_type(running)  # R: goka.processor.Processor
    goka.Processor(tt, "counter")  # E: arg-type

    view = goka.View(tt, "counter-table", codec.Int64())
    reveal_type(view)  # R: goka.view.View
    reveal_type(view.get("key"))  # R: Any
    reveal_type(view.has("key"))  # R: bool
    reveal_type(view.items(prefix="user-"))  # R: typing.Iterator[tuple[str, Any]]
    reveal_type(view.recovered())  # R: bool
    reveal_type(view.wait_recovered())  # R: bool
    with goka.View(tt, "counter-table", codec.Int64()) as opened:
        reveal_type(opened)  # R: goka.view.View

    emitter = goka.Emitter(tt, "clicks", codec.Json(type=User), hasher=goka.hash.murmur2)
    reveal_type(emitter)  # R: goka.emitter.Emitter
    reveal_type(emitter.emit("ann", User("ann")))  # R: concurrent.futures._base.Future[int]
    reveal_type(emitter.emit_sync("ann", User("ann"), {"h": b"v"}))  # R: int
    reveal_type(emitter.finish())  # R: None
    with goka.Emitter(tt, "clicks", codec.String()) as em:
        reveal_type(em)  # R: goka.emitter.Emitter
    goka.Emitter(tt, "clicks", codec.String(), hasher=len)  # E: arg-type

    reveal_type(goka.EmbeddedCluster)  # R: def (partitions: int =, *, brokers: int =, initial_rebalance_delay_ms: int =) -> goka.cluster.EmbeddedCluster


# -- the tester ------------------------------------------------------------------------
def tester(tt: Tester) -> None:
    reveal_type(tt.consume("clicks", "ann", User("ann")))  # R: None
    reveal_type(tt.table_value("counter-table", "ann"))  # R: Any
    reveal_type(tt.get_table_keys("counter-table"))  # R: list[str]
    tracker = tt.queue_tracker("out")
    reveal_type(tracker)  # R: goka.tester.queue.QueueTracker
    reveal_type(tracker.next())  # R: tuple[str | None, Any, bool]


# -- hashing ---------------------------------------------------------------------------
def hashing(key: str, raw: bytes) -> None:
    reveal_type(goka.hash.goka(key, 10))  # R: int
    reveal_type(goka.hash.murmur2(raw, 10))  # R: int
    reveal_type(goka.hash.crc32(key, 10))  # R: int
    reveal_type(goka.hash.fnv1a32(raw))  # R: int
    reveal_type(goka.hash.murmur2_32(key))  # R: int
    reveal_type(goka.hash.goka)  # R: def (key: bytes | str, n: int) -> int
    hasher: goka.hash.Hasher = goka.hash.crc32
    reveal_type(hasher)  # R: def (bytes | str, int) -> int
    goka.hash.goka(42, 10)  # E: arg-type


# -- connection settings, topics, hashers on readers ----------------------------------
def connection(group: goka.GroupGraph) -> None:
    kafka = goka.Kafka(["kafka:9092"], {"security.protocol": "SASL_SSL"})
    reveal_type(kafka)  # R: goka.kafka.Kafka
    reveal_type(kafka.bootstrap)  # R: str
    reveal_type(kafka.config)  # R: typing.Mapping[str, Any]
    reveal_type(goka.Kafka.from_properties("client.properties"))  # R: goka.kafka.Kafka
    goka.Processor(kafka, group, hasher=goka.hash.murmur2)
    goka.View(kafka, "t", codec.String(), hasher=goka.hash.murmur2)
    reveal_type(goka.Lookup("t", codec.String(), hasher=goka.hash.murmur2))  # R: goka.graph.Lookup
    goka.View(kafka, "t", codec.String(), hasher=len)  # E: arg-type
    with goka.TopicManager(kafka) as tm:
        reveal_type(tm)  # R: goka.topics.TopicManager
        reveal_type(tm.partitions("t"))  # R: list[int]
        reveal_type(tm.topics())  # R: list[str]
        reveal_type(tm.ensure_table("t", 4))  # R: None
        reveal_type(tm.describe("t"))  # R: goka.topics.TopicDescription
        reveal_type(tm.describe("t").high_watermarks)  # R: dict[int, int]
        reveal_type(tm.describe("t").compacted)  # R: bool | None
        tm.ensure_stream("t", "4")  # E: arg-type


# -- errors and options ----------------------------------------------------------------
def errors(tt: Tester) -> None:
    try:
        tt.consume("clicks", "ann", "x")
    except goka.CodecError as exc:
        reveal_type(exc)  # R: goka.errors.CodecError
    except goka.ProcessingError as exc:
        reveal_type(exc)  # R: goka.errors.ProcessingError
    except goka.GokaError as exc:
        reveal_type(exc)  # R: goka.errors.GokaError
    reveal_type(goka.Offset.OLDEST)  # R: Literal[goka.options.Offset.OLDEST]?
    reveal_type(goka.NilHandling.PROCESS)  # R: Literal[goka.options.NilHandling.PROCESS]?
    reveal_type(goka.__version__)  # R: str


# -- time: timers and windows ----------------------------------------------------------
def per_minute(ctx: goka.Context, click: str) -> None:
    window = ctx.window("per-minute")
    reveal_type(window)  # R: goka._core._window_handle_py.WindowHandle
    reveal_type(window.start)  # R: datetime.datetime
    window.set_value((window.value() or 0) + 1)
    reveal_type(ctx.windows("per-minute"))  # R: list[goka._core._window_handle_py.WindowHandle]


def minute_closed(ctx: goka.Context, window: goka.TimeWindow, clicks: int) -> None:
    reveal_type(window.end_ms)  # R: int
    ctx.emit("per-minute-counts", ctx.key, str(clicks))


def windows() -> None:
    from datetime import timedelta

    spec = goka.Tumbling(timedelta(minutes=1), grace=timedelta(seconds=10))
    edge = goka.Window("per-minute", spec, codec.Int64(), on_close=minute_closed)
    reveal_type(edge)  # R: goka.graph.Window
    goka.Window("per-minute", spec, codec.Int64(), on_close=count)  # E: arg-type
    reveal_type(goka.window_table("clicks", "per-minute"))  # R: str
    view = goka.View("localhost:9092", goka.window_table("g", "per-minute"), codec.Int64(), window=spec)
    reveal_type(view.window("ann", 0))  # R: tuple[goka.window.TimeWindow, Any] | None
    reveal_type(goka.Session(timedelta(minutes=5), merge=lambda a, b: a + b))  # R: goka.window.Session
