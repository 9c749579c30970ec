"""Context semantics (GOKA.md §1.2) through goka.tester, plus tester and emitter behaviour."""
from datetime import datetime, timezone

import pytest

import goka
from goka import codec
from goka.tester import Tester, TesterError


def run_one(callback, *edges, value="m", key="k", **consume_kw):
    tt = Tester()
    g = goka.define_group("g", goka.Input("in", codec.String(), callback), *edges)
    p = goka.Processor(tt, g)
    tt.consume("in", key, value, **consume_kw)
    return tt, p


def test_metadata_properties():
    seen = []

    def cb(ctx, msg):
        seen.append((ctx.key, ctx.topic, ctx.partition, ctx.offset, ctx.group, ctx.timestamp, ctx.headers))

    tt = Tester()
    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), cb)))
    ts = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    tt.consume("in", "a", "x", timestamp=ts)
    tt.consume("in", "b", "y", headers={"h": "v"})
    assert seen[0] == ("a", "in", 0, 0, "g", ts, {})
    key, topic, part, off, group, ts2, headers = seen[1]
    assert (key, off, headers) == ("b", 1, {"h": b"v"})
    assert ts2.tzinfo is timezone.utc and abs((datetime.now(timezone.utc) - ts2).total_seconds()) < 60


def test_non_utf8_key_round_trips():
    out = []
    g = goka.define_group(
        "g",
        goka.Input("in", codec.String(), lambda ctx, msg: (out.append(ctx.key), ctx.set_value(msg))),
        goka.Persist(codec.String()),
    )
    tt = Tester()
    goka.Processor(tt, g)
    tracker = tt.queue_tracker("g-table")
    tt.consume("in", b"\xff\xfe", "v")
    assert out[0].encode("utf-8", "surrogateescape") == b"\xff\xfe"
    assert tracker.next_raw() == (out[0], b"v", True)


def test_delete_writes_tombstone():
    def cb(ctx, msg):
        if msg == "del":
            ctx.delete()
            assert ctx.value() is None
        else:
            ctx.set_value(msg)
            assert ctx.value() == msg

    tt = Tester()
    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), cb), goka.Persist(codec.String())))
    tracker = tt.queue_tracker("g-table")
    tt.consume("in", "k", "v1")
    tt.consume("in", "k", "del")
    assert tracker.next_raw() == ("k", b"v1", True)
    assert tracker.next_raw() == ("k", None, True)
    assert tt.table_value("g-table", "k") is None
    assert tt.get_table_keys("g-table") == []


def test_emit_none_is_tombstone():
    tt, _ = run_one(lambda ctx, msg: ctx.emit("out", "x", None), goka.Output("out", codec.Json()))
    tracker = tt.queue_tracker("out")
    tracker.seek(0)
    assert tracker.next_raw() == ("x", None, True)


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda ctx: ctx.emit("nowhere", "k", "v"), "cannot emit to 'nowhere'"),
        (lambda ctx: ctx.emit("g-loop", "k", "v"), "use ctx.loopback"),
        (lambda ctx: ctx.emit("g-table", "k", "v"), "use ctx.set_value"),
        (lambda ctx: ctx.loopback("k", "v"), "no Loop edge"),
        (lambda ctx: ctx.join("t"), "not declared as a Join"),
        (lambda ctx: ctx.lookup("t", "k"), "not declared as a Lookup"),
        (lambda ctx: ctx.value(), "no Persist edge"),
        (lambda ctx: ctx.set_value(1), "no Persist edge"),
        (lambda ctx: ctx.delete(), "no Persist edge"),
    ],
)
def test_undeclared_edges(action, message):
    with pytest.raises(goka.ProcessingError) as info:
        run_one(lambda ctx, msg: action(ctx))
    assert isinstance(info.value.__cause__, goka.UndeclaredTopicError)
    assert message in str(info.value.__cause__)


def test_set_none_fails():
    with pytest.raises(goka.ProcessingError, match="cannot set a None value"):
        run_one(lambda ctx, msg: ctx.set_value(None), goka.Persist(codec.String()))


def test_encode_error_names_codec_and_topic():
    with pytest.raises(goka.ProcessingError) as info:
        run_one(lambda ctx, msg: ctx.set_value("not-an-int"), goka.Persist(codec.Int64()))
    cause = info.value.__cause__
    assert isinstance(cause, goka.CodecError)
    assert cause.topic == "g-table" and cause.key == "k" and "Int64" in str(cause)


def test_swallowed_fail_still_stops():
    def cb(ctx, msg):
        try:
            ctx.fail("boom")
        except Exception:
            pass

    with pytest.raises(goka.ProcessingError, match="boom"):
        run_one(cb)


def test_defer_commit_error_fails_processor():
    pending = []
    tt = Tester()
    p = goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(),
                                                             lambda ctx, msg: pending.append(ctx.defer_commit()))))
    tt.consume("in", "k", "a")
    pending[0]()  # success: nothing happens
    pending[0](RuntimeError("late"))  # idempotent: a second call is ignored
    tt.consume("in", "k", "b")
    pending[1](RuntimeError("external failure"))
    with pytest.raises(goka.ProcessingError, match="external failure"):
        tt.catchup()
    assert p.state == "stopped"


@pytest.mark.parametrize(
    "nil, expected",
    [(goka.NilHandling.IGNORE, []), (goka.NilHandling.PROCESS, [None]), (goka.NilHandling.DECODE, [""])],
)
def test_nil_handling(nil, expected):
    seen = []
    tt = Tester()
    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: seen.append(msg))),
                   nil_handling=nil)
    tt.consume("in", "k", None)
    assert seen == expected


def test_nil_decode_codec_error():
    tt = Tester()
    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.Int64(), lambda ctx, msg: None)),
                   nil_handling=goka.NilHandling.DECODE)
    with pytest.raises(goka.CodecError, match="Int64"):
        tt.consume("in", "k", None)


def test_join_lookup_and_loopback():
    def on_input(ctx, msg):
        device = ctx.lookup("devices-table", msg)
        ctx.loopback(device or "unknown", {"user": ctx.key, "name": ctx.join("users-table")})

    def on_loop(ctx, msg):
        ctx.set_value((ctx.value() or []) + [msg["name"]])

    g = goka.define_group(
        "g",
        goka.Input("clicks", codec.String(), on_input),
        goka.Loop(codec.Json(), on_loop),
        goka.Join("users-table", codec.String()),
        goka.Lookup("devices-table", codec.String()),
        goka.Persist(codec.Json()),
    )
    tt = Tester()
    goka.Processor(tt, g)
    tt.set_table_value("users-table", "u1", "Alice")
    tt.set_table_value("devices-table", "d1", "phone")
    tt.consume("clicks", "u1", "d1")
    tt.consume("clicks", "u2", "d9")
    assert tt.table_value("g-table", "phone") == ["Alice"]
    assert tt.table_value("g-table", "unknown") == [None]


def test_table_topic_updates_join_of_another_group():
    writer = goka.define_group("users", goka.Input("user-updates", codec.String(),
                                                   lambda ctx, msg: ctx.set_value(msg)),
                               goka.Persist(codec.String()))
    seen = []
    reader = goka.define_group("reader", goka.Input("clicks", codec.String(),
                                                    lambda ctx, msg: seen.append(ctx.join("users-table"))),
                               goka.Join("users-table", codec.String()))
    tt = Tester()
    goka.Processor(tt, writer)
    goka.Processor(tt, reader)
    view = goka.View(tt, "users-table", codec.String())
    tt.consume("user-updates", "u", "Bob")
    tt.consume("clicks", "u", "x")
    tt.consume("users-table", "u", None)  # a tombstone written to the table topic deletes
    tt.consume("clicks", "u", "x")
    assert seen == ["Bob", None]
    assert view.get("u") is None


def test_emitter_on_tester():
    seen = []
    g = goka.define_group("g", goka.Input("in", codec.Int64(),
                                          lambda ctx, msg: seen.append((ctx.key, msg, ctx.headers))))
    tt = Tester()
    goka.Processor(tt, g)
    with goka.Emitter(tt, "in", codec.Int64(), default_headers={"src": b"test"}) as em:
        assert em.emit("a", 1).result() == 0
        assert em.emit_sync("b", 2, headers={"x": b"1"}) == 1
    assert seen == [("a", 1, {"src": b"test"}), ("b", 2, {"src": b"test", "x": b"1"})]
    with pytest.raises(goka.EmitterClosedError):
        em.emit("c", 3).result()
    with pytest.raises(goka.CodecError, match="Int64"):
        goka.Emitter(tt, "in", codec.Int64()).emit("c", "three")


def test_codec_registry_conflict_and_unknown_topic():
    tt = Tester()
    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: None)))
    with pytest.raises(TesterError, match="two codec types"):
        goka.View(tt, "in", codec.Int64())
    with pytest.raises(TesterError, match="'unknown'"):
        tt.consume("unknown", "k", "v")


def test_stopped_processor_cannot_run_again():
    tt = Tester()
    p = goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: None)))
    p.run()
    p.stop()
    with pytest.raises(goka.ProcessorStoppedError):
        p.run()


def test_processor_get():
    tt = Tester()
    p = goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.Int64(),
                                                             lambda ctx, msg: ctx.set_value(msg * 2)),
                                             goka.Persist(codec.Int64())))
    tt.consume("in", "k", 21)
    assert p.get("k") == 42
    assert p.get("missing") is None
