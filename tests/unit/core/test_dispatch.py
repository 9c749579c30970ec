"""The processing step of ``goka._core.dispatch``, both twins: semantics, errors, differential."""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import goka
from goka import codec
from goka._core import _dispatch_py
from goka.errors import CodecError, ProcessingError, UndeclaredTopicError
from goka.options import NilHandling

EPOCH = datetime.fromtimestamp(0, timezone.utc)


class Sink:
    """Records what the dispatcher hands to the runtime."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, Any]] = []
        self.deferred: list[Callable[..., None]] = []

    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Any) -> None:
        self.records.append((topic, key, value, headers))

    def defer(self) -> Callable[..., None]:
        def done(exc: BaseException | None = None) -> None:
            pass

        self.deferred.append(done)
        return done


class Table:
    """A dict as the group table (``None`` deletes)."""

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data = dict(data or {})

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value


class Recording(codec.String):
    """String codec that records its decode calls."""

    def __init__(self) -> None:
        self.decoded: list[bytes | None] = []

    def decode(self, data: bytes | None) -> str:
        self.decoded.append(data)
        return super().decode(data)


class Exploding:
    """A user codec whose methods raise plain exceptions."""

    def encode(self, value: Any) -> bytes:
        raise ArithmeticError("no encode")

    def decode(self, data: bytes | None) -> Any:
        raise LookupError("no decode")


def build(
    dispatch: ModuleType,
    callback: Callable[[Any, Any], None],
    *edges: Any,
    input_codec: Any = None,
    table: Table | None = None,
    partition: int = 0,
    **kw: Any,
) -> tuple[Any, Sink, Table]:
    graph = goka.define_group("g", goka.Input("in", input_codec or codec.String(), callback), *edges)
    sink = Sink()
    table = table if table is not None else Table()
    d = dispatch.Dispatcher(graph, partition, sink, table=table, **kw)
    return d, sink, table


def failing(dispatch: ModuleType, action: Callable[[Any], Any], *edges: Any, **kw: Any) -> ProcessingError:
    d, _, _ = build(dispatch, lambda ctx, msg: action(ctx), *edges, **kw)
    with pytest.raises(ProcessingError) as info:
        d.process("in", 7, b"k", b"m")
    return info.value


# --- metadata --------------------------------------------------------------------------


def test_metadata(dispatch: ModuleType) -> None:
    seen = []

    def cb(ctx: Any, msg: Any) -> None:
        seen.append((msg, ctx.key, ctx.topic, ctx.partition, ctx.offset, ctx.group, ctx.timestamp, ctx.headers))

    d, _, _ = build(dispatch, cb, partition=3)
    assert d.process("in", 41, b"user-1", b"hello", 1_700_000_000_123, [("h", b"v")]) is True
    when = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)
    assert seen == [("hello", "user-1", "in", 3, 41, "g", when, {"h": b"v"})]
    assert seen[0][6].tzinfo is timezone.utc


def test_context_is_reused_and_is_the_twins_class(dispatch: ModuleType) -> None:
    ctxs = []
    d, _, _ = build(dispatch, lambda ctx, msg: ctxs.append(ctx))
    d.process("in", 0, b"a", b"x")
    d.process("in", 1, b"b", b"y")
    assert ctxs[0] is ctxs[1] is d.ctx
    assert type(ctxs[0]) is dispatch.Context


def test_null_and_non_utf8_keys(dispatch: ModuleType) -> None:
    keys = []

    def cb(ctx: Any, msg: Any) -> None:
        keys.append(ctx.key)
        ctx.set_value(msg)

    d, sink, table = build(dispatch, cb, goka.Persist(codec.String()))
    d.process("in", 0, None, b"a")
    d.process("in", 1, b"\xff\xfe", b"b")
    assert keys[0] == ""
    assert keys[1].encode("utf-8", "surrogateescape") == b"\xff\xfe"
    assert table.data == {b"": b"a", b"\xff\xfe": b"b"}
    assert [r[1] for r in sink.records] == [b"", b"\xff\xfe"]


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (None, EPOCH),
        (-1, EPOCH),
        (0, EPOCH),
        (1_500, EPOCH + timedelta(seconds=1.5)),
        (1_714_566_600_000, datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)),
    ],
)
def test_timestamp(dispatch: ModuleType, ts: int | None, expected: datetime) -> None:
    seen = []
    d, _, _ = build(dispatch, lambda ctx, msg: seen.append(ctx.timestamp))
    d.process("in", 0, b"k", b"v", ts)
    assert seen == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {}),
        ([], {}),
        ([("a", b"1"), ("b", b"2"), ("a", b"3")], {"a": b"3", "b": b"2"}),  # last wins
        ([("a", None), ("s", "text"), ("m", memoryview(b"mv"))], {"a": b"", "s": b"text", "m": b"mv"}),
        ({"a": b"1", "s": "x", "n": None}, {"a": b"1", "s": b"x", "n": b""}),
        ((("t", b"1"), ("t", b"2")), {"t": b"2"}),
    ],
)
def test_headers(dispatch: ModuleType, raw: Any, expected: dict[str, bytes]) -> None:
    seen = []

    def cb(ctx: Any, msg: Any) -> None:
        seen.append(ctx.headers)
        seen.append(ctx.headers)

    d, _, _ = build(dispatch, cb)
    d.process("in", 0, b"k", b"v", None, raw)
    assert seen[0] == expected
    assert seen[0] is seen[1]  # computed once per message
    d.process("in", 1, b"k", b"v")
    assert seen[2] == {}


# --- group table -----------------------------------------------------------------------


def test_value_set_value_delete(dispatch: ModuleType) -> None:
    seen = []

    def cb(ctx: Any, msg: Any) -> None:
        seen.append(ctx.value())
        if msg == "del":
            ctx.delete(headers={"why": b"gone"})
        else:
            ctx.set_value((ctx.value() or 0) + int(msg), headers={"h": "1"})
        seen.append(ctx.value())

    d, sink, table = build(dispatch, cb, goka.Persist(codec.Int64()), table=Table({b"b": b"40"}))
    d.process("in", 0, b"a", b"1")
    d.process("in", 1, b"a", b"2")
    d.process("in", 2, b"b", b"2")
    d.process("in", 3, b"a", b"del")
    assert seen == [None, 1, 1, 3, 40, 42, 3, None]
    assert table.data == {b"b": b"42"}
    assert sink.records == [
        ("g-table", b"a", b"1", {"h": "1"}),
        ("g-table", b"a", b"3", {"h": "1"}),
        ("g-table", b"b", b"42", {"h": "1"}),
        ("g-table", b"a", None, {"why": b"gone"}),
    ]


def test_set_none_is_an_error(dispatch: ModuleType) -> None:
    err = failing(dispatch, lambda ctx: ctx.set_value(None), goka.Persist(codec.Int64()))
    assert type(err.__cause__) is ValueError
    assert str(err.__cause__) == "cannot set a None value; use ctx.delete() to remove the key"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"0", 0), (b"-0", 0), (b"+7", 7), (b"007", 7), (b"-12", -12),
        (b"999999999999999999", 999999999999999999),
        (b"-999999999999999999", -999999999999999999),
        (b"9223372036854775807", 9223372036854775807),
        (b"-9223372036854775808", -9223372036854775808),
        (b"0000000000000000000000042", 42),
    ],
)
def test_int64_table_values(dispatch: ModuleType, data: bytes, expected: int) -> None:
    seen = []
    d, _, _ = build(dispatch, lambda ctx, msg: seen.append(ctx.value()), goka.Persist(codec.Int64()),
                    table=Table({b"k": data}))
    d.process("in", 0, b"k", b"m")
    assert seen == [expected] and type(seen[0]) is int


@pytest.mark.parametrize(
    "data", [b"", b"-", b"+", b" 5", b"5 ", b"5_0", b"1e3", b"+-5", b"--5", b"\xd9\xa1",
             b"9223372036854775808", b"-9223372036854775809"],
)
def test_bad_table_value_is_a_codec_error(dispatch: ModuleType, data: bytes) -> None:
    err = failing(dispatch, lambda ctx: ctx.value(), goka.Persist(codec.Int64()), table=Table({b"k": data}),
                  partition=2)
    cause = err.__cause__
    assert type(cause) is CodecError
    assert (cause.topic, cause.partition, cause.key, cause.group, cause.offset) == ("g-table", 2, "k", "g", None)
    assert isinstance(cause.codec, codec.Int64)
    assert str(cause) == (f"Int64: not an int64 in decimal text: {data!r:.40} "
                          "(group='g', topic='g-table', partition=2, key='k')")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, b"0"), (-1, b"-1"), (10, b"10"), (2**63 - 1, b"9223372036854775807"),
     (-(2**63), b"-9223372036854775808"), (NilHandling.DECODE, b"2")],
)
def test_int64_encode(dispatch: ModuleType, value: int, expected: bytes) -> None:
    d, sink, _ = build(dispatch, lambda ctx, msg: ctx.set_value(value), goka.Persist(codec.Int64()))
    d.process("in", 0, b"k", b"m")
    assert sink.records == [("g-table", b"k", expected, None)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [(True, "cannot encode bool, want int"), (2**63, "9223372036854775808 is out of int64 range"),
     ("3", "cannot encode str, want int"), (1.0, "cannot encode float, want int")],
)
def test_encode_error_is_located(dispatch: ModuleType, value: Any, reason: str) -> None:
    err = failing(dispatch, lambda ctx: ctx.set_value(value), goka.Persist(codec.Int64()))
    cause = err.__cause__
    assert type(cause) is CodecError and cause.reason == reason
    assert (cause.topic, cause.partition, cause.key, cause.group) == ("g-table", 0, "k", "g")
    assert str(err) == ("error processing message (group='g', topic='in', partition=0, offset=7, key='k'): "
                        f"CodecError: {cause}")


def test_user_codec_errors_are_wrapped(dispatch: ModuleType) -> None:
    err = failing(dispatch, lambda ctx: ctx.set_value(1), goka.Persist(Exploding()))
    cause = err.__cause__
    assert type(cause) is CodecError and cause.reason == "cannot encode int value: no encode"
    assert type(cause.__cause__) is ArithmeticError and cause.topic == "g-table"
    err = failing(dispatch, lambda ctx: ctx.value(), goka.Persist(Exploding()), table=Table({b"k": b"1"}))
    cause = err.__cause__
    assert type(cause) is CodecError and cause.reason == "cannot decode table value: no decode"
    assert type(cause.__cause__) is LookupError and cause.key == "k"


def test_no_persist(dispatch: ModuleType) -> None:
    for action, name in [(lambda ctx: ctx.value(), "value"), (lambda ctx: ctx.set_value(1), "set_value"),
                         (lambda ctx: ctx.delete(), "delete")]:
        err = failing(dispatch, action)  # a table is given, but the group persists nothing
        assert type(err.__cause__) is UndeclaredTopicError
        assert str(err.__cause__) == f"group 'g' has no Persist edge: {name}() needs a group table"


# --- other topics ----------------------------------------------------------------------


def test_emit(dispatch: ModuleType) -> None:
    def cb(ctx: Any, msg: Any) -> None:
        ctx.emit("out", "str-key", {"n": 1})
        ctx.emit("out", b"bytes-key", [1, 2], headers={"x": b"y"})
        ctx.emit("out", bytearray(b"ba"), "v")
        ctx.emit("out", memoryview(b"mv"), None)
        ctx.emit("raw", "\udcff", b"raw")
        ctx.emit("raw", "k", bytearray(b"ba"))

    d, sink, _ = build(dispatch, cb, goka.Output("out", codec.Json()), goka.Output("raw", codec.Bytes()))
    d.process("in", 0, b"k", b"m")
    assert sink.records == [
        ("out", b"str-key", b'{"n":1}', None),
        ("out", b"bytes-key", b"[1,2]", {"x": b"y"}),
        ("out", b"ba", b'"v"', None),
        ("out", b"mv", None, None),
        ("raw", b"\xff", b"raw", None),
        ("raw", b"k", b"ba", None),
    ]


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("nowhere", "group 'g': cannot emit to 'nowhere', it is not declared as an Output"),
        ("g-loop", "group 'g': cannot emit to 'g-loop', it is not declared as an Output; use ctx.loopback()"),
        ("g-table", "group 'g': cannot emit to 'g-table', it is not declared as an Output; use ctx.set_value()"),
    ],
)
def test_emit_undeclared(dispatch: ModuleType, topic: str, message: str) -> None:
    err = failing(dispatch, lambda ctx: ctx.emit(topic, "k", "v"))
    assert type(err.__cause__) is UndeclaredTopicError and str(err.__cause__) == message
    assert str(err) == ("error processing message (group='g', topic='in', partition=0, offset=7, key='k'): "
                        f"UndeclaredTopicError: {message}")


def test_emit_bad_key(dispatch: ModuleType) -> None:
    err = failing(dispatch, lambda ctx: ctx.emit("out", 42, "v"), goka.Output("out", codec.String()))
    assert type(err.__cause__) is TypeError and str(err.__cause__) == "key must be str or bytes, got int"


def test_emit_encode_error(dispatch: ModuleType) -> None:
    err = failing(dispatch, lambda ctx: ctx.emit("out", "x", "\ud800"), goka.Output("out", codec.String()))
    cause = err.__cause__
    assert type(cause) is CodecError and cause.reason.startswith("cannot encode str as UTF-8: ")
    assert type(cause.__cause__) is UnicodeEncodeError
    assert (cause.topic, cause.key) == ("out", "k")


def test_loopback(dispatch: ModuleType) -> None:
    seen = []

    def on_input(ctx: Any, msg: Any) -> None:
        ctx.loopback("other", {"from": ctx.key}, headers={"l": b"1"})

    def on_loop(ctx: Any, msg: Any) -> None:
        seen.append((ctx.topic, ctx.key, msg))

    d, sink, _ = build(dispatch, on_input, goka.Loop(codec.Json(), on_loop))
    d.process("in", 0, b"k", b"m")
    assert sink.records == [("g-loop", b"other", b'{"from":"k"}', {"l": b"1"})]
    topic, key, value, _ = sink.records[0]
    assert d.process(topic, 0, key, value) is True
    assert seen == [("g-loop", "other", {"from": "k"})]


def test_loopback_undeclared(dispatch: ModuleType) -> None:
    err = failing(dispatch, lambda ctx: ctx.loopback("k", "v"))
    assert type(err.__cause__) is UndeclaredTopicError
    assert str(err.__cause__) == "group 'g' has no Loop edge: cannot loopback"


def test_join(dispatch: ModuleType) -> None:
    asked = []
    users = {b"k": b'{"name":"ann"}', b"bad": b"{"}

    def getter(key: bytes) -> bytes | None:
        asked.append(key)
        return users.get(key)

    seen = []
    d, _, _ = build(dispatch, lambda ctx, msg: seen.append(ctx.join("users")),
                    goka.Join("users", codec.Json()), joins={"users": getter})
    d.process("in", 0, b"k", b"m")
    d.process("in", 1, b"none", b"m")
    assert seen == [{"name": "ann"}, None] and asked == [b"k", b"none"]
    with pytest.raises(ProcessingError) as info:
        d.process("in", 2, b"bad", b"m")
    cause = info.value.__cause__
    assert type(cause) is CodecError and cause.reason.startswith("cannot decode joined value: Json: ")
    assert (cause.topic, cause.key, cause.partition, cause.offset) == ("users", "bad", 0, None)
    assert type(cause.__cause__) is CodecError


def test_join_and_lookup_undeclared(dispatch: ModuleType) -> None:
    err = failing(dispatch, lambda ctx: ctx.join("t"))
    assert str(err.__cause__) == "group 'g': table 't' is not declared as a Join"
    err = failing(dispatch, lambda ctx: ctx.lookup("t", "k"))
    assert str(err.__cause__) == "group 'g': table 't' is not declared as a Lookup"
    assert type(err.__cause__) is UndeclaredTopicError


def test_lookup(dispatch: ModuleType) -> None:
    seen = []
    d, _, _ = build(dispatch, lambda ctx, msg: seen.append(ctx.lookup("devices", msg)),
                    goka.Lookup("devices", codec.Json()), lookups={"devices": lambda key: {"id": key}})
    d.process("in", 0, b"k", b"dev-1")
    assert seen == [{"id": "dev-1"}]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"table": None}, "group 'g' persists a table: the dispatcher needs table access"),
        ({"joins": {}}, "group 'g': no getter for joined tables ['users']"),
        ({"lookups": {"x": None}}, "group 'g': no getter for looked-up tables ['devices']"),
    ],
)
def test_construction_errors(dispatch: ModuleType, kw: dict[str, Any], message: str) -> None:
    graph = goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: None),
                              goka.Persist(codec.Int64()), goka.Join("users", codec.Json()),
                              goka.Lookup("devices", codec.Json()))
    args: dict[str, Any] = {"table": Table(), "joins": {"users": lambda k: None},
                            "lookups": {"devices": lambda k: None}, **kw}
    with pytest.raises(ValueError) as info:
        dispatch.Dispatcher(graph, 0, Sink(), **args)
    assert str(info.value) == message


def test_table_ignored_without_persist(dispatch: ModuleType) -> None:
    d, _, _ = build(dispatch, lambda ctx, msg: None)
    assert d.table is None and d.table_codec is None


# --- nil handling, routing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("nil", "called", "msg", "decoded"),
    [
        (NilHandling.IGNORE, False, None, []),
        (NilHandling.PROCESS, True, None, []),
        (NilHandling.DECODE, True, "", [None]),
        (2, True, "", [None]),
    ],
)
def test_nil_handling(dispatch: ModuleType, nil: Any, called: bool, msg: Any, decoded: list[Any]) -> None:
    seen = []
    rec = Recording()
    d, _, _ = build(dispatch, lambda ctx, m: seen.append(m), input_codec=rec, nil_handling=nil)
    assert d.nil_handling is NilHandling(nil)
    assert d.process("in", 0, b"k", None) is called
    assert seen == ([msg] if called else [])
    assert rec.decoded == decoded


def test_undeclared_input_topic(dispatch: ModuleType) -> None:
    d, _, _ = build(dispatch, lambda ctx, msg: None, partition=4)
    with pytest.raises(ProcessingError) as info:
        d.process("other", 9, b"k", b"v")
    err = info.value
    assert (err.group, err.topic, err.partition, err.offset, err.key) == ("g", "other", 4, 9, None)
    assert str(err) == ("error processing message (group='g', topic='other', partition=4, offset=9): "
                        "group does not consume topic 'other'")
    assert err.__cause__ is None


def test_inputs_route_to_their_callbacks(dispatch: ModuleType) -> None:
    seen = []
    graph = goka.define_group(
        "g",
        goka.Inputs(["a", "b"], codec.String(), lambda ctx, msg: seen.append(("ab", ctx.topic, msg))),
        goka.Input("n", codec.Int64(), lambda ctx, msg: seen.append(("n", ctx.topic, msg))),
    )
    d = dispatch.Dispatcher(graph, 0, Sink())
    d.process("b", 0, b"k", b"x")
    d.process("n", 0, b"k", b"5")
    d.process("a", 1, b"k", b"y")
    assert seen == [("ab", "b", "x"), ("n", "n", 5), ("ab", "a", "y")]


# --- decode errors ---------------------------------------------------------------------


def test_input_decode_error_is_located(dispatch: ModuleType) -> None:
    called = []
    d, _, _ = build(dispatch, lambda ctx, msg: called.append(msg), partition=5)
    with pytest.raises(CodecError) as info:
        d.process("in", 12, b"\xffkey", b"\xff\xfe")
    err = info.value
    assert not called
    assert (err.group, err.topic, err.partition, err.offset) == ("g", "in", 5, 12)
    assert err.key == b"\xffkey".decode("utf-8", "surrogateescape")
    assert err.reason.startswith("invalid UTF-8: ") and isinstance(err.codec, codec.String)
    assert type(err.__cause__) is UnicodeDecodeError
    assert str(err).startswith("String: invalid UTF-8: ")
    assert str(err).endswith("(group='g', topic='in', partition=5, offset=12, key='\\udcffkey')")


def test_input_decode_error_of_a_user_codec(dispatch: ModuleType) -> None:
    d, _, _ = build(dispatch, lambda ctx, msg: None, input_codec=Exploding())
    with pytest.raises(CodecError) as info:
        d.process("in", 3, None, b"x")
    err = info.value
    assert err.reason == "cannot decode message: no decode" and err.key == "" and err.offset == 3
    assert type(err.__cause__) is LookupError


def test_int64_input_decode_error(dispatch: ModuleType) -> None:
    graph = goka.define_group("g", goka.Input("n", codec.Int64(), lambda ctx, msg: None))
    d = dispatch.Dispatcher(graph, 1, Sink())
    with pytest.raises(CodecError) as info:
        d.process("n", 0, b"k", b"12a")
    assert str(info.value) == ("Int64: not an int64 in decimal text: b'12a' "
                               "(group='g', topic='n', partition=1, offset=0, key='k')")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- failures --------------------------------------------------------------------------


def test_callback_exception(dispatch: ModuleType) -> None:
    boom = KeyError("boom")

    def cb(ctx: Any, msg: Any) -> None:
        raise boom

    d, _, _ = build(dispatch, cb, partition=1)
    with pytest.raises(ProcessingError) as info:
        d.process("in", 5, b"key", b"v")
    err = info.value
    assert err.__cause__ is boom
    assert (err.group, err.topic, err.partition, err.offset, err.key) == ("g", "in", 1, 5, "key")
    assert str(err) == ("error processing message (group='g', topic='in', partition=1, offset=5, key='key'): "
                        "KeyError: 'boom'")


def test_fail(dispatch: ModuleType) -> None:
    exc = ValueError("bad input")
    err = failing(dispatch, lambda ctx: ctx.fail(exc))
    assert err.__cause__ is exc
    assert str(err).endswith(": ValueError: bad input")
    err = failing(dispatch, lambda ctx: ctx.fail("just text"))
    assert type(err.__cause__) is RuntimeError and str(err.__cause__) == "just text"


def test_swallowed_fail_still_stops(dispatch: ModuleType) -> None:
    exc = ValueError("swallowed")

    def action(ctx: Any) -> None:
        try:
            ctx.fail(exc)
        except ValueError:
            pass

    err = failing(dispatch, action)
    assert err.__cause__ is exc and str(err).endswith(": ValueError: swallowed")


def test_fail_does_not_leak_into_the_next_message(dispatch: ModuleType) -> None:
    def cb(ctx: Any, msg: Any) -> None:
        if msg == "fail":
            ctx.fail("x")

    d, _, _ = build(dispatch, cb)
    with pytest.raises(ProcessingError):
        d.process("in", 0, b"k", b"fail")
    assert d.process("in", 1, b"k", b"ok") is True


def test_base_exceptions_are_not_wrapped(dispatch: ModuleType) -> None:
    def cb(ctx: Any, msg: Any) -> None:
        raise KeyboardInterrupt

    d, _, _ = build(dispatch, cb)
    with pytest.raises(KeyboardInterrupt):
        d.process("in", 0, b"k", b"v")


def test_defer_commit(dispatch: ModuleType) -> None:
    got = []
    d, sink, _ = build(dispatch, lambda ctx, msg: got.append(ctx.defer_commit()))
    d.process("in", 0, b"k", b"v")
    assert got == sink.deferred and len(got) == 1


# --- visit -----------------------------------------------------------------------------


def test_visit(dispatch: ModuleType) -> None:
    seen = []

    def on_visit(ctx: Any, meta: Any) -> None:
        seen.append((ctx.topic, ctx.key, ctx.offset, ctx.headers, ctx.timestamp, meta))
        ctx.set_value(meta)

    d, sink, table = build(dispatch, lambda ctx, msg: None, goka.Persist(codec.Int64()),
                           goka.Visitor("reset", on_visit))
    before = datetime.now(timezone.utc)
    d.visit("reset", b"user-1", 0)
    topic, key, offset, headers, ts, meta = seen[0]
    assert (topic, key, offset, headers, meta) == ("reset", "user-1", 0, {}, 0)
    assert before - timedelta(seconds=1) <= ts <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert table.data == {b"user-1": b"0"} and sink.records == [("g-table", b"user-1", b"0", None)]


def test_visit_errors(dispatch: ModuleType) -> None:
    def on_visit(ctx: Any, meta: Any) -> None:
        raise RuntimeError(meta)

    d, _, _ = build(dispatch, lambda ctx, msg: None, goka.Persist(codec.Int64()), goka.Visitor("v", on_visit))
    with pytest.raises(UndeclaredTopicError, match="^group 'g' has no visitor 'nope'$"):
        d.visit("nope", b"k", None)
    with pytest.raises(ProcessingError) as info:
        d.visit("v", b"k", "oops")
    err = info.value
    assert type(err.__cause__) is RuntimeError
    assert str(err) == ("error processing message (group='g', topic='v', partition=0, offset=0, key='k'): "
                        "RuntimeError: oops")


# --- interface -------------------------------------------------------------------------


def _public(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_"))


def test_interface(dispatch: ModuleType) -> None:
    py = _dispatch_py
    assert sorted(dispatch.__all__) == sorted(py.__all__)
    assert dispatch.Sink is py.Sink and dispatch.TableAccess is py.TableAccess
    assert _public(dispatch.Context) == _public(py.Context) == [
        "cancel_timers", "defer_commit", "delete", "emit", "fail", "group", "headers", "join", "key", "lookup",
        "loopback", "offset", "partition", "schedule", "set_value", "timestamp", "topic", "value", "window",
        "windows"]
    assert _public(dispatch.Dispatcher) == _public(py.Dispatcher)
    for cls, ref in [(dispatch.Context, py.Context), (dispatch.Dispatcher, py.Dispatcher)]:
        for name in _public(ref):
            member = inspect.getattr_static(ref, name)
            if callable(member):
                assert list(inspect.signature(getattr(cls, name)).parameters) == list(
                    inspect.signature(member).parameters), name
            else:  # a property or an attribute in both
                assert not callable(inspect.getattr_static(cls, name)), name


def test_dispatch_exports_the_loaded_twin() -> None:
    from goka._core import dispatch, loaded

    assert dispatch.Context is loaded["dispatch"].Context is goka.Context
    assert dispatch.Dispatcher is loaded["dispatch"].Dispatcher
    pure = os.environ.get("GOKA_NO_EXTENSIONS", "") not in ("", "0")
    assert loaded["dispatch"].__name__ == ("goka._core._dispatch_py" if pure else "goka._core._dispatch_c")


# --- differential: compiled twin == pure twin ------------------------------------------

GROUP_TOPICS = ["in", "in", "in", "nums", "g-loop", "unknown"]  # weighted
COMMANDS = ["get", "add", "del", "emit", "emit-none", "loop", "join", "lookup", "meta", "fail", "swallow",
            "raise", "bad-set", "bad-key", "set-str", "defer", "undeclared"]


def _run_group(mod: ModuleType, table: dict[bytes, bytes], joined: dict[bytes, bytes], nil: int,
               messages: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    log: list[Any] = []

    def observe(ctx: Any, what: Callable[[], Any]) -> None:
        try:
            log.append(what())
        except Exception as exc:  # noqa: BLE001 - record the error as data
            log.append((type(exc).__name__, str(exc)))

    def on_input(ctx: Any, msg: Any) -> None:
        log.append((ctx.topic, ctx.key, ctx.offset, ctx.partition, ctx.timestamp, ctx.headers, msg))
        cmd = msg if msg in COMMANDS else "add"
        observe(ctx, ctx.value)
        if cmd == "add":
            n = msg if isinstance(msg, int) else 1
            observe(ctx, lambda: ctx.set_value((ctx.value() or 0) + n))
        elif cmd == "del":
            ctx.delete()
        elif cmd == "emit":
            ctx.emit("out", ctx.key, {"k": ctx.key, "v": ctx.value()}, headers={"h": ctx.key})
        elif cmd == "emit-none":
            ctx.emit("raw", ctx.key, None)
        elif cmd == "loop":
            ctx.loopback(ctx.key, 1)
        elif cmd == "join":
            observe(ctx, lambda: ctx.join("j"))
        elif cmd == "lookup":
            log.append(ctx.lookup("l", ctx.key))
        elif cmd == "fail":
            ctx.fail(f"failed {ctx.key}")
        elif cmd == "swallow":
            try:
                ctx.fail(ValueError("swallowed"))
            except ValueError:
                pass
        elif cmd == "raise":
            raise KeyError(ctx.key)
        elif cmd == "bad-set":
            ctx.set_value("not an int")
        elif cmd == "bad-key":
            ctx.emit("raw", 3.5, b"x")
        elif cmd == "set-str":
            ctx.emit("raw", ctx.key, ctx.key.encode("utf-8", "surrogateescape"))
        elif cmd == "defer":
            log.append(ctx.defer_commit() is not None)
        elif cmd == "undeclared":
            ctx.emit("g-table", "k", 1)

    def on_loop(ctx: Any, msg: Any) -> None:
        log.append(("loop", ctx.key, msg, ctx.headers))
        observe(ctx, lambda: ctx.set_value((ctx.value() or 0) + msg))

    graph = goka.define_group(
        "g",
        goka.Input("in", codec.String(), on_input),
        goka.Input("nums", codec.Int64(), on_input),
        goka.Loop(codec.Int64(), on_loop),
        goka.Output("out", codec.Json()),
        goka.Output("raw", codec.Bytes()),
        goka.Join("j", codec.Int64()),
        goka.Lookup("l", codec.String()),
        goka.Persist(codec.Int64()),
    )
    sink, t = Sink(), Table(table)
    d = mod.Dispatcher(graph, 0, sink, table=t, joins={"j": joined.get}, lookups={"l": lambda k: k.upper()},
                       nil_handling=nil)
    results: list[Any] = []
    for topic, offset, key, value, ts, headers in messages:
        try:
            results.append(d.process(topic, offset, key, value, ts, headers))
        except Exception as exc:  # noqa: BLE001
            cause = exc.__cause__
            results.append((type(exc).__name__, str(exc), type(cause).__name__, str(cause),
                            getattr(exc, "__suppress_context__", None)))
    return results, log, sink.records, t.data


int64_text = st.from_regex(rb"\A[+-]?[0-9]{0,21}\Z")
commands = st.sampled_from([c.encode() for c in COMMANDS])
payloads = st.one_of(commands, st.one_of(int64_text, st.binary(max_size=6), st.none()))  # half commands
header_values = st.one_of(st.binary(max_size=3), st.text(max_size=3), st.none())
header_lists = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), header_values), max_size=4)
headers = st.one_of(st.none(), header_lists, header_lists.map(dict))
keys = st.one_of(st.none(), st.sampled_from([b"a", b"b", b"\xff", b""]), st.binary(max_size=4))
timestamps = st.one_of(st.none(), st.integers(min_value=-5, max_value=4_102_444_800_000))
messages = st.lists(
    st.tuples(st.sampled_from(GROUP_TOPICS), st.integers(0, 2**40), keys, payloads, timestamps, headers),
    max_size=25,
)
tables = st.dictionaries(st.sampled_from([b"a", b"b", b"\xff", b""]), st.one_of(int64_text, st.binary(max_size=4)),
                         max_size=4)


@settings(max_examples=300, deadline=None)
@given(table=tables, joined=tables, nil=st.sampled_from([0, 1, 2]), msgs=messages)
def test_differential(dispatch_c: ModuleType, table: dict[bytes, bytes], joined: dict[bytes, bytes], nil: int,
                      msgs: list[tuple[Any, ...]]) -> None:
    c = _run_group(dispatch_c, table, joined, nil, msgs)
    py = _run_group(_dispatch_py, table, joined, nil, msgs)
    # timestamps, headers and values all compare equal; records carry the same bytes
    assert c == py


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.integers(), st.text(max_size=8), st.binary(max_size=8), st.booleans(), st.none(),
                       st.floats(allow_nan=False), st.builds(bytearray, st.binary(max_size=4))),
       data=st.one_of(int64_text, st.binary(max_size=12), st.text(max_size=6).map(str.encode)))
def test_differential_codecs(dispatch_c: ModuleType, value: Any, data: bytes) -> None:
    """The compiled twin's inline String/Int64/Bytes paths agree with the codecs themselves."""

    def outcome(mod: ModuleType, persist: Any, input_codec: Any) -> Any:
        out: list[Any] = []

        def cb(ctx: Any, msg: Any) -> None:
            out.append(msg)
            try:
                out.append(ctx.value())
            except CodecError as exc:
                out.append(str(exc))
            ctx.set_value(value)

        d, sink, _ = build(mod, cb, goka.Persist(persist), input_codec=input_codec, table=Table({b"k": data}))
        try:
            d.process("in", 0, b"k", data)
        except (CodecError, ProcessingError) as exc:
            out.append((type(exc).__name__, str(exc), type(exc.__cause__).__name__, str(exc.__cause__)))
        return out, sink.records

    for make in (codec.String, codec.Int64, codec.Bytes):
        assert outcome(dispatch_c, make(), make()) == outcome(_dispatch_py, make(), make())


def test_headers_from_a_function(dispatch: ModuleType) -> None:
    """Raw headers may be a function (confluent-kafka's ``msg.headers``): called once, and
    only when the callback reads ``ctx.headers``."""
    calls: list[int] = []
    seen: list[Any] = []

    def raw() -> list[tuple[str, bytes]]:
        calls.append(1)
        return [("a", b"1"), ("a", b"2")]

    def cb(ctx: Any, msg: Any) -> None:
        if msg == "read":
            seen.extend((ctx.headers, ctx.headers))

    d, _, _ = build(dispatch, cb)
    d.process("in", 0, b"k", b"skip", None, raw)
    assert calls == []
    d.process("in", 1, b"k", b"read", None, raw)
    assert calls == [1] and seen == [{"a": b"2"}, {"a": b"2"}]
