"""``EmbeddedCluster``: an in-process Kafka cluster for development, tests and demos.

It is librdkafka's mock cluster (the one inside confluent-kafka's wheel), so clients
talk the real Kafka protocol over TCP on 127.0.0.1 and goka runs exactly the code it
runs against a production cluster. Other processes can connect to :attr:`brokers`
while the cluster lives.

It is **not** a broker for production data:

- each partition keeps at most ~5 MiB and 100,000 message batches; older data is
  dropped silently (the log start offset moves up; a consumer positioned before it
  sees offset-out-of-range);
- there are no topic configs: compaction and retention do not exist;
- data lives in memory and is gone after :meth:`~EmbeddedCluster.stop`;
- Kafka admin requests (CreateTopics, DescribeConfigs, ...) are not implemented:
  topics are created with :meth:`~EmbeddedCluster.create_topic` (or by goka's topic
  manager given this object as ``brokers``), in the process that owns the cluster;
- a topic auto-created by a producer (or by a Metadata request naming it) always gets
  4 partitions, whatever ``partitions`` says;
- any consumer-group rebalance after the first join waits ``session.timeout.ms`` minus
  1 s before the new generation starts (the first join of an empty group is immediate);
- it refuses offset commits while a group rebalances (REBALANCE_IN_PROGRESS), where
  Apache Kafka (and Tansu) accept a commit of the current generation until the
  revocation completes. A processor handing partitions over commits what it finished
  synchronously in the revocation; on this cluster that commit is refused, so a new
  owner replays what the old one processed since its last commit before the rebalance
  began (up to a commit interval plus a heartbeat interval of input; partitions the old
  owner gets back resume where it finished). Measured with 6,000 messages at 2,500
  msgs/s, 1 s heartbeat: 765-1,990 replayed (3,300-3,950 before partitions given back
  resumed); on Tansu 0. Exactly-once-per-message across hand-overs cannot be shown
  here; the at-least-once guarantee holds;
- it aborts the process when members of one group announce different assignors
  (Apache Kafka refuses the join with INCONSISTENT_GROUP_PROTOCOL).
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType

from goka._kafka.admin import TopicCreateError, TopicManager
from goka._kafka.mock import MockCluster

__all__ = ["EmbeddedCluster"]

log = logging.getLogger("goka.kafka")

_TOPIC_ALREADY_EXISTS = 36


class EmbeddedCluster:
    """An in-process Kafka cluster (librdkafka's mock cluster) for development, tests and demos.

    The mock keeps at most ~5 MiB / 100,000 batches per partition and silently drops
    older data, so keep partitions small; see the module docstring for the other limits.

    ``partitions`` is the default partition count of :meth:`create_topic`; ``brokers``
    the number of brokers (ids ``1..brokers``). ``initial_rebalance_delay_ms`` is the
    broker's ``group.initial.rebalance.delay.ms`` (0: a new group's first join is
    immediate; Kafka's default is 3000)::

        with goka.EmbeddedCluster(partitions=4) as cluster:
            emitter = goka.Emitter(cluster, "clicks", codec.String())
            ...
            print(cluster.brokers)   # "127.0.0.1:41234", usable from other processes

    Pass the cluster object itself as ``brokers`` to goka so that it can create the
    topics it needs; a process holding only the :attr:`brokers` string can produce,
    consume and look topics up, but not create them.

    Parameters
    ----------
    partitions : int
        Default partition count of :meth:`create_topic`.
    brokers : int
        Number of mock brokers, ids ``1..brokers``.
    initial_rebalance_delay_ms : int
        The brokers' ``group.initial.rebalance.delay.ms``: how long a new group's first
        join waits for more members (0, the default: immediate; Kafka's default is 3000).
    """

    def __init__(self, partitions: int = 4, *, brokers: int = 1, initial_rebalance_delay_ms: int = 0) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if brokers < 1:
            raise ValueError(f"brokers must be >= 1, got {brokers}")
        self.default_partitions = partitions
        self._broker_count = brokers
        self._rebalance_delay_ms = initial_rebalance_delay_ms
        self._lock = threading.Lock()
        self._mock: MockCluster | None = None
        self._meta: TopicManager | None = None
        self._finalizer: weakref.finalize[[], EmbeddedCluster] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> EmbeddedCluster:
        """Start the brokers (no-op if running). A cluster started again after
        :meth:`stop` is a new, empty one on new ports."""
        with self._lock:
            if self._mock is None:
                mock = MockCluster(self._broker_count)
                mock.set_group_initial_rebalance_delay_ms(self._rebalance_delay_ms)
                self._mock = mock
                self._finalizer = weakref.finalize(self, mock.destroy)
                log.info("embedded cluster started: %s", mock.bootstraps)
        return self

    def stop(self) -> None:
        """Close every broker; all data is lost (idempotent)."""
        with self._lock:
            mock, meta, fin = self._mock, self._meta, self._finalizer
            self._mock = self._meta = self._finalizer = None
        if meta is not None:
            meta.close()
        if fin is not None and mock is not None:
            fin()  # runs mock.destroy() once
            log.info("embedded cluster stopped: %s", mock.bootstraps)

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._mock is not None

    def _running(self) -> MockCluster:
        mock = self._mock
        if mock is None:
            raise RuntimeError("EmbeddedCluster is not running (use start() or a with block)")
        return mock

    @property
    def brokers(self) -> str:
        """Bootstrap servers, ``"127.0.0.1:port[,127.0.0.1:port...]"``."""
        return self._running().bootstraps

    @property
    def broker_count(self) -> int:
        """Number of brokers (their ids are ``1..broker_count``)."""
        return self._broker_count

    def __repr__(self) -> str:
        state = self._mock.bootstraps if self._mock is not None else "stopped"
        return f"<EmbeddedCluster {state} partitions={self.default_partitions} brokers={self._broker_count}>"

    # -- topics ------------------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int | None = None, config: Mapping[str, str] | None = None
    ) -> None:
        """Create topic ``name`` (default partition count: the constructor's ``partitions``).

        Idempotent when the topic exists with the same count; raises
        :class:`goka._kafka.admin.TopicCreateError` when it exists with another count.
        ``config`` is accepted for interface parity and ignored: the mock has no topic
        configs (no compaction, no retention).

        Parameters
        ----------
        name : str
            The topic.
        partitions : int, optional
            Its partition count; default the constructor's ``partitions``.
        config : mapping of str to str, optional
            Topic configs: ignored, the mock has none.
        """
        n = self.default_partitions if partitions is None else partitions
        mock = self._running()
        if config:
            log.debug("embedded cluster ignores topic config %s of %r", dict(config), name)
        code = mock.create_topic(name, n, replication_factor=min(3, self._broker_count))
        if code == 0:
            log.debug("embedded cluster: created topic %r with %d partitions", name, n)
            return
        if code == _TOPIC_ALREADY_EXISTS:
            have = self.partitions(name)
            if len(have) == n:
                return
            raise TopicCreateError(f"topic {name!r} exists with {len(have)} partitions, {n} requested")
        raise TopicCreateError(f"cannot create topic {name!r} on the embedded cluster (librdkafka error {code})")

    def delete_topic(self, name: str) -> None:
        """Delete topic ``name`` and its data.

        Parameters
        ----------
        name : str
            The topic.
        """
        self._running().delete_topic(name)

    def _topic_manager(self) -> TopicManager:
        with self._lock:
            if self._mock is None:
                raise RuntimeError("EmbeddedCluster is not running (use start() or a with block)")
            if self._meta is None:
                self._meta = TopicManager.for_brokers(self._mock.bootstraps)
            return self._meta

    def topics(self) -> list[str]:
        """Names of all topics, sorted (read from cluster metadata)."""
        return sorted(self._topic_manager().topics())

    def partitions(self, topic: str) -> list[int]:
        """Partition ids of ``topic``; raises ``TopicNotFoundError`` if it does not exist.

        Parameters
        ----------
        topic : str
            The topic.
        """
        return self._topic_manager().partitions(topic)

    # -- fault injection ---------------------------------------------------------------

    def _broker_id(self, broker_id: int) -> int:
        if broker_id != -1 and not 1 <= broker_id <= self._broker_count:
            raise ValueError(f"no broker {broker_id}: ids are 1..{self._broker_count} (or -1 for all)")
        return broker_id

    def set_broker_down(self, broker_id: int) -> None:
        """Disconnect broker ``broker_id`` (``-1``: all) and refuse new connections.

        Parameters
        ----------
        broker_id : int
            A broker id (``1..brokers``), or ``-1`` for all.
        """
        self._running().broker_set_down(self._broker_id(broker_id))

    def set_broker_up(self, broker_id: int) -> None:
        """Let broker ``broker_id`` (``-1``: all) accept connections again.

        Parameters
        ----------
        broker_id : int
            A broker id (``1..brokers``), or ``-1`` for all.
        """
        self._running().broker_set_up(self._broker_id(broker_id))

    def push_request_errors(self, api_key: int, errors: Sequence[int]) -> None:
        """Fail the next ``len(errors)`` requests of Kafka API ``api_key`` (0 = Produce,
        1 = Fetch, 8 = OffsetCommit, ...) with these Kafka error codes, in order.

        Parameters
        ----------
        api_key : int
            The Kafka API key of the requests to fail.
        errors : sequence of int
            Kafka error codes, one per request (e.g. 6 = NOT_LEADER_OR_FOLLOWER).
        """
        self._running().push_request_errors(api_key, errors)

    def clear_request_errors(self, api_key: int) -> None:
        """Drop the errors pushed with :meth:`push_request_errors` for Kafka API ``api_key``
        that no request has consumed yet.

        Parameters
        ----------
        api_key : int
            The Kafka API key (8 = OffsetCommit, ...).
        """
        self._running().clear_request_errors(api_key)
