"""Windowed tables on the real Kafka protocol (embedded cluster).

Reader side: a ``goka.View(..., window=spec)`` reads window records written to the
partition of their *message* key, skips the stream-time marker and tombstones, and obeys
the recovery rules of ``get``. Processor side (``ctx.window``, closing, ``on_close``):
a per-minute click count with grace, late records, a SIGKILL mid-run, session windows.
"""
from __future__ import annotations

import importlib.util
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import goka
from goka import codec
from goka.errors import NotRecoveredError, ProcessorStoppedError
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
            with pytest.raises(TypeError, match="emit to .ts.: timestamp must be .* got float"):
                emitter.emit("a", "w", timestamp=1.5)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="emit to .ts.: timestamp must be an aware datetime"):
                emitter.emit("a", "w", timestamp=datetime(2024, 1, 1))
            with pytest.raises(ValueError, match="emit to .ts.: timestamp must be after the epoch"):
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
        with pytest.raises(ProcessorStoppedError, match="stopped"):
            view.window("user-1", T0)


# -- the processor side: a per-minute click count ------------------------------------------
_spec = importlib.util.spec_from_file_location("worker_process", Path(__file__).with_name("worker_process.py"))
assert _spec is not None and _spec.loader is not None
worker_process = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker_process)
WORKER = Path(__file__).with_name("window_worker.py")
window_worker = worker_process.load("window_worker")

KEYS = [f"user-{i}" for i in range(8)]
TIMEOUT = 60.0
Event = tuple[str, int, int]  # key, sequence number, timestamp ms


def partition_keys(prefix: str, partitions: int) -> list[str]:
    """One key per partition (``[p]`` is in partition ``p``)."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < partitions:
        key = f"{prefix}-{i}"
        found.setdefault(goka_hash(key.encode(), partitions), key)
        i += 1
    return [found[p] for p in range(partitions)]


class Clicks:
    """The clicks of the per-minute test in emission order, and what must come of them.

    Minutes 0-4 of KEYS (1-3 clicks per key and minute, in the first 9 s of each minute);
    after minute 1's clicks two clicks for minute 0, inside its 10 s grace (accepted); after
    minute 3's two clicks for minute 1, long closed (late: dropped); last a tick per
    partition at minute 6 that closes minutes 0-4 everywhere (its own window stays open).
    """

    def __init__(self, partitions: int) -> None:
        self.events: list[Event] = []
        self.windows: dict[tuple[str, int], set[int]] = {}
        self.late: list[int] = []
        seq = 0

        def add(key: str, ts: int, counted: bool = True) -> None:
            nonlocal seq
            seq += 1
            self.events.append((key, seq, ts))
            if counted:
                self.windows.setdefault((key, ts - ts % MIN), set()).add(seq)
            else:
                self.late.append(seq)

        for m in range(5):
            minute = [(T0 + m * MIN + (j + 1) * 2000 + k * 100, key)
                      for k, key in enumerate(KEYS) for j in range((k + m) % 3 + 1)]
            for ts, key in sorted(minute):
                add(key, ts)
            if m == 1:
                add("user-0", T0 + 30_000)
                add("user-5", T0 + 31_000)
            if m == 3:
                add("user-1", T0 + MIN + 30_000, counted=False)
                add("user-6", T0 + MIN + 31_000, counted=False)
        self.ticks = partition_keys("tick", partitions)
        for key in self.ticks:
            add(key, T0 + 6 * MIN + 30_000)
            self.windows.pop((key, T0 + 6 * MIN))  # open: no result

    @property
    def results(self) -> dict[tuple[str, int], int]:
        """``(key, window start) -> count`` that on_close must emit, once each."""
        return {kw: len(seqs) for kw, seqs in self.windows.items()}

    def emit(self, cluster: Any, topic: str, events: list[Event] | None = None) -> None:
        with goka.Emitter(cluster, topic, codec.Int64()) as emitter:
            futures = [emitter.emit(key, seq, timestamp=ts) for key, seq, ts in
                       (self.events if events is None else events)]
        for f in futures:
            f.result(10)


def read_topic(cluster: Any, topic: str, partitions: int) -> list[tuple[str, str]]:
    """Every record of ``topic`` (key, value), read to the end of each partition."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": cluster.brokers if hasattr(cluster, "brokers") else cluster,
                         "group.id": "window-test-reader", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out, ended = [], set()
        while len(ended) < partitions:
            msg = consumer.poll(10)
            assert msg is not None, f"no end of {topic} within 10 s"
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                ended.add(msg.partition())
                continue
            out.append((msg.key().decode(), msg.value().decode()))
        return out
    finally:
        consumer.close()


def results_of(records: list[tuple[str, str]]) -> dict[tuple[str, int], list[int]]:
    """``(key, window start) -> [count, ...]`` of the results emitted (duplicates kept)."""
    out: dict[tuple[str, int], list[int]] = {}
    for key, value in records:
        start, count = value.split(":")
        out.setdefault((key, int(start)), []).append(int(count))
    return out


def late_messages(proc: goka.Processor) -> float:
    """``goka_late_messages_total`` summed over its labels, as /metrics serves it."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from goka.web.metrics import GokaCollector

    registry = CollectorRegistry()
    registry.register(GokaCollector(processors=[proc]))
    return sum(sample.value for family in text_string_to_metric_families(generate_latest(registry).decode())
               for sample in family.samples if sample.name == "goka_late_messages_total")


def consumed(proc: goka.Processor) -> int:
    return sum(sum(p["consumed"].values()) for p in proc.stats()["partitions"].values())


def test_per_minute_click_count(tmp_path, wait_for):
    """Tumbling minutes with 10 s grace: a click inside the grace counts, a late one is dropped
    and counted; on_close emits exactly one count per key and minute; a windowed View reads
    the windows the processor wrote (kept for the edge's retention of an hour)."""
    clicks = Clicks(4)
    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("clicks", 4)
        cluster.create_topic("counts", 4)
        graph = window_worker.per_minute_group("per-minute", "clicks", "counts")
        clicks.emit(cluster, "clicks")
        with goka.Processor(cluster, graph, path=str(tmp_path / "p")) as proc:
            assert proc.wait_recovered(TIMEOUT)
            wait_for(lambda: consumed(proc) == len(clicks.events), TIMEOUT, "every click to be processed")
            expected = clicks.results
            wait_for(lambda: len(read_topic(cluster, "counts", 4)) >= len(expected), TIMEOUT,
                     "a result for every closed window")
            assert late_messages(proc) == len(clicks.late) == 2
            stats = proc.stats()
            check_processor_query(proc, clicks)
        results = results_of(read_topic(cluster, "counts", 4))
        assert results == {kw: [n] for kw, n in expected.items()}  # one each, none for open windows
        assert results[("user-0", T0)] == [len(clicks.windows[("user-0", T0)])]  # grace click counted
        assert "late" in repr(stats)
        table = goka.window_table("per-minute", window_worker.WINDOW)
        with goka.View(cluster, table, codec.Json(), window=window_worker.SPEC, path=str(tmp_path / "v")) as view:
            assert view.wait_recovered(TIMEOUT)
            for key in KEYS:
                got = {(w.start_ms, tuple(v)) for w, v in view.windows(key)}
                assert got == {(start, tuple(sorted(s))) for (k, start), s in clicks.windows.items() if k == key}
                assert [v for _, v in view.windows(key)] == [sorted(clicks.windows[(key, T0 + m * MIN)])
                                                            for m in range(5)]
            window, value = view.window(clicks.ticks[0], T0 + 6 * MIN + 59_999) or (None, None)
            assert window == goka.TimeWindow(T0 + 6 * MIN, T0 + 7 * MIN) and len(value) == 1  # still open


def check_processor_query(proc: goka.Processor, clicks: Clicks) -> None:
    """The web query page reads the processor's window table (a source named after its topic)."""
    import json
    import urllib.request

    from goka.web import serve

    table = goka.window_table("per-minute", window_worker.WINDOW)
    server = serve(0, processors=[proc])
    try:
        with urllib.request.urlopen(f"{server.url}api/query?source={table}&key=user-4", timeout=10) as r:
            found = json.load(r)
        assert found["error"] is None and found["found"]
        assert [(w["start_ms"], json.loads(w["value"])) for w in found["windows"]] == \
            [(T0 + m * MIN, sorted(clicks.windows[("user-4", T0 + m * MIN)])) for m in range(5)]
        with urllib.request.urlopen(f"{server.url}query?source={table}&key=user-4", timeout=10) as r:
            assert r.read().decode().count('<tr class="window">') == 5
    finally:
        server.stop()


class Worker(worker_process.WorkerProcess):  # type: ignore[misc]
    """A window_worker.py process; ``start()`` again restarts it on the same state directory."""

    def __init__(self, cluster: Any, path: Path, logs: Path) -> None:
        super().__init__("worker", WORKER, [cluster.brokers, "per-minute-kill", "clicks", "counts", str(path),
                                            "--delay", "0.01"], logs)

    def running(self) -> bool:
        return self.alive() and "STATE running" in self.lines()

    def closed(self, run: int = -1) -> list[tuple[str, int, int]]:
        return [(k, int(s), int(n)) for _, k, s, n in
                (line.split(" ") for line in self.lines(run) if line.startswith("CLOSE "))]


def test_results_survive_a_sigkill_mid_run(tmp_path, wait_for):
    """The processor process (each click taking 10 ms) is SIGKILLed mid-run, after it closed
    minute 0 and while it processes the second half of the clicks, then restarted on its state
    directory: every window's result is emitted (none lost), and a result emitted twice (at
    least once) carries the same count."""
    clicks = Clicks(4)
    logs = tmp_path / "logs"
    logs.mkdir()
    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("clicks", 4)
        cluster.create_topic("counts", 4)
        # a worker process holds only the bootstrap string: the embedded cluster creates topics here
        cluster.create_topic(goka.window_table("per-minute-kill", window_worker.WINDOW), 4,
                             {"cleanup.policy": "compact"})
        worker = Worker(cluster, tmp_path / "state", logs)
        try:
            worker.start()
            wait_for(worker.running, TIMEOUT, "the worker to run")
            # minutes 0-2 first: minute 0 closes for every key (windows close between batches)
            half = next(i for i, (_, _, ts) in enumerate(clicks.events) if ts >= T0 + 3 * MIN)
            clicks.emit(cluster, "clicks", clicks.events[:half])
            wait_for(lambda: worker.alive() and {(k, s) for k, s, _ in worker.closed()} >= {(k, T0) for k in KEYS},
                     TIMEOUT, "minute 0 to close for every key")
            clicks.emit(cluster, "clicks", clicks.events[half:])
            wait_for(lambda: worker.alive() and sum(line.startswith("MSG ") for line in worker.lines()) > half + 2,
                     TIMEOUT, "the worker to process minute 3's first clicks")
            worker.proc.kill()
            assert worker.proc.wait(10) == -signal.SIGKILL
            processed = [line for line in worker.lines(0) if line.startswith("MSG ")]
            assert len(processed) < len(clicks.events), "killed after the end, not mid-run"
            before = worker.closed(0)
            worker.start()
            wait_for(worker.running, TIMEOUT, "the restarted worker to run")
            expected = clicks.results
            wait_for(lambda: worker.alive() and set(results_of(read_topic(cluster, "counts", 4))) >= set(expected),
                     TIMEOUT, "a result for every closed window")
        finally:
            worker.kill()
        results = results_of(read_topic(cluster, "counts", 4))
        assert set(results) == set(expected)  # none lost, none for open windows
        for kw, counts in results.items():
            assert set(counts) == {expected[kw]}, f"{kw}: {counts} (expected {expected[kw]})"
        assert before and all(expected[(k, s)] == n for k, s, n in before)
        # the windows the processor wrote hold every accepted click, replays included once
        table = goka.window_table("per-minute-kill", window_worker.WINDOW)
        with goka.View(cluster, table, codec.Json(), window=window_worker.SPEC, path=str(tmp_path / "v")) as view:
            assert view.wait_recovered(TIMEOUT)
            for key in KEYS:
                assert [(w.start_ms, v) for w, v in view.windows(key)] == \
                    [(T0 + m * MIN, sorted(clicks.windows[(key, T0 + m * MIN)])) for m in range(5)]


# -- session windows ------------------------------------------------------------------------
GAP = 5 * MIN


def test_session_windows_merge_and_split(tmp_path, wait_for):
    """Sessions with a 5-minute gap and 10 minutes' grace: clicks close together share a
    session, a click more than the gap away starts another (a split), a click within the gap
    of two sessions merges them (values combined by ``merge``); each final session closes
    once, one merged away never does, and a windowed View reads the sessions."""
    spec = goka.Session(timedelta(minutes=5), grace=timedelta(minutes=10),
                        merge=lambda a, b: sorted(set(a) | set(b)))
    closes: list[tuple[str, int, int, list[int]]] = []

    def on_click(ctx: goka.Context, seq: int) -> None:
        session = ctx.window("visits")
        if not session.late:
            session.set_value(sorted({*(session.value() or []), seq}))

    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: list[int]) -> None:
        closes.append((ctx.key, window.start_ms, window.end_ms, value))
        ctx.emit("sessions", ctx.key, f"{window.start_ms}:{len(value)}")

    graph = goka.define_group("visits", goka.Input("visits-in", codec.Int64(), on_click),
                              goka.Output("sessions", codec.String()),
                              goka.Window("visits", spec, codec.Json(), on_close=on_close,
                                          retention=timedelta(hours=1)))
    ticks = partition_keys("tick", 2)
    events = [
        ("alice", 1, T0), ("alice", 2, T0 + 2 * MIN),  # one session [0, 2 min]
        ("alice", 3, T0 + 12 * MIN),                     # 10 min later: a second one (split)
        ("alice", 4, T0 + 7 * MIN),                      # within 5 min of both: merges them
        ("bob", 6, T0 + MIN), ("bob", 7, T0 + 3 * MIN),
    ]
    # then a third session of alice's, and ticks at 34 min in every partition: they close
    # the merged session (at 12 min + 1 ms + 5 + 10 min) and bob's, not the third one
    later = [("alice", 5, T0 + 30 * MIN)] + [(key, 100 + i, T0 + 34 * MIN) for i, key in enumerate(ticks)]
    merged = (goka.TimeWindow(T0, T0 + 12 * MIN + 1), [1, 2, 3, 4])
    third = (goka.TimeWindow(T0 + 30 * MIN, T0 + 30 * MIN + 1), [5])
    bob = (goka.TimeWindow(T0 + MIN, T0 + 3 * MIN + 1), [6, 7])
    with goka.EmbeddedCluster(partitions=2) as cluster:
        cluster.create_topic("visits-in", 2)
        cluster.create_topic("sessions", 2)

        def emit(batch: list[Event]) -> None:
            with goka.Emitter(cluster, "visits-in", codec.Int64()) as emitter:
                for key, seq, ts in batch:
                    emitter.emit(key, seq, timestamp=ts)

        emit(events)
        with goka.Processor(cluster, graph, path=str(tmp_path / "p")) as proc, \
                goka.View(cluster, goka.window_table("visits", "visits"), codec.Json(), window=spec,
                          path=str(tmp_path / "v")) as view:
            assert proc.wait_recovered(TIMEOUT) and view.wait_recovered(TIMEOUT)
            wait_for(lambda: consumed(proc) == len(events), TIMEOUT, "the clicks to be processed")
            wait_for(lambda: view.windows("alice") == [merged] and view.windows("bob") == [bob], TIMEOUT,
                     "alice's merged session and bob's in the view")
            assert view.window("alice", T0 + 5 * MIN) == merged
            assert view.window("alice", T0 + 20 * MIN) is None
            assert closes == []  # stream time is 12 min: nothing closed yet
            emit(later)
            wait_for(lambda: consumed(proc) == len(events) + len(later), TIMEOUT, "the later clicks")
            wait_for(lambda: len(closes) >= 2, TIMEOUT, "two sessions to close")
            wait_for(lambda: view.windows("alice") == [merged, third], TIMEOUT, "alice's third session")
        assert sorted(closes) == [("alice", T0, T0 + 12 * MIN + 1, [1, 2, 3, 4]),
                                  ("bob", T0 + MIN, T0 + 3 * MIN + 1, [6, 7])]
        assert sorted(read_topic(cluster, "sessions", 2)) == [("alice", f"{T0}:4"), ("bob", f"{T0 + MIN}:2")]


# -- hopping windows --------------------------------------------------------------------------
def test_hopping_windows_end_to_end(tmp_path, wait_for):
    """Hopping windows (2 minutes, advancing by 1) on Kafka: each click counts in both
    windows that hold it (``ctx.windows``), ``on_close`` emits each window's count once, and a
    windowed View reads the overlapping windows of the window topic."""
    spec = goka.Hopping(timedelta(minutes=2), timedelta(minutes=1))
    closes: list[tuple[str, int, int, int]] = []

    def on_click(ctx: goka.Context, seq: int) -> None:
        for window in ctx.windows("h"):
            if not window.late:
                window.set_value((window.value() or 0) + 1)

    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: int) -> None:
        closes.append((ctx.key, window.start_ms, window.end_ms, value))
        ctx.emit("hop-counts", ctx.key, f"{window.start_ms}:{value}")

    graph = goka.define_group("hops", goka.Input("hop-clicks", codec.Int64(), on_click),
                              goka.Output("hop-counts", codec.String()),
                              goka.Window("h", spec, codec.Int64(), on_close=on_close,
                                          retention=timedelta(hours=1)))
    # alice: minutes 0, 0, 1, 2; bob: minute 1, 3 -- windows start every minute, 2 long
    events = [("alice", 1, T0 + 1_000), ("alice", 2, T0 + 30_000), ("bob", 3, T0 + MIN + 5),
              ("alice", 4, T0 + MIN + 59_999), ("alice", 5, T0 + 2 * MIN), ("bob", 6, T0 + 3 * MIN)]
    expected = {("alice", -1): 2, ("alice", 0): 3, ("alice", 1): 2, ("alice", 2): 1,
                ("bob", 0): 1, ("bob", 1): 1, ("bob", 2): 1, ("bob", 3): 1}  # (key, start minute) -> count
    # ticks at minute 10 in every partition close every window above (each ends by minute 4)
    ticks = [(key, 100 + i, T0 + 10 * MIN) for i, key in enumerate(partition_keys("tick", 2))]
    with goka.EmbeddedCluster(partitions=2) as cluster:
        cluster.create_topic("hop-clicks", 2)
        cluster.create_topic("hop-counts", 2)

        def emit(batch: list[Event]) -> None:
            with goka.Emitter(cluster, "hop-clicks", codec.Int64()) as emitter:
                for key, seq, ts in batch:
                    emitter.emit(key, seq, timestamp=ts)

        def viewed(view: goka.View, key: str) -> dict[tuple[str, int], int]:
            return {(key, (w.start_ms - T0) // MIN): v for w, v in view.windows(key)}

        emit(events)
        with goka.Processor(cluster, graph, path=str(tmp_path / "p")) as proc, \
                goka.View(cluster, goka.window_table("hops", "h"), codec.Int64(), window=spec,
                          path=str(tmp_path / "v")) as view:
            assert proc.wait_recovered(TIMEOUT) and view.wait_recovered(TIMEOUT)
            wait_for(lambda: consumed(proc) == len(events), TIMEOUT, "the clicks to be processed")
            wait_for(lambda: {**viewed(view, "alice"), **viewed(view, "bob")} == expected, TIMEOUT,
                     "both windows of every click in the view")
            # view.window: the latest-starting window that holds the time
            assert view.window("alice", T0 + 30_000) == (goka.TimeWindow(T0, T0 + 2 * MIN), 3)
            assert view.window("bob", T0 + 30_000) == (goka.TimeWindow(T0, T0 + 2 * MIN), 1)
            assert view.window("bob", T0 + 5 * MIN) is None
            # stream time is per partition: the windows that end by their partition's closed
            stream = {}
            for key, _, ts in events:
                part = goka_hash(key.encode(), 2)
                stream[part] = max(stream.get(part, ts), ts)
            early = sorted((k, m) for k, m in expected if T0 + (m + 2) * MIN <= stream[goka_hash(k.encode(), 2)])
            assert early  # (some close before the ticks)
            wait_for(lambda: sorted((k, (s - T0) // MIN) for k, s, _, _ in closes) == early, TIMEOUT,
                     "the windows the clicks' stream time passed to close")
            emit(ticks)
            wait_for(lambda: len(closes) >= len(expected), TIMEOUT, "every window to close")
            wait_for(lambda: len(read_topic(cluster, "hop-counts", 2)) >= len(expected), TIMEOUT,
                     "the results in the output topic")
        assert sorted((k, (s - T0) // MIN, (e - s) // MIN, v) for k, s, e, v in closes) == \
            sorted((k, m, 2, v) for (k, m), v in expected.items())
        assert results_of(read_topic(cluster, "hop-counts", 2)) == \
            {(k, T0 + m * MIN): [v] for (k, m), v in expected.items()}


# -- a windowed view while it recovers ---------------------------------------------------------
FAST_RECONNECT = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200}


def test_windowed_view_reads_raise_while_recovering(embedded_cluster, tmp_path, wait_for):
    """Reads of a windowed View that has not caught up raise NotRecoveredError (naming
    stale_reads=True); with stale_reads=True they serve the local windows, and both serve the
    newest values once recovered."""
    cluster = embedded_cluster
    spec = goka.Tumbling(timedelta(minutes=1))
    table = goka.window_table("counter", "per-minute")
    cluster.create_topic(table, 4, {"cleanup.policy": "compact"})

    def fill(value: int, keys: int) -> None:
        with goka.Emitter(cluster, table, codec.Bytes(), hasher=window_hasher) as emitter:
            for i in range(keys):
                emitter.emit(window_key(f"user-{i}".encode(), T0, T0 + MIN), b"%d" % value)

    fill(1, 10)
    path = str(tmp_path / "v")
    with goka.View(cluster, table, codec.Int64(), window=spec, path=path) as view:  # the local copy: all 1
        assert view.wait_recovered(TIMEOUT) and view.window("user-3", T0) == (goka.TimeWindow(T0, T0 + MIN), 1)
    fill(2, 12)  # user-10 and user-11 are new, the others updated
    fresh = goka.View(cluster, table, codec.Int64(), window=spec, path=str(tmp_path / "fresh"),
                      consumer_config=FAST_RECONNECT)
    cluster.set_broker_down(1)  # the views start but cannot catch up
    with fresh:
        assert not fresh.recovered() and fresh.wait_recovered(0.5) is False
        for call in (lambda: fresh.window("user-3", T0), lambda: fresh.windows("user-3"),
                     lambda: fresh.windows("nobody", T0, T0 + MIN)):
            with pytest.raises(NotRecoveredError, match=f"'{table}' is recovering.*stale_reads=True"):
                call()
        cluster.set_broker_up(1)
        assert fresh.wait_recovered(TIMEOUT)
        assert fresh.windows("user-3") == [(goka.TimeWindow(T0, T0 + MIN), 2)]
    stale = goka.View(cluster, table, codec.Int64(), window=spec, path=path, stale_reads=True,
                      consumer_config=FAST_RECONNECT)
    cluster.set_broker_down(1)
    with stale:
        assert not stale.recovered()
        assert stale.window("user-3", T0) == (goka.TimeWindow(T0, T0 + MIN), 1)  # old, but there
        assert stale.windows("user-11") == []  # not local yet
        cluster.set_broker_up(1)
        assert stale.wait_recovered(TIMEOUT)
        assert stale.window("user-3", T0) == (goka.TimeWindow(T0, T0 + MIN), 2)
        assert stale.windows("user-11") == [(goka.TimeWindow(T0, T0 + MIN), 2)]
