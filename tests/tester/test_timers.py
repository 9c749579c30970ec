"""Timers in the tester: the tester's clock, advance_time, restart, rollback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import goka
from goka import codec
from goka.tester import Tester


def reminder_group(fail_timer: bool = False) -> goka.GroupGraph:
    def on_click(ctx: goka.Context, msg: str) -> None:
        if msg == "cancel":
            ctx.cancel_timers()
        elif msg.startswith("at:"):
            ctx.schedule("fixed", at=datetime.fromisoformat(msg[3:]))
        else:
            ctx.set_value((ctx.value() or 0) + 1)
            ctx.schedule(msg, delay=timedelta(minutes=5))
            if msg == "fail":
                raise RuntimeError("after schedule")

    def on_timer(ctx: goka.Context, value: str) -> None:
        if fail_timer:
            raise RuntimeError("timer broke")
        ctx.emit("reminders", ctx.key, f"{value}@{ctx.timestamp.isoformat()} n={ctx.value()}")
        if value == "repeat":
            ctx.schedule("once-more", delay=timedelta(minutes=1))

    return goka.define_group(
        "remind", goka.Input("clicks", codec.String(), on_click, on_error=goka.Skip()),
        goka.Persist(codec.Int64()), goka.Output("reminders", codec.String()),
        goka.Timer(codec.String(), on_timer))


def drain(tracker: goka.tester.QueueTracker) -> list[tuple[str, str]]:
    out = []
    while True:
        key, value, ok = tracker.next()
        if not ok:
            return out
        out.append((key, value))


def test_advance_time_fires_due_timers_in_order() -> None:
    tt = Tester()
    goka.Processor(tt, reminder_group())
    out = tt.queue_tracker("reminders")
    t0 = tt.now()
    tt.consume("clicks", "b", "second")
    tt.advance_time(timedelta(minutes=1))
    tt.consume("clicks", "a", "third")
    tt.consume("clicks", "c", f"at:{(t0 + timedelta(minutes=2)).isoformat()}")
    assert tt.advance_time(timedelta(minutes=3, seconds=59)) == 1
    assert drain(out) == [("c", f"fixed@{(t0 + timedelta(minutes=2)).isoformat()} n=None")]
    assert tt.advance_time(timedelta(minutes=1)) == 1  # t0+5m: b's
    assert tt.advance_time(timedelta(minutes=1)) == 1  # t0+6m: a's
    assert [k for k, _ in drain(out)] == ["b", "a"]
    assert tt.advance_time(timedelta(hours=1)) == 0


def test_timer_scheduled_by_timer_and_cancel() -> None:
    tt = Tester()
    goka.Processor(tt, reminder_group())
    out = tt.queue_tracker("reminders")
    tt.consume("clicks", "k", "repeat")
    tt.consume("clicks", "x", "dropped")
    tt.consume("clicks", "x", "cancel")
    assert tt.advance_time(timedelta(minutes=10)) == 2  # repeat, then once-more (due by then)
    assert [v.split("@")[0] for _, v in drain(out)] == ["repeat", "once-more"]


def test_failed_callback_schedules_nothing() -> None:
    tt = Tester()
    goka.Processor(tt, reminder_group())
    tt.consume("clicks", "k", "fail")  # skipped by the policy: its schedule is rolled back
    assert tt.advance_time(timedelta(minutes=10)) == 0


def test_pending_timers_survive_a_new_processor() -> None:
    tt = Tester()
    first = goka.Processor(tt, reminder_group())
    tt.consume("clicks", "k", "later")
    first.stop()
    second = goka.Processor(tt, reminder_group())
    out = tt.queue_tracker("reminders")
    assert tt.advance_time(timedelta(minutes=5)) == 1
    assert drain(out)[0][0] == "k"
    assert second.stats()["timers"] == {"pending": 0, "fired": 1, "next_due": None}


def test_failing_timer_raises_and_keeps_timer() -> None:
    tt = Tester()
    goka.Processor(tt, reminder_group(fail_timer=True))
    tt.consume("clicks", "k", "x")
    with pytest.raises(goka.ProcessingError, match="timer broke"):
        tt.advance_time(timedelta(minutes=5))
    proc = goka.Processor(tt, reminder_group())  # a fixed processor fires it
    assert tt.advance_time(timedelta(0)) == 1
    assert proc.stats()["timers"]["fired"] == 1


def test_consume_timestamp_and_clock_checks() -> None:
    seen = []

    def cb(ctx: goka.Context, msg: str) -> None:
        seen.append(ctx.timestamp)

    tt = Tester()
    goka.Processor(tt, goka.define_group("g", goka.Input("in", codec.String(), cb)))
    at = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
    tt.consume("in", "k", "v", timestamp=at)
    tt.consume("in", "k", "v")
    assert seen == [at, tt.now().replace(microsecond=tt.now().microsecond // 1000 * 1000)]
    with pytest.raises(ValueError, match="backwards"):
        tt.advance_time(timedelta(seconds=-1))
    with pytest.raises(TypeError):
        tt.advance_time(5)  # type: ignore[arg-type]


def test_readme_timer_example() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text()
    match = re.search(r"## Time: timers and windows\n.*?```python\n(.*?)```", text, re.S)
    assert match is not None
    namespace: dict[str, object] = {}
    exec(compile(match.group(1), "README.md", "exec"), namespace)
    namespace["test_reminder_only_for_unpaid_orders"]()  # type: ignore[operator]
