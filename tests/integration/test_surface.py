"""Issue 11 on the embedded cluster: an emitter's finish is bounded (defect 3), keys are
str or bytes (4), views refuse reads while recovering (6) and lifecycle misuse of
processors and views raises (9)."""
from __future__ import annotations

import os
import threading
import time

import pytest

import goka
import goka.emitter
from goka import codec
from goka.web.query import lookup, query_page

EMBEDDED_GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}  # as conftest's
FAST_RECONNECT = {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200}


def rdkafka_clients() -> int:
    """librdkafka clients alive in this process: each has one native thread ``rdk:main``
    (counting its broker threads would be noisy: the mock cluster's vary)."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                count += f.read().strip() == "rdk:main"
        except OSError:  # the thread ended meanwhile
            pass
    return count


def settled_rdkafka_clients(timeout: float = 5.0) -> int:
    """:func:`rdkafka_clients` once no client is still shutting down: the count a client
    destroyed just before (e.g. the topic manager an Emitter asks for the partition count)
    leaves while its thread exits only falls, so wait until it holds for 200 ms."""
    deadline = time.monotonic() + timeout
    count, since = rdkafka_clients(), time.monotonic()
    while time.monotonic() - since < 0.2:
        if time.monotonic() > deadline:
            pytest.fail(f"librdkafka client count did not settle within {timeout} s")
        time.sleep(0.02)
        now = rdkafka_clients()
        if now != count:
            count, since = now, time.monotonic()
    return count


# -- defect 3: Emitter.finish never blocks forever ----------------------------------------

def test_finish_times_out_and_fails_every_pending_future(embedded_cluster):
    cluster = embedded_cluster
    cluster.create_topic("t", 4)
    clients_before = settled_rdkafka_clients()
    emitter = goka.Emitter(cluster, "t", codec.Int64())
    assert settled_rdkafka_clients() == clients_before + 1
    cluster.set_broker_down(1)  # for good: nothing emitted from here on can be acknowledged
    futures = [emitter.emit(f"k{i}", i) for i in range(10)]
    started = time.monotonic()
    with pytest.raises(goka.EmitTimeoutError) as info:
        emitter.finish(timeout=2)
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 2 + goka.runtime.emitter.PURGE_WAIT + 3  # bounded, not forever
    err = info.value
    assert isinstance(err, goka.EmitterClosedError) and isinstance(err, goka.GokaError)
    assert (err.topic, err.pending, err.timeout) == ("t", 10, 2)
    assert "'t'" in str(err) and "10 record(s)" in str(err)
    assert all(f.done() for f in futures)
    errors = [f.exception(0) for f in futures]
    assert all(type(e) is goka.EmitTimeoutError and e.topic == "t" and e.pending == 10 for e in errors)
    assert len({id(e) for e in errors}) == 10  # one instance per future: tracebacks don't mix
    # closed for good, and the client is released
    with pytest.raises(goka.EmitterClosedError, match="'t' is finished"):
        emitter.emit("late", 1)
    with pytest.raises(goka.EmitterClosedError):
        emitter.emit_sync("late", 1)
    emitter.finish(timeout=2)  # again: a no-op, it does not raise twice
    backend = emitter._backend
    assert not hasattr(backend, "producer") and not backend._poller.is_alive()
    assert rdkafka_clients() == clients_before  # librdkafka's destroy joins its threads


def test_context_manager_exit_is_bounded(embedded_cluster, monkeypatch):
    cluster = embedded_cluster
    cluster.create_topic("t", 2)
    monkeypatch.setattr(goka.emitter, "FINISH_TIMEOUT", 1.0)
    started = time.monotonic()
    with pytest.raises(goka.EmitTimeoutError) as info:
        with goka.Emitter(cluster, "t", codec.Int64()) as emitter:
            cluster.set_broker_down(1)
            futures = [emitter.emit("k", i) for i in range(3)]
    assert time.monotonic() - started < 1 + goka.runtime.emitter.PURGE_WAIT + 3
    assert info.value.pending == 3 and info.value.timeout == 1.0
    assert all(type(f.exception(0)) is goka.EmitTimeoutError for f in futures)


def test_finish_in_time_resolves_everything(embedded_cluster):
    cluster = embedded_cluster
    cluster.create_topic("t", 2)
    emitter = goka.Emitter(cluster, "t", codec.Int64())
    futures = [emitter.emit(f"k{i}", i) for i in range(100)]
    for bad in (-1, float("nan")):  # flush(-1) would wait forever
        with pytest.raises(ValueError, match="timeout must be None or >= 0"):
            emitter.finish(timeout=bad)
    emitter.finish(timeout=30)
    offsets = [f.result(0) for f in futures]  # all resolved, none failed
    assert len(offsets) == 100 and all(isinstance(o, int) and o >= 0 for o in offsets)
    with pytest.raises(goka.EmitterClosedError):
        emitter.emit("k", 1)


def test_finish_waits_for_a_broker_that_comes_back(embedded_cluster):
    """The timeout bounds the wait; a broker back within it delivers everything."""
    cluster = embedded_cluster
    cluster.create_topic("t", 1)
    emitter = goka.Emitter(cluster, "t", codec.Int64(), producer_config=FAST_RECONNECT)
    cluster.set_broker_down(1)
    futures = [emitter.emit("k", i) for i in range(5)]
    timer = threading.Timer(0.5, cluster.set_broker_up, (1,))
    timer.start()
    try:
        emitter.finish(timeout=30)
    finally:
        timer.join()
    assert [f.result(0) for f in futures] == [0, 1, 2, 3, 4]


# -- defect 4: keys are str or bytes ------------------------------------------------------

NON_STRING_KEYS = [5, True, None, 1.0]


def test_kafka_entry_points_refuse_non_string_keys(embedded_cluster, tmp_path, wait_for):
    """Every entry point taking a key refuses each of ``NON_STRING_KEYS`` (one cluster,
    processor and view for all of them: the set-up does not depend on the key)."""
    cluster = embedded_cluster
    cluster.create_topic("in", 2)
    group = goka.define_group("g", goka.Input("in", codec.Int64(), lambda ctx, m: ctx.set_value(m)),
                              goka.Persist(codec.Int64()))
    with goka.Emitter(cluster, "in", codec.Int64()) as emitter:
        for key in NON_STRING_KEYS:
            with pytest.raises(TypeError, match=f"emit key must be str or bytes, got {type(key).__name__}"):
                emitter.emit(key, 1)
        emitter.emit_sync(b"user", 7)
    proc = goka.Processor(cluster, group, path=str(tmp_path / "p"), consumer_config=EMBEDDED_GROUP_CONFIG)
    with proc, goka.View(cluster, "g-table", codec.Int64(), path=str(tmp_path / "v")) as view:
        assert proc.wait_recovered(30) and view.wait_recovered(30)
        wait_for(lambda: view.get("user") == 7, 30, "the value in the view")
        assert view.get(b"user") == proc.get(b"user") == proc.get("user") == 7 and view.has(b"user")
        assert list(view.items(prefix=b"us")) == [("user", 7)]
        for key in NON_STRING_KEYS:
            calls = {"Processor.get": lambda: proc.get(key), "View.get": lambda: view.get(key),
                     "View.has": lambda: view.has(key)}
            if key is not None:  # None is "no bound" for items()
                calls.update({"View.items(start)": lambda: view.items(start=key),
                              "View.items(prefix)": lambda: view.items(prefix=key)})
            for what, call in calls.items():
                with pytest.raises(TypeError, match=f"must be str or bytes, got {type(key).__name__}"):
                    call()
                    pytest.fail(f"{what} accepted the key {key!r}")
    # nothing but "user" was ever written to the input (a mangled key would be a second one)
    with goka.View(cluster, "in", codec.Int64(), path=str(tmp_path / "in")) as raw:
        assert raw.wait_recovered(30) and [k for k, _ in raw.items()] == ["user"]


# -- defect 6: no reads of an unrecovered view --------------------------------------------

def _fill(cluster, topic, value, n=50):
    with goka.Emitter(cluster, topic, codec.Int64()) as emitter:
        for i in range(n):
            emitter.emit(f"k{i}", value)


def test_view_reads_raise_while_recovering(embedded_cluster, tmp_path, wait_for):
    cluster = embedded_cluster
    cluster.create_topic("t-table", 4)
    _fill(cluster, "t-table", 1)
    view = goka.View(cluster, "t-table", codec.Int64(), path=str(tmp_path / "v"), consumer_config=FAST_RECONNECT)
    with pytest.raises(goka.NotRecoveredError, match="not started"):
        view.get("k1")
    cluster.set_broker_down(1)  # the view starts but cannot catch up
    with view:
        assert view.state in ("recovering", "connecting") and not view.recovered()
        assert view.wait_recovered(0.5) is False
        for call in (lambda: view.get("k1"), lambda: view.has("k1"), lambda: view.items(),
                     lambda: view.get("never-written")):
            with pytest.raises(goka.NotRecoveredError, match="'t-table' is recovering.*stale_reads=True"):
                call()
        # the web query page reports it instead of failing or answering "not found"
        answer = lookup({"t-table": view}, "t-table", "k1")
        assert answer["found"] is False and "NotRecoveredError" in answer["error"] and \
            "recovering" in answer["error"]
        html = query_page({"t-table": view}, "t-table", "k1").decode()
        assert '<p class="error" id="error">NotRecoveredError: view of &#x27;t-table&#x27; is recovering' in html
        cluster.set_broker_up(1)
        assert view.wait_recovered(30)
        assert view.get("k1") == 1 and view.has("k1") and len(list(view.items())) == 50
        assert lookup({"t-table": view}, "t-table", "k1")["found"] is True
    with pytest.raises(goka.ProcessorStoppedError):
        view.get("k1")


def test_stale_reads_serve_what_is_local(embedded_cluster, tmp_path, wait_for):
    cluster = embedded_cluster
    cluster.create_topic("t-table", 4)
    path = str(tmp_path / "v")
    _fill(cluster, "t-table", 1)
    with goka.View(cluster, "t-table", codec.Int64(), path=path) as view:  # local copy: all 1
        assert view.wait_recovered(30) and view.get("k3") == 1
    _fill(cluster, "t-table", 2, n=60)  # k50..k59 are new, the others updated
    stale = goka.View(cluster, "t-table", codec.Int64(), path=path, stale_reads=True,
                      consumer_config=FAST_RECONNECT)
    cluster.set_broker_down(1)
    with stale:
        assert not stale.recovered()
        assert stale.get("k3") == 1 and stale.has("k3")  # old, but there
        assert stale.get("k55") is None and not stale.has("k55")  # not yet local
        assert dict(stale.items()) == {f"k{i}": 1 for i in range(50)}
        cluster.set_broker_up(1)
        assert stale.wait_recovered(30)
        assert stale.get("k3") == 2 and stale.get("k55") == 2


def test_processor_waits_for_its_lookup_views(embedded_cluster, tmp_path, wait_for):
    """A processor's Lookup tables are Views: it starts processing only once they are
    recovered, so ctx.lookup never meets NotRecoveredError."""
    cluster = embedded_cluster
    cluster.create_topic("devices", 2)
    cluster.create_topic("in", 2)
    cluster.create_topic("out", 2)
    with goka.Emitter(cluster, "devices", codec.String()) as em:
        for i in range(20):
            em.emit(f"d{i}", f"device-{i}")
    group = goka.define_group(
        "enrich", goka.Input("in", codec.String(), lambda ctx, m: ctx.emit("out", ctx.key, ctx.lookup("devices", m))),
        goka.Lookup("devices", codec.String()), goka.Output("out", codec.String()))
    with goka.Emitter(cluster, "in", codec.String()) as em:
        for i in range(20):
            em.emit(f"u{i}", f"d{i}")
    proc = goka.Processor(cluster, group, path=str(tmp_path / "p"), consumer_config=EMBEDDED_GROUP_CONFIG)
    with proc, goka.View(cluster, "out", codec.String(), path=str(tmp_path / "out")) as out:
        assert out.wait_recovered(30)
        wait_for(lambda: len(list(out.items())) == 20, 60, "all lookups answered")
        assert dict(out.items()) == {f"u{i}": f"device-{i}" for i in range(20)}
        assert proc.state == "running"


# -- defect 9: lifecycle misuse -------------------------------------------------------------

def _group():
    return goka.define_group("g", goka.Input("in", codec.Int64(), lambda ctx, m: ctx.set_value(m)),
                             goka.Persist(codec.Int64()))


def test_processor_stopped_before_it_ran(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    cluster.create_topic("in", 2)
    proc = goka.Processor(cluster, _group(), path=str(tmp_path), consumer_config=EMBEDDED_GROUP_CONFIG)
    with pytest.raises(goka.NotRecoveredError, match="'g' is not started"):
        proc.wait_recovered(1)
    proc.stop()
    assert proc.state == "stopped"
    proc.stop()  # again: nothing to do
    started = time.monotonic()
    with pytest.raises(goka.ProcessorStoppedError, match="'g' already ran or was stopped"):
        proc.run()
    with pytest.raises(goka.ProcessorStoppedError):
        proc.start()
    assert time.monotonic() - started < 5
    assert proc.wait_recovered(1) is False
    with pytest.raises(goka.ProcessorStoppedError):
        with proc:
            pass


def test_processor_runs_once(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    cluster.create_topic("in", 2)
    proc = goka.Processor(cluster, _group(), path=str(tmp_path), consumer_config=EMBEDDED_GROUP_CONFIG)
    proc.start()
    try:
        assert proc.wait_recovered(30)
        with pytest.raises(goka.ProcessorStoppedError):
            proc.start()
        with pytest.raises(goka.ProcessorStoppedError):
            proc.run()
    finally:
        proc.stop()
    assert proc.state == "stopped"
    with pytest.raises(goka.ProcessorStoppedError):
        proc.start()


def test_view_lifecycle(embedded_cluster, tmp_path):
    cluster = embedded_cluster
    cluster.create_topic("t-table", 2)
    view = goka.View(cluster, "t-table", codec.Int64(), path=str(tmp_path / "a"))
    assert view.state == "idle"
    with pytest.raises(goka.NotRecoveredError, match="not started"):
        view.wait_recovered(1)
    with pytest.raises(goka.NotRecoveredError, match="not started"):
        view.items()
    view.stop()  # before start: closes the storage, the view is done
    view.stop()
    assert view.state == "stopped"
    for call in (view.start, view.run, lambda: view.wait_recovered(1), lambda: view.get("k"),
                 lambda: view.has("k"), view.items):
        with pytest.raises(goka.ProcessorStoppedError, match="'t-table'"):
            call()

    view = goka.View(cluster, "t-table", codec.Int64(), path=str(tmp_path / "b"))
    with view:
        assert view.wait_recovered(30) and view.get("k") is None
        with pytest.raises(goka.ProcessorStoppedError, match="already started"):
            view.start()
    assert view.state == "stopped"
    with pytest.raises(goka.ProcessorStoppedError):
        view.start()
    with pytest.raises(goka.ProcessorStoppedError):
        view.get("k")


def test_worker_stop_winning_the_race_with_run_is_no_error(embedded_cluster, tmp_path):
    """``goka run`` workers run each component in a thread and stop it on SIGTERM: a stop
    that comes before the thread reached ``run()`` is what was asked for, not an error."""
    from goka.cli.worker import _Runner

    cluster = embedded_cluster
    cluster.create_topic("in", 2)
    cluster.create_topic("t-table", 2)
    components = [goka.Processor(cluster, _group(), path=str(tmp_path / "p"), consumer_config=EMBEDDED_GROUP_CONFIG),
                  goka.View(cluster, "t-table", codec.Int64(), path=str(tmp_path / "v"))]
    for component in components:
        asked = _Runner(component, "asked")
        asked.stop_requested = True
        component.stop()
        asked.start()
        asked.join(10)
        assert not asked.is_alive() and asked.error is None
        unasked = _Runner(component, "unasked")  # run() on a stopped component, nobody asked
        unasked.start()
        unasked.join(10)
        assert isinstance(unasked.error, goka.ProcessorStoppedError)


def test_processor_stopped_during_recovery_is_not_recovered(embedded_cluster, tmp_path, wait_for):
    cluster = embedded_cluster
    cluster.create_topic("in", 2)
    proc = goka.Processor(cluster, _group(), path=str(tmp_path), consumer_config=EMBEDDED_GROUP_CONFIG)
    cluster.set_broker_down(1)  # it never gets its partitions
    proc.start()
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(proc.wait_recovered()))
    waiter.start()
    try:
        wait_for(lambda: proc.state in ("starting", "joining", "recovering"), 10, "the processor to start")
        assert proc.wait_recovered(0.2) is False
    finally:
        proc.stop()
    waiter.join(10)
    assert not waiter.is_alive() and answers == [False]  # woken, and not told "recovered"
    assert proc.wait_recovered(1) is False and proc.state == "stopped"
    cluster.set_broker_up(1)
