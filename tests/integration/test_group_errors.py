"""A processor that cannot join its consumer group says so (issue 11, defect 10): errors no
retry cures stop it with a ``goka.GroupError`` saying what to do; transient ones keep it
retrying, visible in ``state``, ``stats()`` and the monitor."""
from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer

import goka
from goka import codec
from goka._kafka.mock import ApiKey
from goka.web.monitor import processor_snapshot

INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_SESSION_TIMEOUT = 26
GROUP_AUTHORIZATION_FAILED = 30
REBALANCE_IN_PROGRESS = 27

EMBEDDED = pytest.mark.parametrize("broker", ["embedded"], indirect=True)
TANSU = pytest.mark.parametrize("broker", ["tansu"], indirect=True)


def counting_group(name, topic, seen):
    return goka.define_group(name, goka.Input(topic, codec.String(), lambda ctx, msg: seen.append(msg)))


def run_until_stopped(proc, timeout=30.0):
    """Start ``proc``; return the error ``stop()`` raises once it stopped by itself."""
    proc.start()
    deadline = time.monotonic() + timeout
    while proc.state != "stopped":
        if time.monotonic() > deadline:
            proc.stop()
            pytest.fail(f"the processor still runs (state {proc.state}) after {timeout} s")
        time.sleep(0.02)
    with pytest.raises(goka.GroupError) as info:
        proc.stop()
    return info.value


@EMBEDDED
@pytest.mark.parametrize("code, name, advice", [
    (INCONSISTENT_GROUP_PROTOCOL, "INCONSISTENT_GROUP_PROTOCOL", "cannot share a consumer group"),
    (INVALID_SESSION_TIMEOUT, "INVALID_SESSION_TIMEOUT", "session.timeout.ms"),
    (GROUP_AUTHORIZATION_FAILED, "GROUP_AUTHORIZATION_FAILED", "grant it Read on the group"),
], ids=["inconsistent-protocol", "session-timeout", "authorization"])
def test_fatal_join_error_stops_with_group_error(broker, tmp_path, code, name, advice):
    """Every JoinGroup fails with ``code`` (pushed on the embedded cluster): without the fix
    run() processes nothing and never returns; with it the processor stops with a
    GroupError naming the group, the error and what to do."""
    topic, group = broker.name("in"), broker.name("nojoin")
    broker.create_topic(topic, 1)
    with goka.Emitter(broker.brokers, topic, codec.String()) as emitter:
        emitter.emit("k", "v").result(10)
    broker.brokers.push_request_errors(ApiKey.JOIN_GROUP, [code] * 200)
    seen: list[str] = []
    proc = goka.Processor(broker.brokers, counting_group(group, topic, seen), path=str(tmp_path / "p"),
                          consumer_config=broker.group_config)
    err = run_until_stopped(proc)
    assert f"group {group!r}" in str(err) and name in str(err) and advice in str(err)
    assert seen == []


@EMBEDDED
def test_transient_join_error_retries_visibly(broker, tmp_path, wait_for):
    """JoinGroup refused a few times with REBALANCE_IN_PROGRESS: the processor keeps
    retrying in state "joining", then joins and processes; the error shows in stats()
    and in the monitor's snapshot."""
    topic, group = broker.name("in"), broker.name("retry")
    broker.create_topic(topic, 1)
    with goka.Emitter(broker.brokers, topic, codec.String()) as emitter:
        emitter.emit("k", "v").result(10)
    broker.brokers.push_request_errors(ApiKey.JOIN_GROUP, [REBALANCE_IN_PROGRESS] * 3)
    seen: list[str] = []
    states: list[str] = []
    proc = goka.Processor(broker.brokers, counting_group(group, topic, seen), path=str(tmp_path / "p"),
                          consumer_config=broker.group_config)
    with proc:
        wait_for(lambda: states.append(proc.state) or seen == ["v"], 30, "the message to be processed")
        assert "joining" in states
        last = proc.stats()["last_error"]
        assert last is not None and last["code"] == "REBALANCE_IN_PROGRESS" and last["count"] == 3
        assert "JoinGroup failed" in last["message"]
        assert proc.state == "running"
        assert processor_snapshot("p", proc)["last_error"]["code"] == "REBALANCE_IN_PROGRESS"


@TANSU
def test_group_of_another_protocol_stops_with_group_error(broker, tmp_path):
    """A live member of another assignor protocol in the group (as a Go Goka processor would
    be) makes a separate broker refuse the join with "Inconsistent group protocol": the
    processor stops with a GroupError instead of staying silent. (The embedded cluster
    aborts the process on inconsistent protocols, so this runs on Tansu.)"""
    topic, group = broker.name("in"), broker.name("foreign")
    broker.create_topic(topic, 1)
    other = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                      "partition.assignment.strategy": "roundrobin", **broker.group_config})
    assigned = threading.Event()
    stop = threading.Event()
    other.subscribe([topic], on_assign=lambda consumer, parts: assigned.set())

    def member() -> None:
        while not stop.is_set():
            other.poll(0.1)

    thread = threading.Thread(target=member, daemon=True)
    thread.start()
    try:
        assert assigned.wait(30), "the other member did not join"
        proc = goka.Processor(broker.brokers, counting_group(group, topic, []), path=str(tmp_path / "p"),
                              consumer_config=broker.group_config)
        err = run_until_stopped(proc)
        assert "INCONSISTENT_GROUP_PROTOCOL" in str(err) and "cannot share a consumer group" in str(err)
    finally:
        stop.set()
        thread.join(10)
        other.close()
