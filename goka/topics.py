"""``goka.TopicManager``: create and inspect topics, as Go Goka's ``NewTopicManager``.

Processors create what they need themselves (their loop and table topics) and check that
their inputs exist and are co-partitioned; use a topic manager to create input and
output streams and tables up front, e.g. in a deployment script::

    with goka.TopicManager(goka.Kafka("kafka:9092", config)) as tm:
        tm.ensure_stream("user-clicks", 8)
        tm.ensure_table("user-profiles", 8)     # compacted
        print(tm.partitions("user-clicks"))     # [0, 1, ..., 7]

Errors: :class:`TopicNotFoundError` (also a ``LookupError``) and
:class:`TopicCreateError`, both :class:`TopicError` and :class:`goka.GokaError`; import
them from this module.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goka._kafka.admin import TopicCreateError, TopicError, TopicNotFoundError

__all__ = ["TopicManager", "TopicDescription", "TopicError", "TopicNotFoundError", "TopicCreateError"]


@dataclass(frozen=True)
class TopicDescription:
    """What :meth:`TopicManager.describe` reports about a topic.

    Parameters
    ----------
    name : str
        The topic.
    partitions : tuple of int
        Its sorted partition ids.
    low_watermarks : dict of int to int
        Per partition, the offset of its oldest retained record.
    high_watermarks : dict of int to int
        Per partition, the offset the next record will get (the end).
    configs : dict of str to str, or None
        The topic configs the broker reports (``cleanup.policy``, ``retention.ms``, ...);
        ``None`` when it reports none (a :class:`goka.EmbeddedCluster` has no topic configs).
    """

    name: str
    partitions: tuple[int, ...]
    low_watermarks: dict[int, int]
    high_watermarks: dict[int, int]
    configs: dict[str, str] | None

    @property
    def compacted(self) -> bool | None:
        """Whether ``cleanup.policy`` includes ``compact``; ``None`` if the broker does not say."""
        if self.configs is None or "cleanup.policy" not in self.configs:
            return None
        return "compact" in self.configs["cleanup.policy"].split(",")

    @property
    def records(self) -> int:
        """Records retained over all partitions (high minus low watermarks)."""
        return sum(self.high_watermarks[p] - self.low_watermarks[p] for p in self.partitions)


class TopicManager:
    """Looks up and creates topics on a cluster.

    Parameters
    ----------
    brokers : list of str, str, goka.Kafka or goka.EmbeddedCluster
        a list of ``host:port``, a comma-separated string, a
        :class:`goka.Kafka` (its settings configure the admin client: security and the
        like) or a :class:`goka.EmbeddedCluster` (topics are created through it: its mock
        brokers do not implement CreateTopics).
    replication : int, optional
        replication factor of created topics; ``None`` (default) leaves it
        to the broker's ``default.replication.factor``.
    create_timeout : float
        seconds to wait until a created topic shows in metadata.
    request_timeout : float
        seconds each admin request may take.

    A partition-count mismatch on an existing topic is logged as a warning, not raised
    (Go Goka's default). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, brokers: Any, *, replication: int | None = None, create_timeout: float = 10.0,
                 request_timeout: float = 10.0) -> None:
        if replication is not None and (not isinstance(replication, int) or replication < 1):
            raise ValueError(f"replication must be a positive int or None, got {replication!r}")
        from goka._kafka.admin import TopicManager as _Impl

        self._impl = _Impl.for_brokers(brokers, replication=replication, create_timeout=create_timeout,
                                       request_timeout=request_timeout)

    def ensure_stream(self, topic: str, partitions: int) -> None:
        """Create ``topic`` unless it exists: delete policy, 1 h retention (Goka's stream
        defaults). Returns once metadata shows it.

        Parameters
        ----------
        topic : str
            The topic.
        partitions : int
            Its partition count (>= 1); an existing topic with another count is a warning.
        """
        self._impl.ensure_stream(_topic(topic), _count(partitions, topic))

    def ensure_table(self, topic: str, partitions: int) -> None:
        """Create ``topic`` unless it exists, compacted (``cleanup.policy=compact``), as a
        table. Returns once metadata shows it.

        Parameters
        ----------
        topic : str
            The topic.
        partitions : int
            Its partition count (>= 1); an existing topic with another count is a warning.
        """
        self._impl.ensure_table(_topic(topic), _count(partitions, topic))

    def ensure_topic(self, topic: str, partitions: int, config: Mapping[str, str] | None = None) -> None:
        """Create ``topic`` unless it exists, with ``partitions`` and topic ``config``
        (e.g. ``{"retention.ms": "86400000"}``).

        Parameters
        ----------
        topic : str
            The topic.
        partitions : int
            Its partition count (>= 1); an existing topic with another count is a warning.
        config : mapping of str to str, optional
            Topic configs of a created topic.
        """
        self._impl.ensure_topic(_topic(topic), _count(partitions, topic), dict(config or {}))

    def partitions(self, topic: str) -> list[int]:
        """The sorted partition ids of ``topic``; :class:`TopicNotFoundError` if it does not exist.

        Parameters
        ----------
        topic : str
            The topic.
        """
        return self._impl.partitions(_topic(topic))

    def topics(self) -> list[str]:
        """The names of every topic the cluster reports, sorted."""
        return sorted(self._impl.topics())

    def describe(self, topic: str) -> TopicDescription:
        """Partitions, watermarks and (where the broker reports them) configs of ``topic``.

        Parameters
        ----------
        topic : str
            The topic to describe; :class:`TopicNotFoundError` if it does not exist.
        """
        result: TopicDescription = self._impl.describe(_topic(topic))
        return result

    def ensure_copartitioned(self, topics: Iterable[str]) -> int:
        """Check that ``topics`` exist with the same partitions ``0..n-1``; return n
        (:class:`TopicNotFoundError`, :class:`goka.CopartitionError` otherwise).

        Parameters
        ----------
        topics : iterable of str
            The topics that must be co-partitioned.
        """
        return self._impl.ensure_copartitioned(topics)

    def close(self) -> None:
        """Release the admin client (idempotent)."""
        self._impl.close()

    def __enter__(self) -> TopicManager:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<goka.TopicManager>"


def _topic(topic: object) -> str:
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"topic must be a non-empty string, got {topic!r}")
    return topic


def _count(partitions: object, topic: str) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be an int >= 1, got {partitions!r} for topic {topic!r}")
    return partitions


def __getattr__(name: str) -> Any:
    # the error classes live with the implementation, which imports confluent_kafka
    if name in ("TopicError", "TopicNotFoundError", "TopicCreateError"):
        from goka._kafka import admin

        return getattr(admin, name)
    raise AttributeError(f"module 'goka.topics' has no attribute {name!r}")
