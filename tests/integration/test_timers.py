"""Timers (``goka.Timer``, ``ctx.schedule``) on the real Kafka protocol: firing, removal
from ``<group>-timers``, and pending timers recovered by another instance."""
from __future__ import annotations

from datetime import timedelta

import goka
from goka import codec

KEYS = [f"user-{i}" for i in range(8)]
# The embedded cluster delays every rebalance after a group's first join by session.timeout.ms
# minus 1 s (a restart in the same group, a second instance joining): a short session keeps
# those quick (goka's default, 10 s, would add 9 s to each).
GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}


def timer_group(name: str, clicks: str, delay: timedelta) -> goka.GroupGraph:
    def on_click(ctx: goka.Context, msg: str) -> None:
        ctx.set_value("scheduled")
        ctx.schedule(msg, delay=delay)

    def on_timer(ctx: goka.Context, value: str) -> None:
        assert ctx.topic == goka.group_timers(ctx.group)
        ctx.set_value(f"fired:{value}")

    return goka.define_group(name, goka.Input(clicks, codec.String(), on_click), goka.Persist(codec.String()),
                             goka.Timer(codec.String(), on_timer))


def emit_clicks(cluster: goka.EmbeddedCluster, topic: str) -> None:
    with goka.Emitter(cluster, topic, codec.String()) as emitter:
        futures = [emitter.emit(k, f"v-{k}") for k in KEYS]
    for f in futures:
        f.result(10)


def timer_stats(proc: goka.Processor) -> dict[str, int]:
    parts = proc.stats()["partitions"].values()
    return {"pending": sum(p["timers"]["pending"] for p in parts),
            "fired": sum(p["timers"]["fired"] for p in parts),
            "in_flight": sum(p["in_flight"] for p in parts)}


def scrape(proc: goka.Processor) -> dict[str, dict[tuple[str, ...], float]]:
    """The processor's metrics as /metrics serves them: {family: {labels: value}}."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from goka.web.metrics import GokaCollector

    registry = CollectorRegistry()
    registry.register(GokaCollector(processors=[proc]))
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name.removesuffix("_total"), {})[tuple(sample.labels.values())] = sample.value
    return out


def pending_in_topic(cluster: goka.EmbeddedCluster, group: str, path: str) -> dict[str, bytes]:
    with goka.View(cluster, goka.group_timers(group), codec.Bytes(), path=path) as view:
        assert view.wait_recovered(30)
        return dict(view.items())


def test_timers_fire_and_are_removed(tmp_path, wait_for):
    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("clicks", 4)
        graph = timer_group("reminder", "clicks", timedelta(milliseconds=300))
        emit_clicks(cluster, "clicks")
        with goka.Processor(cluster, graph, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG) as proc:
            assert proc.wait_recovered(30)
            wait_for(lambda: all(proc.get(k) == f"fired:v-{k}" for k in KEYS), 30, "every timer to fire")
            wait_for(lambda: timer_stats(proc) == {"pending": 0, "fired": len(KEYS), "in_flight": 0}, 30,
                     "the fired timers' tombstones to be acknowledged")
            metrics = scrape(proc)
            assert sum(metrics["goka_fired_timers"].values()) == len(KEYS)
            assert set(metrics["goka_pending_timers"].values()) == {0.0}
        # the compacted topic holds a tombstone after each timer: nothing is pending there
        assert pending_in_topic(cluster, "reminder", str(tmp_path / "v")) == {}


def test_pending_timers_survive_a_move_to_another_instance(tmp_path, wait_for):
    """Instance A schedules, stops before the timers are due; instance B, with empty local
    storage, recovers them from ``<group>-timers`` and fires each exactly once."""
    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("clicks", 4)
        graph = timer_group("mover", "clicks", timedelta(seconds=4))
        emit_clicks(cluster, "clicks")
        with goka.Processor(cluster, graph, path=str(tmp_path / "a"), consumer_config=GROUP_CONFIG) as a:
            assert a.wait_recovered(30)
            wait_for(lambda: timer_stats(a)["pending"] == len(KEYS) and timer_stats(a)["in_flight"] == 0,
                     30, "instance A to schedule every timer")
            assert timer_stats(a)["fired"] == 0
            assert all(a.get(k) == "scheduled" for k in KEYS)
        pending = pending_in_topic(cluster, "mover", str(tmp_path / "v1"))
        assert sorted(k[8:] for k in (key.encode("utf-8", "surrogateescape") for key in pending)) == \
            sorted(k.encode() for k in KEYS)
        with goka.Processor(cluster, graph, path=str(tmp_path / "b"), consumer_config=GROUP_CONFIG) as b:
            assert b.wait_recovered(30)
            wait_for(lambda: all(b.get(k) == f"fired:v-{k}" for k in KEYS), 30, "instance B to fire them")
            wait_for(lambda: timer_stats(b) == {"pending": 0, "fired": len(KEYS), "in_flight": 0}, 30,
                     "the tombstones to be acknowledged")
        assert pending_in_topic(cluster, "mover", str(tmp_path / "v2")) == {}


def test_timer_whose_effects_are_not_acknowledged_fires_again(tmp_path, wait_for):
    """The broker refuses the records of a timer's callback (the processor stops before the
    firing batch is acknowledged, as in a crash): the timer was not removed, and the next
    processor over the same local state fires it again -- at least once, never lost."""
    from confluent_kafka import KafkaError

    with goka.EmbeddedCluster(partitions=1) as cluster:
        cluster.create_topic("ticks", 1)
        cluster.create_topic("out", 1)
        fired: list[str] = []

        def on_tick(ctx: goka.Context, msg: str) -> None:
            ctx.schedule(msg, delay=timedelta(seconds=2))

        def on_timer(ctx: goka.Context, value: str) -> None:
            fired.append(value)
            ctx.emit("out", ctx.key, f"fired:{value}")

        graph = goka.define_group("crash", goka.Input("ticks", codec.String(), on_tick),
                                  goka.Output("out", codec.String()), goka.Timer(codec.String(), on_timer))
        with goka.Emitter(cluster, "ticks", codec.String()) as emitter:
            emitter.emit_sync("k", "v")
        a = goka.Processor(cluster, graph, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG)
        a.start()
        assert a.wait_recovered(30)
        wait_for(lambda: timer_stats(a) == {"pending": 1, "fired": 0, "in_flight": 0}, 30, "the timer to be stored")
        cluster.push_request_errors(0, [KafkaError.TOPIC_AUTHORIZATION_FAILED])  # the firing batch's produce
        wait_for(lambda: a.state == "stopped", 30, "the processor to stop on the refused records")
        try:
            a.stop()
        except Exception as exc:  # the refused produce
            assert "out" in str(exc)
        else:
            raise AssertionError("the processor should have failed")
        assert fired == ["v"]
        with goka.Processor(cluster, graph, path=str(tmp_path / "p"), consumer_config=GROUP_CONFIG) as b:
            assert b.wait_recovered(30)
            wait_for(lambda: timer_stats(b) == {"pending": 0, "fired": 1, "in_flight": 0}, 30,
                     "the timer to fire again and be removed")
        assert fired == ["v", "v"]
        with goka.View(cluster, "out", codec.String(), path=str(tmp_path / "out")) as view:
            assert view.wait_recovered(30)
            assert dict(view.items()) == {"k": "fired:v"}
        assert pending_in_topic(cluster, "crash", str(tmp_path / "v")) == {}


def test_pending_timers_follow_a_rebalance(tmp_path, wait_for):
    """A second instance joins while timers are pending: the partitions it takes over bring
    their timers along (recovered from ``<group>-timers``); each timer fires exactly once."""
    fired: list[tuple[str, str]] = []

    def graph(instance: str) -> goka.GroupGraph:
        def on_click(ctx: goka.Context, msg: str) -> None:
            ctx.schedule(msg, delay=timedelta(seconds=10))  # > the ~3.5 s to the sharing, with margin

        def on_timer(ctx: goka.Context, value: str) -> None:
            fired.append((instance, ctx.key))
            ctx.set_value(f"fired:{value}")

        return goka.define_group("rebal", goka.Input("clicks", codec.String(), on_click),
                                 goka.Persist(codec.String()), goka.Timer(codec.String(), on_timer))

    with goka.EmbeddedCluster(partitions=4) as cluster:
        cluster.create_topic("clicks", 4)
        emit_clicks(cluster, "clicks")
        p1 = goka.Processor(cluster, graph("p1"), path=str(tmp_path / "p1"), consumer_config=GROUP_CONFIG)
        p2 = goka.Processor(cluster, graph("p2"), path=str(tmp_path / "p2"), consumer_config=GROUP_CONFIG)
        p1.start()
        try:
            wait_for(lambda: p1.stats()["active"] == [0, 1, 2, 3] and timer_stats(p1)["pending"] == len(KEYS)
                     and timer_stats(p1)["in_flight"] == 0, 30, "p1 to schedule every timer")
            # input committed: the rebalance must not replay the clicks (that would schedule anew)
            wait_for(lambda: sum(p["committed"].get("clicks", 0) for p in p1.stats()["partitions"].values())
                     == len(KEYS), 30, "p1 to commit the clicks")
            p2.start()
            wait_for(lambda: len(p1.stats()["active"]) == 2 and len(p2.stats()["active"]) == 2, 60,
                     "partitions shared")
            assert fired == []  # still pending: they moved with their partitions
            wait_for(lambda: len(fired) == len(KEYS), 30, "every timer to fire")
            wait_for(lambda: timer_stats(p1)["in_flight"] == 0 and timer_stats(p2)["in_flight"] == 0, 30,
                     "the tombstones to be acknowledged")
        finally:
            p1.stop()
            p2.stop()
        assert sorted(k for _, k in fired) == sorted(KEYS)  # exactly once each
        assert {i for i, _ in fired} == {"p1", "p2"}
        assert pending_in_topic(cluster, "rebal", str(tmp_path / "v")) == {}
