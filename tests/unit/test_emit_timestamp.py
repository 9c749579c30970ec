"""``Emitter.emit(..., timestamp=...)`` on the tester: the record's timestamp is what the
callback sees as ``ctx.timestamp`` and what drives windows; wrong types are rejected before
anything is emitted."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import goka
from goka import codec
from goka.tester import Tester

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_emitter_timestamp_reaches_the_callback_and_windows() -> None:
    seen: list[datetime] = []
    closed: list[tuple[datetime, int]] = []

    def on_click(ctx: goka.Context, _: str) -> None:
        seen.append(ctx.timestamp)
        minute = ctx.window("m")
        minute.set_value((minute.value() or 0) + 1)

    def on_close(ctx: goka.Context, window: goka.TimeWindow, n: int) -> None:
        closed.append((window.start, n))

    tt = Tester()
    goka.Processor(tt, goka.define_group(
        "g", goka.Input("clicks", codec.String(), on_click),
        goka.Window("m", goka.Tumbling(timedelta(minutes=1)), codec.Int64(), on_close=on_close)))
    emitter = goka.Emitter(tt, "clicks", codec.String())
    emitter.emit_sync("a", "x", timestamp=T0 + timedelta(seconds=5))
    emitter.emit("a", "x", timestamp=int((T0 + timedelta(seconds=50)).timestamp() * 1000)).result(1)
    emitter.emit("a", "x", headers={"h": "1"}, timestamp=T0 + timedelta(minutes=1, seconds=1)).result(1)
    assert seen == [T0 + timedelta(seconds=5), T0 + timedelta(seconds=50), T0 + timedelta(minutes=1, seconds=1)]
    assert closed == [(T0, 2)]
    with pytest.raises(TypeError, match="timestamp must be .* got str"):
        emitter.emit("a", "x", timestamp="now")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware datetime"):
        emitter.emit("a", "x", timestamp=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="after the epoch"):
        emitter.emit("a", "x", timestamp=-5)
    assert len(seen) == 3
