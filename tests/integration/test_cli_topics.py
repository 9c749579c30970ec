"""``goka topics create|list|describe`` as a subprocess: on Tansu (creation works, configs
are reported) and on an EmbeddedCluster held by the test (inspection works, creation from
another process is refused with a clear message)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid

import pytest

import goka
from goka import codec
from goka.cluster import EmbeddedCluster

pytestmark = pytest.mark.twin_neutral  # no core twin involved: the compiled pass covers it

TIMEOUT = 60.0


def goka_topics(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goka", "topics", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def test_create_list_describe_on_tansu(tansu: str) -> None:
    stream, table = (f"cli-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("stream", "table"))
    made = goka_topics("create", stream, f"{stream}-2", "--partitions", "3", "-b", tansu,
                       "-X", "client.id=cli-topics-test")
    assert made.returncode == 0, made.stderr
    assert f"{stream}: created (3 partitions, stream)" in made.stdout
    assert f"{stream}-2: created (3 partitions, stream)" in made.stdout
    made = goka_topics("create", table, "--partitions", "2", "--table", "--topic-config", "min.compaction.lag.ms=5",
                       "-b", tansu)
    assert made.returncode == 0, made.stderr
    again = goka_topics("create", table, "--partitions", "2", "--table", "-b", tansu)
    assert again.returncode == 0 and f"{table}: exists (2 partitions)" in again.stdout
    mismatch = goka_topics("create", table, "--partitions", "5", "-b", tansu)
    assert mismatch.returncode == 1
    assert f"topic {table!r} exists with 2 partitions, not 5" in mismatch.stderr

    with goka.Emitter(tansu, stream, codec.String()) as emitter:
        for n in range(5):
            emitter.emit(f"k{n}", "v").result(15)

    listed = goka_topics("list", "-b", tansu)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert f"{stream}\t3" in lines and f"{table}\t2" in lines

    described = goka_topics("describe", stream, table, "-b", tansu)
    assert described.returncode == 0, described.stderr
    out = described.stdout
    assert f"topic {stream}: 3 partitions, 5 records, compacted: no" in out
    assert f"topic {table}: 2 partitions, 0 records, compacted: yes" in out
    assert "config cleanup.policy=compact" in out and "config retention.ms=3600000" in out
    assert "config min.compaction.lag.ms=5" in out
    rows = [line.split("\t") for line in out.split(f"topic {table}")[0].splitlines() if line[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1", "2"] and sum(int(r[2]) for r in rows) == 5

    with goka.TopicManager(tansu) as tm:
        d = tm.describe(stream)
    assert d.partitions == (0, 1, 2) and d.records == 5 and d.compacted is False
    assert d.configs is not None and d.configs["retention.ms"] == "3600000"


def test_describe_a_missing_topic_fails_naming_it(tansu: str) -> None:
    result = goka_topics("describe", "no-such-topic-here", "-b", tansu)
    assert result.returncode == 1
    assert result.stderr.strip() == "goka topics describe: requested topic was not found: 'no-such-topic-here'"


def test_on_an_embedded_cluster_inspection_works_creation_says_why_not(embedded_cluster: EmbeddedCluster) -> None:
    embedded_cluster.create_topic("clicks", 2)
    with goka.Emitter(embedded_cluster, "clicks", codec.String()) as emitter:
        emitter.emit("alice", "click").result(15)
    listed = goka_topics("list", "-b", embedded_cluster.brokers)
    assert listed.returncode == 0 and "clicks\t2" in listed.stdout.splitlines()
    started = time.monotonic()
    described = goka_topics("describe", "clicks", "-b", embedded_cluster.brokers)
    took = time.monotonic() - started
    assert described.returncode == 0, described.stderr
    assert "topic clicks: 2 partitions, 1 records, compacted: not reported by the broker" in described.stdout
    assert "configs: not reported by the broker" in described.stdout
    # the cluster reports no controller, which DescribeConfigs needs: not asked (librdkafka
    # would wait for a controller until the request timeout, 10 s)
    assert took < 6, f"goka topics describe took {took:.1f} s on the embedded cluster"

    made = goka_topics("create", "new-topic", "--partitions", "2", "-b", embedded_cluster.brokers)
    assert made.returncode == 1
    assert made.stderr.count("\n") == 1  # one line, no traceback
    assert "goka topics create: cannot create topic 'new-topic'" in made.stderr
    assert "a process holding only its bootstrap string cannot create topics" in made.stderr
    assert "new-topic" not in embedded_cluster.topics()

    with goka.TopicManager(embedded_cluster) as tm:
        d = tm.describe("clicks")
    assert d.high_watermarks[0] + d.high_watermarks[1] == 1 and d.configs is None and d.compacted is None


def test_bad_arguments_exit_2_or_1() -> None:
    assert goka_topics("create", "x").returncode == 2  # --partitions is required
    bad = goka_topics("create", "x", "--partitions", "0", "-b", "127.0.0.1:1")
    assert bad.returncode == 1 and "--partitions must be >= 1" in bad.stderr


def test_timeout_bounds_each_request() -> None:
    """``--timeout S`` bounds the wait for brokers that do not answer (default 10 s)."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = goka_topics("list", "-b", f"127.0.0.1:{port}", "--timeout", "1")
    took = time.monotonic() - started
    assert result.returncode == 1
    assert f"goka topics list: metadata request to 127.0.0.1:{port} failed" in result.stderr
    assert took < 6, f"goka topics list --timeout 1 took {took:.1f} s"
    for bad in ("0", "-1", "nan"):
        refused = goka_topics("describe", "x", "-b", f"127.0.0.1:{port}", "--timeout", bad)
        assert refused.returncode == 1
        assert refused.stderr.strip() == f"goka topics describe: --timeout must be > 0 seconds, got {float(bad):g}"
    assert goka_topics("list", "--timeout", "soon").returncode == 2  # not a number: argparse
