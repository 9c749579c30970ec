"""A processor is not silent while its group join waits: it logs that it is joining, a hint
when no assignment came after a while, and a warning for an empty assignment."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import goka
from goka import codec
from goka.cluster import EmbeddedCluster
from goka.runtime import joining

GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}


def _graph(group: str, topic: str) -> goka.GroupGraph:
    return goka.define_group(group, goka.Input(topic, codec.String(), lambda ctx, msg: ctx.set_value(msg)),
                             goka.Persist(codec.String()))


def _messages(caplog: pytest.LogCaptureFixture, group: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "goka.processor" and r.getMessage().startswith(f"group {group}:")]


def test_a_slow_join_logs_joining_then_a_hint(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch, wait_for: Any) -> None:
    monkeypatch.setattr(joining, "HINT_AFTER", 0.5)
    caplog.set_level(logging.INFO, logger="goka.processor")
    # the coordinator holds the first join for 2 s (as a group waiting for a vanished member would)
    with EmbeddedCluster(partitions=2, initial_rebalance_delay_ms=2000) as cluster:
        cluster.create_topic("in", 2)
        cluster.create_topic("slow-table", 2)
        kafka = goka.Kafka(cluster, {k: str(v) for k, v in GROUP_CONFIG.items()})  # the hint reads it there too
        proc = goka.Processor(kafka, _graph("slow", "in"), path=str(tmp_path / "p"))
        with proc:
            assert proc.wait_recovered(30)
        messages = _messages(caplog, "slow")
    texts = [m for _, m in messages]
    joined = texts.index("group slow: joining, waiting for partitions of in")
    hint = next(i for i, m in enumerate(texts) if "no partitions assigned after 0.5 s" in m)
    assigned = texts.index("group slow: assigned partitions [0, 1]")
    assert joined < hint < assigned
    assert messages[hint][0] == logging.WARNING
    assert "session.timeout.ms (3000 ms)" in texts[hint] and "Tansu" in texts[hint]
    assert not any("assignment is empty" in m for m in texts)


def test_a_fast_join_gives_no_hint(embedded_cluster: EmbeddedCluster, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(joining, "HINT_AFTER", 3.0)
    caplog.set_level(logging.INFO, logger="goka.processor")
    embedded_cluster.create_topic("in", 2)
    embedded_cluster.create_topic("fast-table", 2)
    with goka.Processor(embedded_cluster, _graph("fast", "in"), path=str(tmp_path / "p"),
                        consumer_config=GROUP_CONFIG) as proc:
        assert proc.wait_recovered(30)
        texts = [m for _, m in _messages(caplog, "fast")]
    assert "group fast: joining, waiting for partitions of in" in texts
    assert not any("no partitions assigned" in m for m in texts)


def test_an_empty_assignment_is_a_warning(embedded_cluster: EmbeddedCluster, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture, wait_for: Any) -> None:
    caplog.set_level(logging.INFO, logger="goka.processor")
    embedded_cluster.create_topic("one", 1)
    embedded_cluster.create_topic("single-table", 1)
    graph = _graph("single", "one")
    first = goka.Processor(embedded_cluster, graph, path=str(tmp_path / "a"), consumer_config=GROUP_CONFIG)
    second = goka.Processor(embedded_cluster, graph, path=str(tmp_path / "b"), consumer_config=GROUP_CONFIG)
    with first, second:
        wait_for(lambda: any("assignment is empty" in m for _, m in _messages(caplog, "single")), 30,
                 "the empty assignment warning")
    (level, text), = [(lvl, m) for lvl, m in _messages(caplog, "single") if "assignment is empty" in m]
    assert level == logging.WARNING
    assert text.startswith("group single: the assignment is empty: this member gets no partition of one.")
    assert "more members than the 1 partitions" in text
