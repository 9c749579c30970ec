"""Ports of Go Goka's tester-based scenarios: examples/4-tests and integrationtest/ (GOKA.md §5.2, §5.3)."""
import re

import pytest

import goka
from goka import codec
from goka.tester import Tester


# -- examples/4-tests -------------------------------------------------------------------------
def test_1_input():
    received = []
    g = goka.define_group("group", goka.Input("input", codec.String(), lambda ctx, msg: received.append(msg)))
    tt = Tester()
    goka.Processor(tt, g)
    tt.consume("input", "key", "some message")
    assert received == ["some message"]


def test_2_input_output():
    g = goka.define_group(
        "group",
        goka.Input("input", codec.String(), lambda ctx, msg: ctx.emit("output", ctx.key, f"forwarded: {msg}")),
        goka.Output("output", codec.String()),
    )
    tt = Tester()
    goka.Processor(tt, g)
    tracker = tt.queue_tracker("output")
    tt.consume("input", "key", "some-message")
    assert tracker.next() == ("key", "forwarded: some-message", True)
    assert tracker.next() == (None, None, False)


def test_set_table_value():
    g = goka.define_group(
        "group",
        goka.Input("input", codec.Int64(), lambda ctx, msg: ctx.set_value((ctx.value() or 0) + msg)),
        goka.Persist(codec.Int64()),
    )
    tt = Tester()
    goka.Processor(tt, g)
    tt.set_table_value("group-table", "value", 10)
    tt.consume("input", "value", 2)
    assert tt.table_value("group-table", "value") == 12


def test_join_output():
    def cb(ctx, msg):
        joined = ctx.join("joined-table")
        ctx.emit("output", ctx.key, f"{msg}+{joined}")

    g = goka.define_group(
        "group",
        goka.Input("input", codec.String(), cb),
        goka.Join("joined-table", codec.String()),
        goka.Output("output", codec.String()),
    )
    tt = Tester()
    goka.Processor(tt, g)
    tracker = tt.queue_tracker("output")
    tt.consume("input", "key", "value")
    tt.set_table_value("joined-table", "key", "j")
    tt.consume("input", "key", "value")
    assert tracker.next() == ("key", "value+None", True)
    assert tracker.next() == ("key", "value+j", True)


def _persist_group():
    return goka.define_group(
        "group",
        goka.Input("input", codec.String(), lambda ctx, msg: ctx.set_value(f"state: {msg}")),
        goka.Persist(codec.String()),
    )


def test_3_persist():
    tt = Tester()
    goka.Processor(tt, _persist_group())
    tt.consume("input", "key", "some-message")
    assert tt.table_value("group-table", "key") == "state: some-message"


def test_subtest_clear_values():
    tt = Tester()
    goka.Processor(tt, _persist_group())
    tt.consume("input", "key", "first")
    tt.clear_values()
    assert tt.table_value("group-table", "key") is None
    tracker = tt.queue_tracker("group-table")
    tt.consume("input", "bob", "hello")
    assert tracker.hwm() == 2  # the table topic holds both writes
    assert tracker.next_offset() == 1
    assert tracker.next() == ("bob", "state: hello", True)
    assert tracker.next_offset() == 2
    assert tt.table_value("group-table", "bob") == "state: hello"


def test_chain():
    proc1 = goka.define_group(
        "proc1",
        goka.Input("proc1-input", codec.String(), lambda ctx, msg: ctx.loopback(ctx.key, f"loop: {msg}")),
        goka.Loop(codec.String(), lambda ctx, msg: ctx.emit("proc1-out", ctx.key, f"proc1-out: {msg}")),
        goka.Output("proc1-out", codec.String()),
    )
    proc2 = goka.define_group(
        "proc2",
        goka.Input("proc1-out", codec.String(), lambda ctx, msg: ctx.set_value(f"persist: {msg}")),
        goka.Persist(codec.String()),
    )
    tt = Tester()
    goka.Processor(tt, proc1)
    goka.Processor(tt, proc2)
    tt.consume("proc1-input", "bob", "hello world")
    assert tt.table_value("proc2-table", "bob") == "persist: proc1-out: loop: hello world"


def _div_zero(ctx, msg):
    return 1 // 0


def _none_deref(ctx, msg):
    return None.attribute  # type: ignore[attr-defined]


def _bad_regex(ctx, msg):
    re.compile("[")


@pytest.mark.parametrize(
    "callback, cause",
    [
        (lambda ctx, msg: (_ for _ in ()).throw(RuntimeError("panic")), RuntimeError),
        (_none_deref, AttributeError),
        (lambda ctx, msg: ctx.fail(ValueError("failed")), ValueError),
        (_div_zero, ZeroDivisionError),
        (_bad_regex, re.error),
    ],
    ids=["panic", "nil-deref", "ctx-fail", "div-by-zero", "bad-regex"],
)
def test_failing(callback, cause):
    g = goka.define_group("failing", goka.Inputs(["input", "input2", "input3", "input4"], codec.String(), callback))
    tt = Tester()
    p = goka.Processor(tt, g)
    with pytest.raises(goka.ProcessingError, match="error processing message") as info:
        tt.consume("input3", "key", "msg")
    assert isinstance(info.value.__cause__, cause)
    assert info.value.topic == "input3" and info.value.key == "key" and info.value.offset == 0
    # the processor stopped: run() re-raises, later messages are not processed
    with pytest.raises(goka.ProcessingError):
        p.run()
    assert p.state == "stopped"
    # a further message is not dropped silently: nothing would process it (issue 11, defect 5)
    with pytest.raises(goka.ProcessorStoppedError, match="group 'failing'") as stopped:
        tt.consume("input", "key", "again")
    assert stopped.value.__cause__ is info.value


# -- integrationtest/ -------------------------------------------------------------------------
class _Raises:
    def encode(self, value):
        return b"x"

    def decode(self, data):
        raise ValueError("cannot decode")


@pytest.mark.parametrize("kind", ["panic", "decode", "stateless-set-value"])
def test_error_callback(kind):
    if kind == "panic":
        g = goka.define_group("g", goka.Input("input-topic", codec.Int64(), lambda ctx, msg: 1 / 0))
    elif kind == "decode":
        g = goka.define_group("g", goka.Input("input-topic", _Raises(), lambda ctx, msg: None))
    else:
        g = goka.define_group("g", goka.Input("input-topic", codec.Int64(), lambda ctx, msg: ctx.set_value(msg)))
    tt = Tester()
    goka.Processor(tt, g)
    expected = goka.CodecError if kind == "decode" else goka.ProcessingError
    with pytest.raises(expected) as info:
        tt.consume("input-topic", "a", 123)
    text = str(info.value)
    assert "topic='input-topic'" in text and "partition=0" in text and "offset=0" in text
    if kind == "decode":
        assert "_Raises" in text and "key='a'" in text
    else:
        assert "error processing message" in text


def test_headers():
    seen = {}

    def cb(ctx, msg):
        seen.update(ctx.headers)
        ctx.emit("output", "key", f"forwarded: {msg}", headers={"H1": b"to output1", "H2": "to output2"})
        ctx.emit("output", "key", f"forwarded: {msg}", headers={"H2": b"to output2b", "H3": b"to output3"})

    g = goka.define_group("g", goka.Input("input", codec.String(), cb), goka.Output("output", codec.String()))
    tt = Tester()
    goka.Processor(tt, g)
    tracker = tt.queue_tracker("output")
    tt.consume("input", "key", "some-message", headers={"H1": b"value 1", "H2": b"value 2"})
    tt.consume("input", "key", "some-message", headers={"H2": b"value 2b", "H3": b"value 3"})
    assert seen == {"H1": b"value 1", "H2": b"value 2b", "H3": b"value 3"}
    assert tracker.next_with_headers() == ("key", "forwarded: some-message",
                                           {"H1": b"to output1", "H2": b"to output2"}, True)
    assert tracker.next_with_headers() == ("key", "forwarded: some-message",
                                           {"H2": b"to output2b", "H3": b"to output3"}, True)


def test_processor_visit():
    def reset(ctx, meta):
        ctx.set_value(meta)
        ctx.emit("output", ctx.key, meta)

    g = goka.define_group(
        "g",
        goka.Input("input", codec.Int64(), lambda ctx, msg: ctx.set_value(msg)),
        goka.Output("output", codec.Int64()),
        goka.Persist(codec.Int64()),
        goka.Visitor("reset", reset),
    )
    tt = Tester()
    p = goka.Processor(tt, g)
    tt.set_table_value("g-table", "a", 123)
    tracker = tt.queue_tracker("output")
    assert tracker.next() == (None, None, False)
    assert p.visit_all("reset", 15) == 1
    assert tracker.next() == ("a", 15, True)
    assert tt.table_value("g-table", "a") == 15
    with pytest.raises(goka.UndeclaredTopicError, match="no visitor 'nope'"):
        p.visit_all("nope", 1)


def test_view():
    tt = Tester()
    view = goka.View(tt, "test", codec.String())
    assert view.get("key") is None
    tt.set_table_value("test", "key", "value")
    assert view.get("missing") is None
    assert view.get("key") == "value"
    assert view.has("key") and not view.has("missing")
    assert tt.get_table_keys("test") == ["key"]
    tt.set_table_value("test", "key2", "value2")
    assert tt.get_table_keys("test") == ["key", "key2"]
    assert list(view.items()) == [("key", "value"), ("key2", "value2")]
    assert list(view.items(prefix="key2")) == [("key2", "value2")]
