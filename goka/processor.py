"""``goka.Processor``: runs the callbacks of a group for the partitions it is assigned.

The public object holds the group graph and options; the work is done by a backend:
the Kafka runtime (consumer group, recovery, changelog, commits) or, when ``brokers``
is a :class:`goka.tester.Tester`, the tester, which drives it synchronously.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from goka.graph import GroupGraph
from goka.hash import Hasher, check_hasher
from goka.hash import goka as goka_hash
from goka._core.failure import check_dead_letters
from goka.options import NilHandling, Offset
from goka.policy import Policy

__all__ = ["Processor"]


class Processor:
    """A member of the consumer group ``group.group`` processing its input partitions.

    ``run()`` blocks until ``stop()``, SIGINT/SIGTERM or an error (re-raised);
    ``start()`` runs it in a background thread; as a context manager it starts on
    enter and stops on exit. A processor runs once: ``run()`` or ``start()`` after a
    ``run()``, ``start()`` or ``stop()`` raises ``ProcessorStoppedError`` (``stop()`` before
    it ran just marks it stopped; ``stop()`` again does nothing). :attr:`state` is
    ``"idle"``, ``"starting"``, ``"joining"`` (waiting for the consumer group's first
    assignment), ``"recovering"``, ``"running"``, ``"stopping"`` or ``"stopped"``.

    Parameters
    ----------
    brokers : list of str, str, goka.Kafka, goka.EmbeddedCluster or goka.tester.Tester
        Where to run: a list of ``host:port``, a comma-separated string, a
        :class:`goka.Kafka` (connection settings for every client the processor builds:
        admin, consumers, producer, lookup views, table readers; ``consumer_config`` /
        ``producer_config`` win over them), an EmbeddedCluster (the processor can then
        create its ``-loop`` and ``-table`` topics on it) or a :class:`goka.tester.Tester`
        (in-memory, for unit tests).
    group : goka.GroupGraph
        What to process, from :func:`goka.define_group`.
    path : str, optional
        Directory of the local table storage (LMDB): ``<path>/<topic>.<partition>/``.
        Default ``<tempdir>/goka-state/processor/<group>`` (Go Goka: ``/tmp/goka/...``).
        Ignored when ``storage`` is given.
    storage : goka.storage.StorageBuilder, optional
        A storage builder **instance** (anything with ``open(topic, partition) ->
        goka.storage.Storage``), e.g. ``goka.storage.lmdb.LMDB("/var/lib/app",
        sync=True)`` or ``goka.storage.memory.Memory()`` (nothing kept across restarts:
        tables are recovered from Kafka). Default: ``LMDB(path)``.
    initial_offset : goka.Offset
        Where a group without committed offsets starts reading its inputs:
        ``Offset.OLDEST`` (default) or ``Offset.NEWEST`` (Go Goka's default).
    hot_standby : bool
        Keep a local copy of **every** partition of the group table (and of joined
        tables) up to date, not only of the assigned ones, so that taking over a
        partition after a rebalance needs no recovery. Costs disk and network.
    recover_ahead : bool
        Recover every partition of the group table once before joining the group
        (the assigned ones then only catch up), without following them afterwards.
    nil_handling : goka.NilHandling
        What to do with an input message whose value is null (a tombstone):
        ``IGNORE`` (default, Go Goka's: skipped and committed), ``PROCESS`` (the
        callback gets ``msg=None``) or ``DECODE`` (the codec decodes ``None``).
    update_callback : callable, optional
        ``update_callback(ctx, storage, key, value) -> None`` applies one record of the
        group table topic to the local ``storage`` (a :class:`goka.storage.Storage`)
        while a partition is recovered or followed; ``key`` is ``bytes``, ``value`` is
        ``bytes`` or ``None`` (a tombstone); ``ctx`` has ``topic``, ``partition``,
        ``offset``, ``headers`` and ``timestamp_ms``. Default: ``storage.set(key,
        value)``, or ``storage.delete(key)`` for a tombstone (Go Goka's
        ``DefaultUpdate``).
    on_rebalance : callable, optional
        ``on_rebalance(assignment) -> None``, called in the processor's thread when the
        group assigns partitions, with a ``dict`` of the assigned partition ids to
        ``-1`` (the offset is not known yet; Go Goka's ``Assignment``), before their
        tables are recovered. Not called on revocation.
    consumer_config : mapping of str to any, optional
        librdkafka settings of the group consumer and table readers, over goka's own
        (e.g. ``{"session.timeout.ms": 6000}``); may change anything, including the
        settings goka's guarantees rest on.
    producer_config : mapping of str to any, optional
        librdkafka settings of the producer (outputs, loopback, changelog), over
        goka's own; changing ``enable.idempotence`` or timeouts gives up ordered
        delivery (each message then waits for its own acknowledgements).
    coalesce_changelog : bool
        ``True`` writes only the last value of a key per consumed batch to the
        changelog (as Kafka Streams' record cache does): fewer records to produce when
        keys repeat within a batch, but views and other readers of the table topic see
        fewer intermediate values. Off by default; the table itself ends up the same
        either way. The tester ignores it.
    hasher : callable
        The partitioner of the group's inputs, ``hasher(key, partitions) -> partition``
        (default :func:`goka.hash.goka`): ``get`` finds a key's table partition with it,
        and ``ctx.emit`` / ``ctx.loopback`` route with it. Use :func:`goka.hash.murmur2`
        when the inputs are produced by the Java client or Kafka Streams.
    on_error : goka.Fail, goka.Skip, goka.DeadLetter or goka.Retry, optional
        The error policy of every input edge that has none of its own
        (:class:`goka.Fail` by default; see :mod:`goka.policy`). Skipped and
        dead-lettered messages are counted per partition and input topic in
        ``stats()`` (``skipped``, ``dead_lettered``).

    Raises
    ------
    goka.topics.TopicNotFoundError
        An input, output, joined or looked-up topic does not exist (named with its edge).
    goka.CopartitionError
        The inputs, loop, joins and table do not have the same partitions.
    """

    def __init__(
        self,
        brokers: Any,
        group: GroupGraph,
        *,
        path: str | None = None,
        storage: Any = None,
        initial_offset: Offset = Offset.OLDEST,
        hot_standby: bool = False,
        recover_ahead: bool = False,
        nil_handling: NilHandling = NilHandling.IGNORE,
        update_callback: Callable[..., None] | None = None,
        on_rebalance: Callable[[dict[int, int]], None] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
        producer_config: Mapping[str, Any] | None = None,
        coalesce_changelog: bool = False,
        hasher: Hasher = goka_hash,
        on_error: Policy | None = None,
    ) -> None:
        if not isinstance(group, GroupGraph):
            raise TypeError(f"group must be a GroupGraph from goka.define_group(), got {type(group).__name__}")
        self.hasher = check_hasher(hasher, f"Processor({group.group!r})")
        self.graph = group
        self.path = path
        self.storage = storage
        self.initial_offset = Offset(initial_offset)
        self.hot_standby = hot_standby
        self.recover_ahead = recover_ahead
        self.nil_handling = NilHandling(nil_handling)
        self.update_callback = update_callback
        self.on_rebalance = on_rebalance
        self.consumer_config = dict(consumer_config or {})
        self.producer_config = dict(producer_config or {})
        self.coalesce_changelog = coalesce_changelog
        check_dead_letters(group, on_error)
        self.on_error = on_error
        factory = getattr(brokers, "_processor_backend", None)
        if factory is not None:
            self._backend = factory(self)
        else:
            from goka._kafka.admin import TopicNotFoundError
            from goka.runtime.processor import KafkaProcessor

            try:
                self._backend = KafkaProcessor(self, brokers)
            except TopicNotFoundError as exc:  # say which edges need the missing topics
                raise exc.for_group(group) from None

    @property
    def group(self) -> str:
        return self.graph.group

    @property
    def state(self) -> str:
        """``"idle"``, ``"starting"``, ``"joining"`` (waiting for the consumer group's first
        assignment), ``"recovering"``, ``"running"``, ``"stopping"`` or ``"stopped"``."""
        return str(self._backend.state)

    def run(self) -> None:
        """Process until stopped; re-raises the error that stopped processing."""
        self._backend.run()

    def start(self) -> None:
        """Run in a background thread; an error that stops it is re-raised by ``stop()``."""
        self._backend.start()

    def stop(self) -> None:
        """Stop cleanly: finish in-flight work, commit, release partitions."""
        self._backend.stop()

    def wait_recovered(self, timeout: float | None = None) -> bool:
        """Block until every assigned partition's table is recovered; ``False`` on timeout
        or when the processor stopped first. Raises ``NotRecoveredError`` if it was never
        started, and the error that stopped it, if any.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most; ``None`` waits until recovered or stopped.
        """
        return bool(self._backend.wait_recovered(timeout))

    def get(self, key: str | bytes) -> Any:
        """The group-table value of ``key`` (decoded), or ``None``.

        Parameters
        ----------
        key : str or bytes
            The key (any other type raises ``TypeError``); its partition must be held
            by this instance (:class:`goka.PartitionNotHeldError` otherwise).
        """
        return self._backend.get(key)

    def visit_all(self, visitor: str, value: Any) -> int:
        """Run a visitor for every key of the held partitions; returns how many keys were visited.

        Parameters
        ----------
        visitor : str
            Name of a :class:`goka.Visitor` edge of the group.
        value : any
            Passed to the visitor's callback as ``msg`` for each key.
        """
        return int(self._backend.visit_all(visitor, value))

    def stats(self) -> dict[str, Any]:
        """A snapshot of partitions, offsets, lag and counters."""
        return dict(self._backend.stats())

    def __enter__(self) -> Processor:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<goka.Processor group={self.group!r} state={self.state}>"
