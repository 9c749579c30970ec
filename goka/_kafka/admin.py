"""Topic management: partition look-ups, stream/table creation, co-partitioning checks.

The port of Go Goka's ``TopicManager`` (``topic_manager.go``). One interface, two backends:

- a Kafka AdminClient (any real cluster, Tansu, ...): CreateTopics, then metadata is
  polled until the topic is visible (``create_timeout``, 10 s as in Goka);
- a :class:`goka.EmbeddedCluster` (librdkafka's mock cluster), which does not implement
  CreateTopics: topics are created through the mock API of the process that owns it.

Look-ups always read the *full* metadata listing. A Metadata request that names an
unknown topic auto-creates it on brokers with ``auto.create.topics.enable`` (and on the
mock and Tansu, with 4 partitions), so naming the topic is never used to test existence.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from goka._kafka.clients import base_config, cluster_of
from goka._kafka.logs import rdkafka_log
from goka.errors import CopartitionError, GokaError

__all__ = [
    "TopicManager",
    "TopicError",
    "TopicNotFoundError",
    "TopicCreateError",
    "STREAM_CONFIG",
    "TABLE_CONFIG",
]

log = logging.getLogger("goka.kafka")

#: Topic configs of streams, including the loop topic (Goka's TopicManagerConfig defaults).
STREAM_CONFIG: Mapping[str, str] = {"cleanup.policy": "delete", "retention.ms": "3600000"}
#: Topic configs of group tables.
TABLE_CONFIG: Mapping[str, str] = {"cleanup.policy": "compact"}

_REQUEST_TIMEOUT = 10.0


class TopicError(GokaError):
    """A topic could not be looked up or created."""


class TopicNotFoundError(TopicError, LookupError):
    """One or more topics do not exist (Goka: "requested topic was not found")."""

    def __init__(self, topics: str | Sequence[str], *, message: str | None = None) -> None:
        self.topics: tuple[str, ...] = (topics,) if isinstance(topics, str) else tuple(topics)
        self.topic = self.topics[0] if self.topics else ""
        names = ", ".join(repr(t) for t in self.topics)
        super().__init__(message or f"requested topic was not found: {names}")

    def for_group(self, graph: Any) -> TopicNotFoundError:
        """The same error, saying through which edges of ``graph`` (a
        :class:`goka.GroupGraph`) the group needs the missing topics, and what to do."""
        parts, hints = [], []
        for topic in self.topics:
            kind = graph.edge_of(topic)
            noun = "table" if kind in ("Join", "Lookup", "Persist") else "topic"
            parts.append(f"{kind} {noun} {topic!r}".strip())
            hint = ("another group's table: run that group's processor first, or create it" if kind in ("Join", "Lookup")
                    else "create it before starting the processor")
            if hint not in hints:
                hints.append(hint)
        was = "was" if len(parts) == 1 else "were"
        message = f"group {graph.group!r}: {', '.join(parts)} {was} not found ({'; '.join(hints)})"
        return TopicNotFoundError(self.topics, message=message)


class TopicCreateError(TopicError):
    """Creating a topic failed, timed out, or is impossible on this cluster."""


class _HasBrokers(Protocol):
    @property
    def brokers(self) -> str: ...


class _ClusterLike(Protocol):
    """What the mock backend needs from :class:`goka.EmbeddedCluster`."""

    @property
    def brokers(self) -> str: ...

    def create_topic(
        self, name: str, partitions: int | None = None, config: Mapping[str, str] | None = None
    ) -> None: ...


class _Backend(Protocol):
    def topics(self) -> dict[str, list[int]]: ...

    def create(self, topic: str, partitions: int, config: Mapping[str, str]) -> None: ...

    def configs(self, topic: str) -> dict[str, str] | None: ...

    def watermarks(self, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]: ...

    def close(self) -> None: ...


class _AdminBackend:
    """Metadata and CreateTopics through a confluent-kafka AdminClient."""

    def __init__(
        self,
        brokers: Any,
        *,
        replication: int,
        request_timeout: float,
        client_config: Mapping[str, Any] | None = None,
    ) -> None:
        conf: dict[str, Any] = {"client.id": "goka-topic-manager", "logger": rdkafka_log, **base_config(brokers),
                                **(client_config or {})}
        self.bootstrap: str = conf["bootstrap.servers"]
        self._conf = conf
        self._replication = replication
        self._timeout = request_timeout
        self._admin: AdminClient | None = AdminClient(conf)

    def _client(self) -> AdminClient:
        if self._admin is None:
            raise TopicError("topic manager is closed")
        return self._admin

    def _metadata(self, timeout: float | None = None) -> Any:
        client = self._client()
        try:
            return client.list_topics(timeout=self._timeout if timeout is None else timeout)
        except KafkaException as exc:
            raise TopicError(f"metadata request to {self.bootstrap} failed: {exc.args[0]}") from exc
        finally:
            client.poll(0)  # hand librdkafka's queued log lines to the logger (rdkafka_log)

    def topics(self) -> dict[str, list[int]]:
        md = self._metadata()
        return {name: sorted(t.partitions) for name, t in md.topics.items() if t.error is None}

    def create(self, topic: str, partitions: int, config: Mapping[str, str]) -> None:
        md = self._metadata()
        if md.controller_id not in md.brokers:
            # librdkafka waits for a controller until the request times out; fail fast.
            raise TopicCreateError(
                f"cannot create topic {topic!r}: the cluster at {self.bootstrap} (cluster id "
                f"{md.cluster_id!r}) reports no usable controller. If it is a goka.EmbeddedCluster: it does "
                "not implement CreateTopics, so a process holding only its bootstrap string cannot create "
                "topics on it; create them in the process that owns the cluster "
                "(EmbeddedCluster.create_topic, or goka.TopicManager given the EmbeddedCluster object)"
            )
        new = NewTopic(topic, num_partitions=partitions, replication_factor=self._replication, config=dict(config))
        future = self._client().create_topics([new], request_timeout=self._timeout)[topic]
        try:
            future.result(timeout=self._timeout + 5)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                log.debug("topic %r was created concurrently", topic)
                return
            raise TopicCreateError(f"cannot create topic {topic!r} with {partitions} partitions: {err.str()}") from exc
        log.info("created topic %r (%d partitions, config %s)", topic, partitions, dict(config))

    def configs(self, topic: str) -> dict[str, str] | None:
        """The topic's configs as the broker reports them (DescribeConfigs), ``None`` when
        it does not (e.g. librdkafka's mock cluster)."""
        md = self._metadata()
        if md.controller_id not in md.brokers:
            # DescribeConfigs goes to the controller: librdkafka would wait for one until the
            # request times out (librdkafka's mock cluster, i.e. an EmbeddedCluster, reports none)
            log.debug("DescribeConfigs of %r skipped: %s reports no controller", topic, self.bootstrap)
            return None
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        try:
            (future,) = self._client().describe_configs([resource], request_timeout=self._timeout).values()
            entries = future.result(timeout=self._timeout + 5)
        except Exception as exc:  # unsupported request, timeout: the broker does not say
            log.debug("DescribeConfigs of %r failed: %s", topic, exc)
            return None
        finally:
            self._client().poll(0)
        return {name: entry.value for name, entry in entries.items() if entry.value is not None}

    def watermarks(self, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """``{partition: (low, high)}`` offsets of ``topic``."""
        conf = {k: v for k, v in self._conf.items() if k != "client.id"}
        consumer = Consumer({**conf, "client.id": "goka-topic-manager", "group.id": "goka-topic-manager",
                             "enable.auto.commit": False, "allow.auto.create.topics": False})
        try:
            out = {}
            for p in partitions:
                try:
                    out[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self._timeout)
                except KafkaException as exc:
                    raise TopicError(f"high watermark of {topic}/{p} from {self.bootstrap}: {exc.args[0]}") from exc
            return out
        finally:
            consumer.close()

    def close(self) -> None:
        self._admin = None  # confluent-kafka destroys the handle with its last reference


class _MockBackend:
    """Metadata over the wire, creation through the owning EmbeddedCluster's mock API."""

    def __init__(self, cluster: _ClusterLike, *, request_timeout: float, brokers: Any = None,
                 client_config: Mapping[str, Any] | None = None) -> None:
        self._cluster = cluster
        self._meta = _AdminBackend(cluster.brokers if brokers is None else brokers, replication=1,
                                   request_timeout=request_timeout, client_config=client_config)

    def topics(self) -> dict[str, list[int]]:
        return self._meta.topics()

    def create(self, topic: str, partitions: int, config: Mapping[str, str]) -> None:
        try:
            self._cluster.create_topic(topic, partitions, config)
        except TopicCreateError:
            if topic not in self.topics():
                raise
            # Created concurrently with another count: the caller compares counts.

    def configs(self, topic: str) -> dict[str, str] | None:
        return None  # the mock keeps no topic configs

    def watermarks(self, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
        return self._meta.watermarks(topic, partitions)

    def close(self) -> None:
        self._meta.close()


class TopicManager:
    """Looks up and creates topics; see the module docstring for the backends.

    Build one with :meth:`for_brokers`. A partition-count mismatch on an existing topic
    is logged, not raised (Goka's default ``MismatchBehavior``); co-partitioning is what
    :meth:`ensure_copartitioned` enforces.
    """

    def __init__(self, backend: _Backend, *, create_timeout: float = 10.0) -> None:
        self._backend = backend
        self._create_timeout = create_timeout

    @classmethod
    def for_brokers(
        cls,
        brokers: str | Iterable[str] | _HasBrokers | Any,
        *,
        replication: int | None = None,
        client_config: Mapping[str, Any] | None = None,
        create_timeout: float = 10.0,
        request_timeout: float = _REQUEST_TIMEOUT,
    ) -> TopicManager:
        """A manager for ``brokers``: ``host:port`` strings, a :class:`goka.Kafka` (its
        settings configure the AdminClient), or an EmbeddedCluster object.

        ``replication`` is the replication factor of created topics; ``None`` leaves it
        to the broker's ``default.replication.factor``. ``client_config`` is merged into
        the AdminClient configuration last.

        Given only the bootstrap string of an EmbeddedCluster (e.g. in another process),
        look-ups work but creation raises :class:`TopicCreateError` at once.
        """
        backend: _Backend
        cluster = cluster_of(brokers)
        if cluster is not None:
            backend = _MockBackend(cluster, request_timeout=request_timeout, brokers=brokers,
                                   client_config=client_config)
        else:
            backend = _AdminBackend(
                brokers,
                replication=-1 if replication is None else replication,
                request_timeout=request_timeout,
                client_config=client_config,
            )
        return cls(backend, create_timeout=create_timeout)

    def topics(self) -> dict[str, list[int]]:
        """Every topic the cluster reports, with its sorted partition ids."""
        return self._backend.topics()

    def partitions(self, topic: str) -> list[int]:
        """Sorted partition ids of ``topic``; :class:`TopicNotFoundError` if it does not exist."""
        found = self._backend.topics().get(topic)
        if found is None:
            raise TopicNotFoundError(topic)
        return found

    def describe(self, topic: str) -> Any:
        """A :class:`goka.topics.TopicDescription` of ``topic``: partitions, low and high
        watermarks, configs where the broker reports them; :class:`TopicNotFoundError` if
        it does not exist."""
        from goka.topics import TopicDescription

        partitions = self.partitions(topic)
        marks = self._backend.watermarks(topic, partitions)
        return TopicDescription(topic, tuple(partitions), {p: lo for p, (lo, _) in marks.items()},
                                {p: hi for p, (_, hi) in marks.items()}, self._backend.configs(topic))

    def ensure_stream(self, topic: str, partitions: int) -> None:
        """Create ``topic`` if missing, with delete policy and 1 h retention (as Goka's loop topic)."""
        self.ensure_topic(topic, partitions, STREAM_CONFIG)

    def ensure_table(self, topic: str, partitions: int) -> None:
        """Create ``topic`` if missing, compacted (a group table)."""
        self.ensure_topic(topic, partitions, TABLE_CONFIG)

    def ensure_topic(self, topic: str, partitions: int, config: Mapping[str, str] | None = None) -> None:
        """Create ``topic`` with ``partitions`` and ``config`` unless it exists, then wait
        until metadata shows it (at most ``create_timeout`` seconds)."""
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions} for topic {topic!r}")
        existing = self._backend.topics().get(topic)
        if existing is None:
            self._backend.create(topic, partitions, config or {})
            existing = self._wait_visible(topic)
        if len(existing) != partitions:
            log.warning("topic %r exists with %d partitions, %d requested", topic, len(existing), partitions)

    def _wait_visible(self, topic: str) -> list[int]:
        deadline = time.monotonic() + self._create_timeout
        delay = 0.01
        while True:
            found = self._backend.topics().get(topic)
            if found:
                return found
            if time.monotonic() >= deadline:
                raise TopicCreateError(f"topic {topic!r} not visible in metadata {self._create_timeout:g} s after creation")
            time.sleep(delay)  # metadata propagation has no event to wait on
            delay = min(delay * 2, 0.5)

    def ensure_copartitioned(self, topics: Iterable[str]) -> int:
        """Check that ``topics`` all exist with equal, gap-free partitions ``0..n-1``; return n.

        Raises :class:`TopicNotFoundError` naming every missing topic and
        :class:`goka.errors.CopartitionError` naming each topic and its partitions.
        """
        names = list(dict.fromkeys(topics))
        if not names:
            raise ValueError("ensure_copartitioned needs at least one topic")
        listing = self._backend.topics()
        missing = [t for t in names if t not in listing]
        if missing:
            raise TopicNotFoundError(missing)
        found = {t: listing[t] for t in names}
        counts = {len(p) for p in found.values()}
        gaps = [t for t, p in found.items() if p != list(range(len(p)))]
        if len(counts) != 1 or gaps:
            detail = ", ".join(
                f"{t!r} has {len(p)} partitions" + (f" {p}" if t in gaps else "") for t, p in found.items()
            )
            raise CopartitionError(f"topics are not co-partitioned: {detail}")
        return counts.pop()

    def close(self) -> None:
        """Release the admin client (idempotent)."""
        self._backend.close()

    def __enter__(self) -> TopicManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
