"""Windowed tables on the real Kafka protocol (embedded cluster).

Reader side: a ``goka.View(..., window=spec)`` reads window records written to the
partition of their *message* key, skips the stream-time marker and tombstones, and obeys
the recovery rules of ``get``. Processor side (``ctx.window``, closing, ``on_close``):
a per-minute click count with grace, late records, a SIGKILL mid-run, session windows.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import goka
from goka import codec
from goka.errors import NotRecoveredError
from goka.hash import goka as goka_hash
from goka.window import STREAM_TIME_KEY, SUFFIX_LEN, encode_stream_time, window_key

MIN = 60_000
T0 = 1_700_000_040_000  # a minute boundary (ms)


def window_hasher(key: bytes, partitions: int) -> int:
    """How a processor places window records: by the message key, without the suffix."""
    return goka_hash(key[:-SUFFIX_LEN], partitions)


def test_emitter_sets_record_timestamps(tmp_path, wait_for):
    with goka.EmbeddedCluster(partitions=1) as cluster:
        cluster.create_topic("ts", 1)
        seen: list[int] = []

        def on_msg(ctx: goka.Context, msg: str) -> None:
            seen.append(ctx.timestamp)

        graph = goka.define_group("ts-reader", goka.Input("ts", codec.String(), on_msg))
        when = datetime(2024, 3, 1, 12, 0, 30, tzinfo=timezone.utc)
        with goka.Emitter(cluster, "ts", codec.String()) as emitter:
            emitter.emit_sync("a", "x", timestamp=T0 + 5)
            emitter.emit_sync("a", "y", timestamp=when, headers={"h": "1"})
            emitter.emit_sync("a", "z")
            with pytest.raises(TypeError, match="emit timestamp must be .* got float"):
                emitter.emit("a", "w", timestamp=1.5)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="timezone-aware"):
                emitter.emit("a", "w", timestamp=datetime(2024, 1, 1))
            with pytest.raises(ValueError, match="after 1970"):
                emitter.emit("a", "w", timestamp=0)
        with goka.Processor(cluster, graph, path=str(tmp_path / "p")) as proc:
            assert proc.wait_recovered(30)
            wait_for(lambda: len(seen) == 3, 30, "three records")
        stamps = [int(s.timestamp() * 1000) if isinstance(s, datetime) else s for s in seen]
        assert stamps[:2] == [T0 + 5, int(when.timestamp() * 1000)]
        assert abs(stamps[2] - datetime.now(timezone.utc).timestamp() * 1000) < 120_000


def check_query_page(view: goka.View, table: str) -> None:
    """The web query page lists a key's windows (start, end, value), oldest first."""
    import json
    import urllib.request

    from goka.web import serve

    server = serve(0, views=[view])
    try:
        with urllib.request.urlopen(f"{server.url}api/query?source={table}&key=user-3", timeout=10) as r:
            found = json.load(r)
        assert found["found"] and found["error"] is None
        assert [(w["start_ms"], w["end_ms"], w["value"]) for w in found["windows"]] == \
            [(T0 + m * MIN, T0 + (m + 1) * MIN, str(30 + m)) for m in range(3)]
        assert found["windows"][0]["start"] == "2023-11-14T22:14:00+00:00"
        with urllib.request.urlopen(f"{server.url}query?source={table}&key=user-3", timeout=10) as r:
            html = r.read().decode()
        assert html.count('<tr class="window">') == 3
        assert "<td class=\"l\">2023-11-14T22:15:00+00:00</td>" in html and "<pre>31</pre>" in html
        with urllib.request.urlopen(f"{server.url}query?source={table}&key=nobody", timeout=10) as r:
            assert "key nobody has no windows in" in r.read().decode()
    finally:
        server.stop()


def test_windowed_view_reads_window_records_by_message_key(tmp_path, wait_for):
    """Window records of 24 keys over 4 partitions, each in its message key's partition,
    plus a marker per partition, an overwritten and a deleted window."""
    spec = goka.Tumbling(timedelta(minutes=1))
    table = goka.window_table("counter", "per-minute")
    keys = [f"user-{i}" for i in range(24)] + ["user-1x"]  # "user-1" is a prefix of "user-1x"
    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic(table, 4, {"cleanup.policy": "compact"})
        with goka.Emitter(cluster, table, codec.Bytes(), hasher=window_hasher) as emitter:
            for i, key in enumerate(keys):
                for m in range(3):
                    emitter.emit(window_key(key.encode(), T0 + m * MIN, T0 + (m + 1) * MIN), b"%d" % (i * 10 + m))
            emitter.emit(window_key(b"user-0", T0, T0 + MIN), b"1000")  # a newer value
            emitter.emit(window_key(b"user-0", T0 + 2 * MIN, T0 + 3 * MIN), None)  # deleted
        with goka.Emitter(cluster, table, codec.Bytes(), hasher=lambda k, n: 0) as markers:
            for p in range(4):
                markers.emit(STREAM_TIME_KEY, encode_stream_time(T0 + 3 * MIN))  # no window
        view = goka.View(cluster, table, codec.Int64(), window=spec, path=str(tmp_path / "v"))
        with pytest.raises(NotRecoveredError, match="not started"):
            view.windows("user-0")
        with view:
            assert view.wait_recovered(30)
            assert view.windows("user-0") == [(goka.TimeWindow(T0, T0 + MIN), 1000),
                                              (goka.TimeWindow(T0 + MIN, T0 + 2 * MIN), 1)]
            assert view.window("user-0", T0 + 2 * MIN) is None  # the deleted window
            for i, key in enumerate(keys[1:], start=1):
                assert [v for _, v in view.windows(key)] == [i * 10, i * 10 + 1, i * 10 + 2], key
                found = view.window(key, datetime(1970, 1, 1, tzinfo=timezone.utc)
                                    + timedelta(milliseconds=T0 + MIN + 1))
                assert found == (goka.TimeWindow(T0 + MIN, T0 + 2 * MIN), i * 10 + 1)
            assert [v for _, v in view.windows("user-5", T0 + MIN, T0 + 2 * MIN)] == [51]
            assert view.windows("nobody") == []
            with pytest.raises(TypeError, match="window table"):
                view.get("user-0")
            # the monitor's per-partition stats still reach the tables
            from goka.runtime.progress import view_tables
            assert len(view_tables(view)) == 4
            check_query_page(view, table)
        assert view.state == "stopped"
