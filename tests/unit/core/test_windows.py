"""Windowed tables (``goka.Window``, ``ctx.window``/``ctx.windows``) in the partition
processor, both twins: window assignment (tumbling, hopping, sessions and their merges),
late records, close order and the ctx ``on_close`` sees, retention, rollback of a failed
callback, at least once (``on_close`` runs again after a crash before its effects and the
stream-time marker are acknowledged) and recovery from storage + marker; plus a
differential run of both twins over the same random records. Each test runs the window
handle twin (``_window_handle_py`` / ``_c``) of the same kind as its partition twin."""
from __future__ import annotations

import importlib.util
import logging
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import goka
from goka import codec
from goka.errors import ProcessingError, UndeclaredTopicError
from goka.storage.memory import MemoryStorage
from goka.window import STREAM_TIME_KEY, decode_stream_time, parse_window_key, window_key
from tests.conftest import import_twin

# the fake message and producer of test_partition (test modules are not a package)
_spec = importlib.util.spec_from_file_location("_partition_tests", Path(__file__).with_name("test_partition.py"))
assert _spec is not None and _spec.loader is not None
_tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tp)
Msg, Producer = _tp.Msg, _tp.Producer



def use_handles(kind: str) -> None:
    """Make :mod:`goka._core.windows` create handles with the ``kind`` twin ("py"/"c")."""
    from goka._core import windows

    twin = import_twin("window_handle", kind)
    windows.WindowHandle = twin.WindowHandle  # type: ignore[misc]
    windows.tumbling_handle = twin.tumbling_handle


@pytest.fixture(autouse=True)
def _handle_twin(request: pytest.FixtureRequest) -> Any:
    """The window handle twin of the partition twin under test (restored afterwards)."""
    from goka._core import windows

    saved = windows.WindowHandle, windows.tumbling_handle
    if "partition" in request.fixturenames:
        use_handles("c" if request.getfixturevalue("partition").__name__.endswith("_c") else "py")
    yield
    windows.WindowHandle, windows.tumbling_handle = saved  # type: ignore[misc]


T0 = 1_700_000_000_000  # a multiple of 10 s
S = 1000
CLOSED: list[tuple[Any, ...]] = []
SEEN: list[tuple[Any, ...]] = []


def on_msg(ctx: goka.Context, msg: str) -> None:
    """One letter per action: t/h/s add 1 to the tumbling/every hopping/the session window,
    d deletes the tumbling window, r reads the tumbling window into SEEN, x fails."""
    for op in msg:
        if op == "t":
            w = ctx.window("tumbling")
            SEEN.append(("t", ctx.key, w.start_ms, w.end_ms, w.late))
            w.set_value((w.value() or 0) + 1)
        elif op == "h":
            for w in ctx.windows("hopping"):
                w.set_value((w.value() or 0) + 1)
        elif op == "s":
            w = ctx.window("session")
            SEEN.append(("s", ctx.key, w.start_ms, w.end_ms, w.late, w.value()))
            w.set_value((w.value() or 0) + 1)
        elif op == "d":
            ctx.window("tumbling").delete()
        elif op == "r":
            SEEN.append(("r", ctx.key, ctx.window("tumbling").value()))
        elif op == "x":
            raise RuntimeError("after window writes")


def closer(name: str) -> Any:
    def on_close(ctx: goka.Context, window: goka.TimeWindow, value: int) -> None:
        CLOSED.append((name, ctx.key, window.start_ms, window.end_ms, value, ctx.topic,
                       int(ctx.timestamp.timestamp() * 1000)))
        if value == 666:
            raise RuntimeError("on_close failed")
        ctx.emit("out", ctx.key, f"{name}:{window.start_ms - T0}:{value}")
    return on_close


def graph(retention: timedelta | None = None, merge: Any = lambda a, b: a + b) -> Any:
    return goka.define_group(
        "g", goka.Input("in", codec.String(), on_msg), goka.Output("out", codec.String()),
        goka.Window("tumbling", goka.Tumbling(timedelta(seconds=10), grace=timedelta(seconds=2)), codec.Int64(),
                    on_close=closer("tumbling"), retention=retention),
        goka.Window("hopping", goka.Hopping(timedelta(seconds=10), timedelta(seconds=5)), codec.Int64(),
                    on_close=closer("hopping")),
        goka.Window("session", goka.Session(timedelta(seconds=5), grace=timedelta(seconds=10), merge=merge), codec.Int64(),
                    on_close=closer("session")))


NAMES = ("tumbling", "hopping", "session")


class Setup:
    def __init__(self, partition: ModuleType, storages: dict[str, Any] | None = None, **kw: Any) -> None:
        CLOSED.clear()
        SEEN.clear()
        self.producer = Producer()
        self.storages = storages if storages is not None else {n: MemoryStorage() for n in NAMES}
        self.offset = 0
        self.pp = partition.PartitionProcessor(
            graph(**kw), 0, produce_batch=self.producer.produce_batch, partitions_of=lambda topic: 1,
            hasher=lambda key, n: 0, fail=lambda exc: None, storage=None, joins={}, lookups={},
            nil_handling=goka.NilHandling.IGNORE, window_storages=self.storages)

    def send(self, *msgs: tuple[bytes, str, int], close: bool = True) -> None:
        """Messages (key, actions, timestamp - T0 in ms) as one batch, then the close step."""
        for key, value, ts in msgs:
            self.pp.process(Msg("in", self.offset, key, value.encode(), ts=T0 + ts))
            self.offset += 1
        self.pp.end_batch()
        if close:
            self.pp.close_windows()

    def settle(self) -> None:
        for _ in range(4):
            self.producer.deliver()
            self.pp.advance()

    def stored(self, name: str) -> dict[tuple[bytes, int, int], int]:
        return {(k, s - T0, e - T0): codec.Int64().decode(v)
                for k, s, e, v in ((*parse_window_key(wk), v) for wk, v in self.storages[name].items()
                                   if wk != STREAM_TIME_KEY)}

    def marker(self, name: str) -> int | None:
        data = self.storages[name].get(STREAM_TIME_KEY)
        return None if data is None else decode_stream_time(data) - T0

    def out(self) -> list[str]:
        return [r["value"].decode() for t, _, r, _ in self.producer.delivered if t == "out"]


def closed(name: str | None = None) -> list[tuple[Any, ...]]:
    return [(n, k, s - T0, e - T0, v) for n, k, s, e, v, *_ in CLOSED if name is None or n == name]


def test_tumbling_and_hopping_assignment(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "th", 3 * S), (b"a", "th", 7 * S), (b"b", "t", 12 * S), close=False)
    s.settle()
    assert s.stored("tumbling") == {(b"a", 0, 10 * S): 2, (b"b", 10 * S, 20 * S): 1}
    assert s.stored("hopping") == {(b"a", -5 * S, 5 * S): 1, (b"a", 0, 10 * S): 2, (b"a", 5 * S, 15 * S): 1}
    assert SEEN[0] == ("t", "a", T0, T0 + 10 * S, False)


def test_window_handle_api_and_errors(partition: ModuleType) -> None:
    got: list[Any] = []
    kinds: set[str] = set()

    def cb(ctx: goka.Context, msg: str) -> None:
        if msg == "hop":
            ctx.window("hopping")
        elif msg == "unknown":
            ctx.window("nope")
        else:
            w = ctx.window("tumbling")
            got.append((w.start, w.end, w.start_ms, w.end_ms, w.window, len(ctx.windows("tumbling"))))
            kinds.add(type(w).__module__)
            got.append((repr(w), w.late, w.value()))

    g = goka.define_group("g", goka.Input("in", codec.String(), cb),
                          goka.Window("tumbling", goka.Tumbling(timedelta(seconds=10)), codec.Int64()),
                          goka.Window("hopping", goka.Hopping(timedelta(seconds=10), timedelta(seconds=5)),
                                      codec.Int64()))
    storages = {"tumbling": MemoryStorage(), "hopping": MemoryStorage()}
    pp = partition.PartitionProcessor(
        g, 0, produce_batch=Producer().produce_batch, partitions_of=lambda t: 1, hasher=lambda k, n: 0,
        fail=lambda e: None, storage=None, joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE,
        window_storages=storages)
    pp.process(Msg("in", 0, b"a", b"ok", ts=T0 + 1))
    start = datetime.fromtimestamp(T0 / 1000, timezone.utc)
    assert got == [(start, start + timedelta(seconds=10), T0, T0 + 10 * S, goka.TimeWindow(T0, T0 + 10 * S), 1),
                   (f"<window 'tumbling' {start.isoformat()}..{(start + timedelta(seconds=10)).isoformat()}>",
                    False, None)]
    # the handle twin of the partition twin's kind (see _handle_twin)
    assert kinds == {"goka._core._window_handle_" + partition.__name__.rsplit("_", 1)[1]}
    with pytest.raises(ProcessingError, match=r"ctx.windows\('hopping'\)") as err:
        pp.process(Msg("in", 1, b"a", b"hop", ts=T0))
    assert isinstance(err.value.__cause__, TypeError)
    with pytest.raises(ProcessingError, match=r"no window 'nope'.*\['hopping', 'tumbling'\]") as err:
        pp.process(Msg("in", 2, b"a", b"unknown", ts=T0))
    assert isinstance(err.value.__cause__, UndeclaredTopicError)


def test_no_window_edge(dispatch: ModuleType) -> None:
    def cb(ctx: goka.Context, msg: str) -> None:
        ctx.window("w")

    g = goka.define_group("g", goka.Input("in", codec.String(), cb))
    d = dispatch.Dispatcher(g, 0, _Sink())
    with pytest.raises(ProcessingError, match="has no Window edge") as err:
        d.process("in", 0, b"k", b"v", T0)
    assert isinstance(err.value.__cause__, UndeclaredTopicError)


class _Sink:
    def emit(self, topic: str, key: bytes, value: bytes | None, headers: Any) -> None: ...

    def defer(self) -> Any:
        return lambda exc=None: None


def test_sessions_extend_merge_and_split(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "s", 0), (b"a", "s", 3 * S), (b"a", "s", 12 * S))  # [0,3001) and [12000,12001)
    s.settle()
    assert s.stored("session") == {(b"a", 0, 3 * S + 1): 2, (b"a", 12 * S, 12 * S + 1): 1}
    done = len(s.producer.delivered)
    s.send((b"a", "s", 7500))  # within the gap of both: merged
    s.settle()
    assert SEEN[-1] == ("s", "a", T0, T0 + 12 * S + 1, False, 3)
    assert s.stored("session") == {(b"a", 0, 12 * S + 1): 4}
    tombstones = [parse_window_key(r["key"])[1:] for t, _, r, _ in s.producer.delivered[done:]
                  if t == "g-session" and r["value"] is None]
    assert sorted(tombstones) == [(T0, T0 + 3 * S + 1), (T0 + 12 * S, T0 + 12 * S + 1)]
    s.send((b"a", "s", 30 * S))  # more than the gap later: a new session; the old one closes
    s.settle()
    assert s.stored("session") == {(b"a", 30 * S, 30 * S + 1): 1}
    assert closed("session") == [("session", "a", 0, 12 * S + 1, 4)]


def test_session_merge_without_merge_function_keeps_the_earliest(partition: ModuleType,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    s = Setup(partition, merge=None)
    s.send((b"a", "ss", 0), (b"a", "s", 6 * S))
    with caplog.at_level(logging.WARNING, logger="goka.processor"):
        s.send((b"a", "s", 3 * S), (b"b", "s", 0), (b"b", "s", 6 * S), (b"b", "s", 3 * S))
    s.settle()
    assert s.stored("session") == {(b"a", 0, 6 * S + 1): 3, (b"b", 0, 6 * S + 1): 2}
    warnings = [r for r in caplog.records if "no merge" in r.getMessage()]
    assert len(warnings) == 1 and "'session'" in warnings[0].getMessage()


def test_close_order_ctx_and_on_close_effects(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"c", "t", 19 * S), (b"a", "t", 11 * S), (b"a", "s", 5 * S))
    assert CLOSED == []
    s.send((b"b", "t", 24 * S), (b"z", "", 25 * S))  # session [5000,5001) closes at 20001, [10s,20s) at 22 s
    assert closed() == [("session", "a", 5 * S, 5 * S + 1, 1), ("tumbling", "a", 10 * S, 20 * S, 1),
                        ("tumbling", "c", 10 * S, 20 * S, 1)]
    assert CLOSED[0][5:] == ("g-session", T0 + 20 * S + 1)
    assert CLOSED[1][5:] == ("g-tumbling", T0 + 22 * S)
    s.settle()
    assert s.out() == ["session:5000:1", "tumbling:10000:1", "tumbling:10000:1"]
    assert s.stored("tumbling") == {(b"b", 20 * S, 30 * S): 1}  # closed = past default retention
    assert s.marker("tumbling") == s.marker("session") == s.marker("hopping") == 25 * S
    st = s.pp.stats()["windows"]
    assert st["stream_time"] == T0 + 25 * S and st["late"] == 0
    assert st["edges"]["tumbling"] == {"open": 1, "late": 0, "closed": 2, "next_close": T0 + 32 * S}
    assert s.pp.in_flight() == 0


def test_late_records_are_dropped_and_counted(partition: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    s = Setup(partition)
    s.send((b"a", "t", 1 * S), (b"a", "t", 30 * S))
    assert closed("tumbling") == [("tumbling", "a", 0, 10 * S, 1)]
    with caplog.at_level(logging.DEBUG, logger="goka.processor"):
        s.send((b"a", "ttr", 5 * S), (b"a", "t", 11 * S))  # [0,10s) closed: late; [10s,20s) closes at 22 s
    s.settle()
    assert SEEN[2:4] == [("t", "a", T0, T0 + 10 * S, True)] * 2
    assert SEEN[4] == ("r", "a", None)
    assert SEEN[5] == ("t", "a", T0 + 10 * S, T0 + 20 * S, True)
    assert s.pp.stats()["windows"]["late"] == 2  # once per message and edge
    assert s.stored("tumbling") == {(b"a", 30 * S, 40 * S): 1}
    logs = [r.getMessage() for r in caplog.records if "late" in r.getMessage()]
    assert len(logs) == 2 and "topic='in'" in logs[0] and "offset=2" in logs[0] and "key='a'" in logs[0]
    assert closed("tumbling") == [("tumbling", "a", 0, 10 * S, 1)]  # no second close of a late window


def test_retention_keeps_closed_windows_until_it_ends(partition: ModuleType) -> None:
    s = Setup(partition, retention=timedelta(seconds=30))
    s.send((b"a", "t", 1 * S), (b"a", "t", 12 * S))
    s.settle()
    assert closed("tumbling") == [("tumbling", "a", 0, 10 * S, 1)]
    assert s.stored("tumbling") == {(b"a", 0, 10 * S): 1, (b"a", 10 * S, 20 * S): 1}
    s.send((b"b", "", 29 * S))
    s.settle()
    assert (b"a", 0, 10 * S) in s.stored("tumbling")  # start + 30 s not reached
    assert closed("tumbling")[-1] == ("tumbling", "a", 10 * S, 20 * S, 1)
    s.send((b"b", "", 30 * S))
    s.settle()
    assert s.stored("tumbling") == {(b"a", 10 * S, 20 * S): 1}  # [0,10s) expired at 0 + 30 s
    s.send((b"b", "", 40 * S))
    s.settle()
    assert s.stored("tumbling") == {}


def test_failed_callback_leaves_no_window_change(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "ts", 0), (b"a", "s", 8 * S))
    s.settle()
    before = {n: s.stored(n) for n in NAMES}
    with pytest.raises(ProcessingError, match="after window writes"):
        s.pp.process(Msg("in", 9, b"a", b"thsdx", ts=T0 + 4 * S))
    SEEN.clear()
    s.pp.process(Msg("in", 10, b"a", b"rs", ts=T0 + 4 * S))
    assert SEEN == [("r", "a", 1), ("s", "a", T0, T0 + 8 * S + 1, False, 2)]  # not 2 and 3
    s.pp.end_batch()
    s.settle()
    assert {n: s.stored(n) for n in ("tumbling", "hopping")} == {n: before[n] for n in ("tumbling", "hopping")}
    assert s.stored("session") == {(b"a", 0, 8 * S + 1): 3}


def test_failing_on_close_keeps_the_window_open(partition: ModuleType) -> None:
    s = Setup(partition)
    s.send((b"a", "t" * 666, 0), (b"b", "t", 1 * S), close=False)
    s.send((b"c", "", 20 * S), close=False)
    with pytest.raises(ProcessingError, match="on_close failed") as err:
        s.pp.close_windows()
    assert err.value.topic == "g-tumbling" and err.value.key == "a"
    s.settle()
    assert s.marker("tumbling") is None and s.out() == []
    assert s.pp.windows.edges["tumbling"].next_close() == T0 + 12 * S


def test_crash_before_acknowledgement_runs_on_close_again(partition: ModuleType) -> None:
    """At least once: until the close batch is acknowledged there is no marker and no
    tombstone; a 'crash' (a new partition processor over the same storage) closes again."""
    s = Setup(partition)
    s.send((b"a", "t", 1 * S))
    s.settle()
    s.send((b"b", "", 13 * S))
    assert closed("tumbling") == [("tumbling", "a", 0, 10 * S, 1)]
    s.pp.advance()
    assert s.marker("tumbling") == 1 * S  # of the first round (nothing closed then)
    assert all(t != "g-tumbling" for t, *_ in s.producer.pending)  # no marker, no tombstone yet
    again = Setup(partition, storages=s.storages)  # crash: the close batch is not acknowledged
    assert again.pp.windows.stream_time == T0 + 1 * S  # the marker of the first round
    again.send((b"c", "", 13 * S))
    assert closed("tumbling") == [("tumbling", "a", 0, 10 * S, 1)]
    again.settle()
    assert again.out() == ["tumbling:0:1"] and again.marker("tumbling") == 13 * S
    assert again.stored("tumbling") == {}


def test_recovery_from_storage_and_marker(partition: ModuleType) -> None:
    s = Setup(partition, retention=timedelta(seconds=60))
    s.send((b"a", "t", 1 * S), (b"b", "t", 11 * S), (b"a", "s", 11 * S))
    s.send((b"c", "", 13 * S))
    s.settle()
    assert closed() == [("tumbling", "a", 0, 10 * S, 1)]
    assert s.marker("tumbling") == 13 * S
    again = Setup(partition, storages=s.storages, retention=timedelta(seconds=60))
    assert again.pp.windows.stream_time == T0 + 13 * S
    again.pp.close_windows()
    assert CLOSED == []  # [0,10s) was closed before the restart: not again
    again.send((b"a", "t", 5 * S))  # still late after the restart
    assert SEEN[-1] == ("t", "a", T0, T0 + 10 * S, True)
    again.send((b"d", "", 30 * S))
    again.settle()
    assert closed() == [("tumbling", "b", 10 * S, 20 * S, 1), ("session", "a", 11 * S, 11 * S + 1, 1)]
    assert again.stored("tumbling") == {(b"a", 0, 10 * S): 1, (b"b", 10 * S, 20 * S): 1}  # retained
    again.send((b"d", "", 70 * S))
    again.settle()
    assert again.stored("tumbling") == {} and again.marker("tumbling") == 70 * S


def test_invalid_window_record_in_storage_is_refused(partition: ModuleType) -> None:
    storages = {n: MemoryStorage() for n in NAMES}
    storages["hopping"].set(b"short", b"1")
    with pytest.raises(ProcessingError, match="invalid record b'short' in window storage") as err:
        Setup(partition, storages=storages)
    assert err.value.topic == "g-hopping"
    storages["hopping"].delete(b"short")
    storages["hopping"].set(STREAM_TIME_KEY, b"123")
    with pytest.raises(ProcessingError, match="stream-time marker"):
        Setup(partition, storages=storages)


def test_groups_without_windows_have_none(partition: ModuleType) -> None:
    g = goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, m: None))
    pp = partition.PartitionProcessor(
        g, 0, produce_batch=Producer().produce_batch, partitions_of=lambda t: 1, hasher=lambda k, n: 0,
        fail=lambda e: None, storage=None, joins={}, lookups={}, nil_handling=goka.NilHandling.IGNORE)
    assert pp.windows is None and pp.close_windows() == 0 and "windows" not in pp.stats()


def _run(partition: ModuleType, records: list[tuple[bytes, str, int]], batch: int) -> Any:
    use_handles(partition.__name__.rsplit("_", 1)[1])
    s = Setup(partition)
    for i in range(0, len(records), batch):
        s.send(*records[i:i + batch])
        s.producer.deliver(len(s.producer.pending) // 2)
        s.pp.advance()
    s.settle()
    return (list(CLOSED), [(t, p, r["key"], r["value"]) for t, p, r, _ in s.producer.delivered],
            {n: dict(st.items()) for n, st in s.storages.items()}, s.pp.stats()["windows"])


@pytest.mark.c_extension
@pytest.mark.parametrize("seed", range(5))
def test_twins_agree(seed: int) -> None:
    rnd = random.Random(seed)
    records = []
    ts = 0
    for _ in range(300):
        ts = max(0, ts + rnd.randint(-4 * S, 3 * S))  # out of order, some late
        records.append((rnd.choice([b"a", b"b", b"c"]), "".join(rnd.sample("ths", rnd.randint(0, 3))), ts))
    batch = rnd.randint(1, 20)
    py = _run(import_twin("partition", "py"), records, batch)
    c = _run(import_twin("partition", "c"), records, batch)
    assert py == c
    assert py[0] and py[3]["late"] > 0  # closes and late records did happen
    assert py[2]["tumbling"]  # and something is stored


def test_close_batches_are_limited_and_the_marker_follows(partition: ModuleType,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from goka._core import windows

    monkeypatch.setattr(windows.Windows.due, "__defaults__", (2,))
    s = Setup(partition)
    s.send(*[(k, "t", 1 * S) for k in (b"a", b"b", b"c", b"d", b"e")], (b"f", "t", 11 * S))
    s.send((b"z", "", 12 * S), close=False)
    assert s.pp.close_windows() == 2
    s.settle()
    assert s.marker("tumbling") == 12 * S - 1  # complete only up to before the next window's close
    assert s.pp.close_windows() == 2 and s.pp.close_windows() == 1 and s.pp.close_windows() == 0
    s.settle()
    assert s.marker("tumbling") == 12 * S
    assert [k for _, k, *_ in closed()] == ["a", "b", "c", "d", "e"]
    assert s.stored("tumbling") == {(b"f", 10 * S, 20 * S): 1}


@pytest.mark.parametrize("size,advance", [(10, 10), (10, 5), (10, 3), (7, 2), (5, 1), (1, 1)])
def test_cached_window_bounds_match_the_spec(size: int, advance: int) -> None:
    """The per-edge cache of a timestamp's windows (``WindowEdge.bucket``) gives exactly
    ``spec.windows_at`` for any order of timestamps, also where size is not a multiple of
    advance (the set of windows then changes inside an advance)."""
    from goka._core.windows import Windows

    spec = goka.Hopping(timedelta(milliseconds=size), timedelta(milliseconds=advance),
                        grace=timedelta(milliseconds=2))
    g = goka.define_group("g", goka.Input("in", codec.String(), lambda ctx, msg: None),
                          goka.Window("w", spec, codec.Int64()))
    edge = Windows(g, {"w": MemoryStorage()}, lambda *a: None, lambda entry: None).edges["w"]
    rnd = random.Random(size * 100 + advance)
    stamps = list(range(0, 60)) + [rnd.randrange(0, 200) for _ in range(300)] + [T0 + i for i in range(30)]
    for ts in stamps:
        expected = [(w.start_ms, w.end_ms, w.end_ms + 2, window_key(b"", w.start_ms, w.end_ms))
                    for w in spec.windows_at(ts)]
        assert list(edge.bucket(ts)) == expected, ts
