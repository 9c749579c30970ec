"""Plumbing shared by the examples: command line, cluster, topics, running until done.

Every example takes the same options:

- ``--brokers host:port[,host:port]``: a Kafka cluster; without it the example starts a
  :class:`goka.EmbeddedCluster` in its own process (and prints its address, so that other
  processes can connect to it while it runs);
- ``--smoke``: run a short scripted scenario to a known result and exit (used by CI);
- ``--duration S``: run for S seconds, then stop (default: until Ctrl-C);
- ``--path DIR``: root of local table storage (a temporary directory with the embedded
  cluster, which starts empty every time; goka's default ``<tmp>/goka-state/...`` otherwise);
- ``-v``: debug logging.

Examples import this module after putting ``examples/`` on ``sys.path``; everything else
in an example is plain goka.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import goka

__all__ = ["options", "parser", "setup", "connect", "local_path", "ensure_topics", "group_config", "run_until",
           "Stopped"]

log = logging.getLogger("example")

#: consumer-group timings for several members of one group on the embedded cluster: its
#: mock broker delays each rebalance after a group's first by session.timeout.ms - 1 s
EMBEDDED_GROUP_CONFIG = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 1000}


class Stopped(Exception):
    """Raised by :func:`run_until` when a processor or view stopped by itself."""


def options() -> argparse.ArgumentParser:
    """The options every example takes, as a parent parser (for subcommands)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--brokers", help="Kafka bootstrap servers host:port[,...] "
                                     "(default: an embedded in-process cluster)")
    p.add_argument("--smoke", action="store_true", help="run a short scenario to a known result, then exit")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    p.add_argument("--path", help="root directory of local table storage (default: a temporary "
                                  "directory with the embedded cluster, goka's <tmp>/goka-state/... with --brokers)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes; ``doc`` (the example's
    docstring) gives its description (first paragraph) and epilog (the rest)."""
    description, _, rest = doc.strip().partition("\n\n")
    return argparse.ArgumentParser(description=description, epilog=rest or None, parents=[options()],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def setup(args: argparse.Namespace) -> None:
    """Log to stdout (the smoke tests read it); quiet librdkafka's own chatter."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not args.verbose:
        rdkafka = logging.getLogger("goka.kafka.rdkafka")
        rdkafka.setLevel(logging.ERROR)
        rdkafka.addFilter(_Throttle(5.0))


class _Throttle(logging.Filter):
    """Pass each kind of librdkafka line (its facility and client) once per ``period``
    seconds: while a broker is down, the clients retry -- and complain -- many times a second."""

    def __init__(self, period: float) -> None:
        super().__init__()
        self.period = period
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = " ".join(record.getMessage().split()[:2])
        now = time.monotonic()
        if now - self.last.get(kind, -self.period) < self.period:
            return False
        self.last[kind] = now
        return True


def ensure_topics(brokers: Any, streams: Mapping[str, int] | None = None,
                  tables: Mapping[str, int] | None = None) -> None:
    """Create missing ``streams`` (delete policy) and ``tables`` (compacted) with the
    given partition counts, as Go Goka's ``TopicManager.EnsureStreamExists/EnsureTableExists``."""
    wanted = [(t, n, {"cleanup.policy": "delete"}) for t, n in (streams or {}).items()]
    wanted += [(t, n, {"cleanup.policy": "compact"}) for t, n in (tables or {}).items()]
    if isinstance(brokers, goka.EmbeddedCluster):
        for topic, n, config in wanted:
            brokers.create_topic(topic, n, config)
        return
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": brokers})
    existing = admin.list_topics(timeout=10).topics
    new = [NewTopic(t, n, replication_factor=-1, config=c) for t, n, c in wanted if t not in existing]
    for topic, future in (admin.create_topics(new, request_timeout=15).items() if new else ()):
        try:
            future.result(timeout=20)
            log.info("created topic %s", topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    deadline = time.monotonic() + 15
    while any(t not in admin.list_topics(timeout=10).topics for t, _, _ in wanted):
        if time.monotonic() > deadline:
            raise TimeoutError("created topics did not show up in the cluster metadata")
        time.sleep(0.1)  # metadata propagation has no event to wait on


@contextlib.contextmanager
def connect(args: argparse.Namespace, streams: Mapping[str, int] | None = None,
            tables: Mapping[str, int] | None = None, partitions: int = 4) -> Iterator[Any]:
    """Yield what goka takes as ``brokers`` -- ``args.brokers``, or a fresh
    EmbeddedCluster -- with ``streams`` and ``tables`` created."""
    if args.brokers:
        ensure_topics(args.brokers, streams, tables)
        yield args.brokers
        return
    with contextlib.ExitStack() as stack:
        if args.path is None:  # the embedded cluster starts empty: so does local storage
            args.path = stack.enter_context(tempfile.TemporaryDirectory(prefix="goka-example-"))
        cluster = stack.enter_context(goka.EmbeddedCluster(partitions=partitions))
        log.info("embedded Kafka cluster at %s", cluster.brokers)
        ensure_topics(cluster, streams, tables)
        yield cluster


def local_path(args: argparse.Namespace, name: str) -> str | None:
    """Local storage directory ``name`` under ``--path`` (``None``: goka's default)."""
    return None if args.path is None else os.path.join(args.path, name)


def group_config(brokers: Any) -> dict[str, Any]:
    """``consumer_config`` for groups with several members (quick rebalances on the embedded cluster)."""
    return dict(EMBEDDED_GROUP_CONFIG) if isinstance(brokers, goka.EmbeddedCluster) else {}


def run_until(args: argparse.Namespace, done: Callable[[], bool] | None = None, *,
              members: Iterable[goka.Processor | goka.View] = (), smoke_timeout: float = 45.0,
              every: tuple[float, Callable[[], None]] | None = None) -> None:
    """Block until Ctrl-C or SIGTERM, until ``--duration`` passed, or -- with ``--smoke`` --
    until ``done()`` is true; meanwhile call ``every = (seconds, func)`` periodically.
    Raises :class:`Stopped` if one of ``members`` stopped by itself (its ``stop()``
    re-raises why) and ``TimeoutError`` if the smoke scenario does not finish within
    ``smoke_timeout`` seconds."""
    members = list(members)
    # views raise NotRecoveredError until recovered: done() reads them only after that
    views = [m for m in members if isinstance(m, goka.View)]
    limit = smoke_timeout if args.smoke else args.duration
    deadline = None if limit is None else time.monotonic() + limit
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    next_tick = None if every is None else time.monotonic() + every[0]
    try:
        while not stop.wait(0.05):
            if args.smoke and done is not None and all(v.recovered() for v in views) and done():
                return
            if every is not None and next_tick is not None and time.monotonic() >= next_tick:
                every[1]()
                next_tick = time.monotonic() + every[0]
            for m in members:
                if m.state == "stopped":
                    raise Stopped(f"{m!r} stopped")
            if deadline is not None and time.monotonic() >= deadline:
                if args.smoke:
                    raise TimeoutError(f"smoke scenario not done after {smoke_timeout:g} s")
                return
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
