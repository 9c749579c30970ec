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
from goka.options import NilHandling, Offset

__all__ = ["Processor"]


class Processor:
    """A member of the consumer group ``group.group`` processing its input partitions.

    ``run()`` blocks until ``stop()``, SIGINT/SIGTERM or an error (re-raised);
    ``start()`` runs it in a background thread; as a context manager it starts on
    enter and stops on exit.

    ``coalesce_changelog=True`` writes only the last value of a key per consumed batch to
    the changelog (as Kafka Streams' record cache does): fewer records to produce when
    keys repeat within a batch, but views and other readers of the table topic see fewer
    intermediate values. Off by default; the table itself ends up the same either way.
    The tester ignores it.
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
    ) -> None:
        if not isinstance(group, GroupGraph):
            raise TypeError(f"group must be a GroupGraph from goka.define_group(), got {type(group).__name__}")
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
        factory = getattr(brokers, "_processor_backend", None)
        if factory is not None:
            self._backend = factory(self)
        else:
            from goka.runtime.processor import KafkaProcessor

            self._backend = KafkaProcessor(self, brokers)

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
        """Block until every assigned partition's table is recovered; ``False`` on timeout."""
        return bool(self._backend.wait_recovered(timeout))

    def get(self, key: str) -> Any:
        """The group-table value of ``key`` (its partition must be held by this instance)."""
        return self._backend.get(key)

    def visit_all(self, visitor: str, value: Any) -> int:
        """Run visitor ``visitor`` with ``value`` for every key of the held partitions;
        returns how many keys were visited."""
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
