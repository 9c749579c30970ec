"""Windowed tables in the tester: record timestamps drive stream time, ``consume`` closes
the windows it passes; a per-minute click count with tumbling windows and grace (late
records dropped and counted, exactly one result per key and window), sessions merging and
splitting, rollback, and a restarted processor recovering windows and stream time."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import goka
from goka import codec
from goka.tester import Tester

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def click_count(on_error: Any = None) -> goka.GroupGraph:
    def on_click(ctx: goka.Context, msg: str) -> None:
        w = ctx.window("per-minute")
        w.set_value((w.value() or 0) + 1)
        if msg == "fail":
            raise RuntimeError("after set_value")

    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: int) -> None:
        ctx.emit("counts", ctx.key, f"{window.start:%H:%M}-{window.end:%H:%M} {value} @{ctx.timestamp:%H:%M:%S}")
        ctx.set_value((ctx.value() or 0) + value)  # the running total in the group table

    return goka.define_group(
        "clicks", goka.Input("clicks", codec.String(), on_click, on_error=on_error),
        goka.Output("counts", codec.String()), goka.Persist(codec.Int64()),
        goka.Window("per-minute", goka.Tumbling(timedelta(minutes=1), grace=timedelta(seconds=10)), codec.Int64(),
                    on_close=on_close))


def drain(tracker: goka.tester.QueueTracker) -> list[tuple[str, str]]:
    out = []
    while True:
        key, value, ok = tracker.next()
        if not ok:
            return out
        out.append((key, value))


def test_per_minute_click_count_with_grace_and_late_records(caplog: pytest.LogCaptureFixture) -> None:
    tt = Tester()
    proc = goka.Processor(tt, click_count())
    counts = tt.queue_tracker("counts")
    for key, s in [("a", 5), ("b", 20), ("a", 59), ("a", 61), ("b", 65)]:
        tt.consume("clicks", key, "click", timestamp=at(s))
    tt.consume("clicks", "a", "click", timestamp=at(30))  # out of order, within grace: counted
    assert drain(counts) == []  # 12:00-12:01 closes at stream time 12:01:10
    tt.consume("clicks", "b", "click", timestamp=at(70))
    assert drain(counts) == [("a", "12:00-12:01 3 @12:01:10"), ("b", "12:00-12:01 1 @12:01:10")]
    with caplog.at_level(logging.DEBUG, logger="goka.processor"):
        tt.consume("clicks", "a", "click", timestamp=at(40))  # late: dropped, counted, logged
    assert [r.getMessage() for r in caplog.records if "late" in r.getMessage()][0].count("key='a'") == 1
    tt.consume("clicks", "c", "click", timestamp=at(200))
    assert drain(counts) == [("a", "12:01-12:02 1 @12:02:10"), ("b", "12:01-12:02 2 @12:02:10")]
    assert tt.table_value("clicks-table", "a") == 4 and tt.table_value("clicks-table", "b") == 3
    stats = proc.stats()["windows"]
    assert stats["late"] == 1 and stats["open"] == 1 and stats["stream_time"] == int(at(200).timestamp() * 1000)
    assert stats["edges"]["per-minute"]["closed"] == 4


def test_failed_message_leaves_no_window_change() -> None:
    tt = Tester()
    goka.Processor(tt, click_count(on_error=goka.Skip()))
    counts = tt.queue_tracker("counts")
    tt.consume("clicks", "a", "click", timestamp=at(1))
    tt.consume("clicks", "a", "fail", timestamp=at(2))  # skipped: its set_value is undone
    tt.consume("clicks", "z", "click", timestamp=at(100))
    assert drain(counts) == [("a", "12:00-12:01 1 @12:01:10")]


def test_restarted_processor_recovers_windows_and_stream_time() -> None:
    tt = Tester()
    first = goka.Processor(tt, click_count())
    counts = tt.queue_tracker("counts")
    tt.consume("clicks", "a", "click", timestamp=at(5))
    tt.consume("clicks", "b", "click", timestamp=at(65))
    tt.consume("clicks", "b", "click", timestamp=at(75))
    assert drain(counts) == [("a", "12:00-12:01 1 @12:01:10")]
    first.stop()
    second = goka.Processor(tt, click_count())
    assert second.stats()["windows"]["stream_time"] == int(at(75).timestamp() * 1000)
    tt.consume("clicks", "a", "click", timestamp=at(50))  # still late after the restart
    tt.consume("clicks", "b", "click", timestamp=at(119))
    assert drain(counts) == []  # 12:00-12:01 is not closed again
    tt.consume("clicks", "c", "click", timestamp=at(130))
    assert drain(counts) == [("b", "12:01-12:02 3 @12:02:10")]
    assert second.stats()["windows"]["late"] == 1


def sessions(merge: bool = True) -> goka.GroupGraph:
    def on_event(ctx: goka.Context, msg: str) -> None:
        w = ctx.window("visits")
        w.set_value((w.value() or []) + [msg])

    def on_close(ctx: goka.Context, window: goka.TimeWindow, pages: list[str]) -> None:
        ctx.emit("visits", ctx.key, f"{window.start:%M:%S}-{window.end:%M:%S.%f} {','.join(pages)}")

    spec = goka.Session(timedelta(minutes=5), grace=timedelta(minutes=1),
                        merge=(lambda a, b: a + b) if merge else None)
    return goka.define_group("sessions", goka.Input("events", codec.String(), on_event),
                             goka.Output("visits", codec.String()),
                             goka.Window("visits", spec, codec.Json(list), on_close=on_close))


def test_sessions_merge_and_split() -> None:
    tt = Tester()
    goka.Processor(tt, sessions())
    visits = tt.queue_tracker("visits")
    tt.consume("events", "u", "home", timestamp=at(0))
    tt.consume("events", "u", "cart", timestamp=at(60))  # extends [0, 60.001)
    tt.consume("events", "u", "later", timestamp=at(420))  # 6 min after: a second session
    tt.consume("events", "u", "bridge", timestamp=at(300))  # within 5 min of both: merged
    tt.consume("events", "v", "other", timestamp=at(400))
    assert drain(visits) == []
    tt.consume("events", "u", "next", timestamp=at(1200))  # 13 min later: the merged one closes
    assert drain(visits) == [("v", "06:40-06:40.001000 other"),  # in close-time order
                             ("u", "00:00-07:00.001000 home,cart,later,bridge")]
    tt.consume("events", "w", "x", timestamp=at(1800))
    assert drain(visits) == [("u", "20:00-20:00.001000 next")]


def test_sessions_without_merge_keep_the_earliest_value(caplog: pytest.LogCaptureFixture) -> None:
    tt = Tester()
    goka.Processor(tt, sessions(merge=False))
    visits = tt.queue_tracker("visits")
    with caplog.at_level(logging.WARNING, logger="goka.processor"):
        for page, s in [("a", 0), ("b", 350), ("bridge", 200)]:
            tt.consume("events", "u", page, timestamp=at(s))
    tt.consume("events", "w", "x", timestamp=at(3000))
    assert drain(visits) == [("u", "00:00-05:50.001000 a,bridge")]
    assert sum("no merge" in r.getMessage() for r in caplog.records) == 1


def test_more_windows_than_one_close_batch_all_close(monkeypatch: pytest.MonkeyPatch) -> None:
    from goka._core import windows

    monkeypatch.setattr(windows, "CLOSE_LIMIT", 3)
    monkeypatch.setattr(windows.Windows.due, "__defaults__", (3,))
    tt = Tester()
    goka.Processor(tt, click_count())
    counts = tt.queue_tracker("counts")
    for i in range(8):
        tt.consume("clicks", f"k{i}", "click", timestamp=at(i))
    tt.consume("clicks", "z", "click", timestamp=at(100))
    assert sorted(k for k, _ in drain(counts)) == [f"k{i}" for i in range(8)]


def test_failing_on_close_stops_the_processor() -> None:
    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: int) -> None:
        raise RuntimeError("cannot close")

    g = goka.define_group("bad", goka.Input("clicks", codec.String(), lambda ctx, m: ctx.window("w").set_value(1)),
                          goka.Window("w", goka.Tumbling(timedelta(minutes=1)), codec.Int64(), on_close=on_close))
    tt = Tester()
    proc = goka.Processor(tt, g)
    tt.consume("clicks", "a", "x", timestamp=at(1))
    with pytest.raises(goka.ProcessingError, match="cannot close") as err:
        tt.consume("clicks", "b", "x", timestamp=at(61))
    assert err.value.topic == "bad-w" and err.value.key == "a"
    assert proc.state == "stopped"
    assert proc.stats()["windows"]["open"] == 2  # the window that failed to close is still open
