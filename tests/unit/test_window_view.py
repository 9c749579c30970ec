"""The reader of window tables (``goka.View(..., window=spec)``) over its storage: windows
of a key found by prefix, other keys with that prefix and the stream-time marker skipped,
the window containing a time, the windows overlapping a range, wrong types rejected."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import goka
from goka import codec
from goka.errors import CodecError
from goka.tester import Tester
from goka.window import STREAM_TIME_KEY, encode_stream_time, window_key

MIN = 60_000
T0 = 1_700_000_040_000  # a minute boundary (ms)


def at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)


def windowed_view(spec: goka.window.WindowSpec, records: dict[bytes, int]) -> goka.View:
    tt = Tester()
    view = goka.View(tt, "g-clicks", codec.Int64(), window=spec)
    storage = tt._storage("g-clicks")
    for k, v in records.items():
        storage.set(k, codec.Int64().encode(v))
    storage.set(STREAM_TIME_KEY, encode_stream_time(T0 + 10 * MIN))
    return view


def test_tumbling_window_at_and_windows_by_prefix() -> None:
    spec = goka.Tumbling(timedelta(minutes=1), grace=timedelta(seconds=10))
    view = windowed_view(spec, {
        window_key(b"a", T0, T0 + MIN): 1,
        window_key(b"a", T0 + MIN, T0 + 2 * MIN): 2,
        window_key(b"a", T0 + 3 * MIN, T0 + 4 * MIN): 4,
        window_key(b"ab", T0, T0 + MIN): 99,  # "a" is a prefix of "ab": not a window of "a"
        window_key(b"b", T0, T0 + MIN): 7,
    })
    w, value = view.window("a", T0 + MIN + 5) or (None, None)
    assert (w, value) == (goka.TimeWindow(T0 + MIN, T0 + 2 * MIN), 2)
    assert w is not None and w.start == at(T0 + MIN) and w.end == at(T0 + 2 * MIN)
    assert view.window("a", at(T0 + 59_999)) == (goka.TimeWindow(T0, T0 + MIN), 1)
    assert view.window("a", T0 + 2 * MIN) is None  # no record in that minute
    assert view.window("zz", T0) is None
    assert [(w.start_ms, v) for w, v in view.windows("a")] == [(T0, 1), (T0 + MIN, 2), (T0 + 3 * MIN, 4)]
    assert [v for _, v in view.windows(b"ab")] == [99]
    # overlapping [start, end): a window ending at start or starting at end is outside
    assert [v for _, v in view.windows("a", start=T0 + MIN, end=T0 + 3 * MIN)] == [2]
    assert [v for _, v in view.windows("a", start=at(T0 + MIN - 1))] == [1, 2, 4]
    assert [v for _, v in view.windows("a", end=T0 + 1)] == [1]
    assert view.windows("a", start=T0 + 5 * MIN) == []


def test_hopping_window_at_takes_the_latest_start() -> None:
    spec = goka.Hopping(timedelta(minutes=2), timedelta(minutes=1))
    view = windowed_view(spec, {
        window_key(b"k", T0 - MIN, T0 + MIN): 1,
        window_key(b"k", T0, T0 + 2 * MIN): 2,
    })
    assert view.window("k", T0 + 10) == (goka.TimeWindow(T0, T0 + 2 * MIN), 2)
    assert view.window("k", T0 - 10) == (goka.TimeWindow(T0 - MIN, T0 + MIN), 1)
    assert view.window("k", T0 + MIN + 10) == (goka.TimeWindow(T0, T0 + 2 * MIN), 2)
    assert len(view.windows("k", T0, T0 + 1)) == 2


def test_session_window_at_is_the_session_containing_it() -> None:
    spec = goka.Session(timedelta(minutes=5))
    view = windowed_view(spec, {
        window_key(b"s", T0, T0 + 3 * MIN + 1): 3,
        window_key(b"s", T0 + 20 * MIN, T0 + 20 * MIN + 1): 1,
    })
    assert view.window("s", T0 + MIN) == (goka.TimeWindow(T0, T0 + 3 * MIN + 1), 3)
    assert view.window("s", T0 + 20 * MIN) == (goka.TimeWindow(T0 + 20 * MIN, T0 + 20 * MIN + 1), 1)
    assert view.window("s", T0 + 10 * MIN) is None  # between the sessions
    assert [v for _, v in view.windows("s")] == [3, 1]


def test_marker_and_windows_before_1970_and_empty_key() -> None:
    spec = goka.Tumbling(timedelta(minutes=1))
    view = windowed_view(spec, {window_key(b"old", -MIN, 0): 5, window_key(b"old", 0, MIN): 6,
                                window_key(b"", T0, T0 + MIN): 8})
    # storage orders a negative start after the positive ones; windows() is by time
    assert [v for _, v in view.windows("old")] == [5, 6]
    assert view.window("old", -1) == (goka.TimeWindow(-MIN, 0), 5)
    # the empty key has windows too; the stream-time marker (also an empty key) is none
    assert view.windows("") == [(goka.TimeWindow(T0, T0 + MIN), 8)]


def test_plain_reads_on_a_windowed_view_and_window_reads_on_a_plain_view_raise() -> None:
    tt = Tester()
    wview = goka.View(tt, "g-w", codec.Int64(), window=goka.Tumbling(timedelta(minutes=1)))
    for call in (lambda: wview.get("a"), lambda: wview.has("a"), lambda: wview.items()):
        with pytest.raises(TypeError, match=r"window table .*view.window\(key, at\)"):
            call()
    plain = goka.View(tt, "g-table", codec.Int64())
    with pytest.raises(TypeError, match=r"'g-table'\) is not windowed.*window="):
        plain.window("a", T0)
    with pytest.raises(TypeError, match="not windowed"):
        plain.windows("a")
    assert plain.get("a") is None  # the plain reads work as before


def test_wrong_types_raise_specific_errors() -> None:
    tt = Tester()
    with pytest.raises(TypeError, match=r"View\('g-w'\): window must be goka.Tumbling"):
        goka.View(tt, "g-w", codec.Int64(), window=timedelta(minutes=1))  # type: ignore[arg-type]
    view = goka.View(tt, "g-w", codec.Int64(), window=goka.Tumbling(timedelta(minutes=1)))
    with pytest.raises(TypeError, match="View.window at must be .* got float"):
        view.window("a", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got timedelta"):
        view.window("a", timedelta(minutes=1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got bool"):
        view.windows("a", start=True)
    with pytest.raises(ValueError, match="timezone-aware"):
        view.window("a", datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="must be str or bytes, got int"):
        view.window(5, T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start .* is after end"):
        view.windows("a", start=T0 + 1, end=T0)


def test_undecodable_window_value_is_a_codec_error_naming_table_key_and_window() -> None:
    spec = goka.Tumbling(timedelta(minutes=1))
    tt = Tester()
    view = goka.View(tt, "g-w", codec.Int64(), window=spec)
    tt._storage("g-w").set(window_key(b"a", T0, T0 + MIN), b"not8")
    with pytest.raises(CodecError, match=r"window TimeWindow.*topic='g-w', key='a'"):
        view.window("a", T0)
    with pytest.raises(CodecError):
        view.windows("a")


def test_view_reads_what_the_processor_wrote_hopping() -> None:
    """The reader agrees with the processor side on the layout: hopping windows of 2 min
    every minute, written by ``ctx.windows`` in the tester and read by a windowed view."""
    spec = goka.Hopping(timedelta(minutes=2), timedelta(minutes=1))

    def on_click(ctx: goka.Context, _: str) -> None:
        for w in ctx.windows("two-min"):
            w.set_value((w.value() or 0) + 1)

    tt = Tester()
    goka.Processor(tt, goka.define_group("hop", goka.Input("clicks", codec.String(), on_click),
                                         goka.Window("two-min", spec, codec.Int64(),
                                                     retention=timedelta(hours=1))))
    for ms in (T0 + 10, T0 + MIN + 10, T0 + MIN + 20, T0 + 2 * MIN + 5):
        tt.consume("clicks", "k", "c", timestamp=ms)
    view = goka.View(tt, goka.window_table("hop", "two-min"), codec.Int64(), window=spec)
    assert [(w.start_ms - T0, n) for w, n in view.windows("k")] == \
        [(-MIN, 1), (0, 3), (MIN, 3), (2 * MIN, 1)]
    assert view.window("k", T0 + MIN + 30) == (goka.TimeWindow(T0 + MIN, T0 + 3 * MIN), 3)
    assert view.window("k", T0 + 30) == (goka.TimeWindow(T0, T0 + 2 * MIN), 3)
    assert [n for _, n in view.windows("k", T0 + 2 * MIN, T0 + 3 * MIN)] == [3, 1]
