"""``Emitter.emit(timestamp=...)`` on the tester: the record carries it (``ctx.timestamp``);
without one, the tester's clock."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

import goka
from goka import codec
from goka.tester import Tester

UTC = timezone.utc


def test_emit_timestamps_reach_the_callback() -> None:
    seen: list[tuple[str, datetime]] = []
    group = goka.define_group("g", goka.Input("in", codec.Int64(), lambda ctx, m: seen.append((ctx.key, ctx.timestamp))))
    tt = Tester()
    goka.Processor(tt, group)
    with goka.Emitter(tt, "in", codec.Int64()) as emitter:
        emitter.emit("a", 1, timestamp=1_600_000_000_000)
        emitter.emit_sync("b", 2, timestamp=datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
        emitter.emit("c", 3)
        with pytest.raises(ValueError, match="aware datetime"):
            emitter.emit("d", 4, timestamp=datetime(2021, 1, 1))
    assert seen[0] == ("a", datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC))
    assert seen[1] == ("b", datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
    assert seen[2] == ("c", tt.now())
    assert len(seen) == 3
