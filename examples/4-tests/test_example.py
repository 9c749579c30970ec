"""4-tests: unit tests of processors with goka.tester -- no Kafka, no threads, no waiting.

Pass a ``goka.tester.Tester`` as ``brokers``: every topic becomes one in-memory partition,
``tt.consume(topic, key, value)`` returns after the message and everything it caused
(emits, loopbacks, table updates seen by other processors) was processed, and a failing
callback raises from ``consume`` the error that ``Processor.run()`` would raise.

    python -m pytest examples/4-tests -q        # or: python examples/4-tests/main.py
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import goka
from goka import codec
from goka.tester import Tester

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "3-messaging"))  # the messaging package

from messaging import MESSAGE_CODEC, RECEIVED_STREAM, SENT_STREAM, Message  # noqa: E402


@pytest.fixture
def tt() -> Tester:
    return Tester()


# Scenario 1: one processor with one input.
def test_1_input(tt: Tester) -> None:
    received: list[str] = []
    goka.Processor(tt, goka.define_group(
        "group", goka.Input("input", codec.String(), lambda ctx, msg: received.append(msg))))

    tt.consume("input", "key", "some message")

    assert received == ["some message"]


# Scenario 2: one input, one output; a queue tracker reads what the processor emitted.
def test_2_input_output(tt: Tester) -> None:
    goka.Processor(tt, goka.define_group(
        "group",
        goka.Input("input", codec.String(), lambda ctx, msg: ctx.emit("output", ctx.key, f"forwarded: {msg}")),
        goka.Output("output", codec.String()),
    ))
    # Create the tracker before consuming: it reads what is written from now on.
    output = tt.queue_tracker("output")

    tt.consume("input", "key", "some-message")

    assert output.next() == ("key", "forwarded: some-message", True)
    assert output.next() == (None, None, False)  # nothing more


# Table values can be set up front, as if the processor had stored them earlier.
def test_set_table_value(tt: Tester) -> None:
    goka.Processor(tt, goka.define_group(
        "group",
        goka.Input("input", codec.Int64(), lambda ctx, msg: ctx.set_value(ctx.value() + msg)),
        goka.Persist(codec.Int64()),
    ))
    tt.set_table_value("group-table", "value", 10)

    tt.consume("input", "value", 2)

    assert tt.table_value("group-table", "value") == 12


# Scenario 3: persist instead of emitting; check the group table.
def test_3_persist(tt: Tester) -> None:
    goka.Processor(tt, goka.define_group(
        "group",
        goka.Input("input", codec.String(), lambda ctx, msg: ctx.set_value(f"state: {msg}")),
        goka.Persist(codec.String()),
    ))

    tt.consume("input", "key", "some-message")

    assert tt.table_value("group-table", "key") == "state: some-message"


# Scenario 4: reuse one setup in several tests (Go's subtests) with a fixture.
@pytest.fixture
def stateful(tt: Tester) -> Tester:
    def cb(ctx: goka.Context, msg: str) -> None:
        ctx.set_value(f"state: {msg}")
        ctx.emit("output", "output-key", f"forwarded: {msg}")

    goka.Processor(tt, goka.define_group(
        "group", goka.Input("input", codec.String(), cb), goka.Persist(codec.String()),
        goka.Output("output", codec.String())))
    return tt


def test_4_emits(stateful: Tester) -> None:
    stateful.clear_values()  # start from an empty table
    output = stateful.queue_tracker("output")

    stateful.consume("input", "bob", "hello")

    assert output.next() == ("output-key", "forwarded: hello", True)
    assert output.hwm() == output.next_offset() == 1  # we are at the end
    assert output.next()[2] is False


def test_4_state(stateful: Tester) -> None:
    stateful.consume("input", "bob", "hello")
    assert stateful.table_value("group-table", "bob") == "state: hello"


# Scenario 5: loops and several processors in one tester; consume returns after the whole chain.
def test_5_chain(tt: Tester) -> None:
    goka.Processor(tt, goka.define_group(
        "proc1",
        goka.Input("input", codec.String(), lambda ctx, msg: ctx.loopback(ctx.key, f"loop: {msg}")),
        goka.Loop(codec.String(), lambda ctx, msg: ctx.emit("proc1-out", ctx.key, f"proc1-out: {msg}")),
        goka.Output("proc1-out", codec.String()),
    ))
    goka.Processor(tt, goka.define_group(
        "proc2",
        goka.Input("proc1-out", codec.String(), lambda ctx, msg: ctx.set_value(f"persist: {msg}")),
        goka.Persist(codec.String()),
    ))

    tt.consume("input", "bob", "hello world")

    assert tt.table_value("proc2-table", "bob") == "persist: proc1-out: loop: hello world"


# Scenario 6: a failing callback stops the processor; consume raises what run() would.
def _fail_explicitly(ctx: goka.Context) -> None:
    ctx.fail(RuntimeError("failing callback"))


Failer = Callable[[goka.Context], object]


@pytest.mark.parametrize("failer, cause", [
    (lambda ctx: 123 // 0, ZeroDivisionError),
    (lambda ctx: None.attribute, AttributeError),  # type: ignore[attr-defined]
    (_fail_explicitly, RuntimeError),
    (lambda ctx: re.compile(")"), re.error),
])
def test_6_failing(tt: Tester, failer: Failer, cause: type[BaseException]) -> None:
    def callback(ctx: goka.Context, msg: str) -> None:
        failer(ctx)

    proc = goka.Processor(tt, goka.define_group("group", goka.Inputs(["input", "input2"], codec.String(), callback)))

    with pytest.raises(goka.ProcessingError) as failure:
        tt.consume("input", "key", "some-message")

    assert isinstance(failure.value.__cause__, cause)  # the original exception
    assert "group='group', topic='input', partition=0, offset=0, key='key'" in str(failure.value)
    assert proc.state == "stopped"


# The same works for the real thing: the message filter of examples/3-messaging, with its
# joined blocker table and looked-up translator table set directly.
def test_messaging_filter(tt: Tester) -> None:
    from messaging import blocker, filter as message_filter, translator

    goka.Processor(tt, message_filter.define())
    received = tt.queue_tracker(RECEIVED_STREAM)
    tt.set_table_value(blocker.TABLE, "Bob", blocker.BlockValue(Blocked=True))
    tt.set_table_value(translator.TABLE, "lunch", "1[_]n<)-(")

    tt.consume(SENT_STREAM, "Bob", Message(From="Bob", To="Alice", Content="spam!"))
    tt.consume(SENT_STREAM, "Eve", Message(From="Eve", To="Alice", Content="lunch together?"))

    assert received.next() == ("Alice", Message(From="Eve", To="Alice", Content="1[_]n<)-( together?"), True)
    assert received.next()[2] is False  # Bob's message was dropped


# Emitters and views work on the tester too: test a service's read and write paths.
def test_emitter_and_view(tt: Tester) -> None:
    from messaging import collector

    goka.Processor(tt, collector.define())
    view = goka.View(tt, collector.TABLE, codec.Json(type=list[Message]))
    emitter = goka.Emitter(tt, RECEIVED_STREAM, MESSAGE_CODEC)

    for i in range(7):
        emitter.emit_sync("Alice", Message(From="Bob", To="Alice", Content=f"message {i}"))

    assert [m.Content for m in view.get("Alice")] == [f"message {i}" for i in range(2, 7)]  # the last 5
