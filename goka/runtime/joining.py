"""What a processor says while its consumer group join is under way.

A join can take a while without anything being wrong: the coordinator waits for every
member of the group to rejoin (a member that vanished without leaving the group is
waited for until its ``session.timeout.ms`` expires), and some brokers (Tansu) take
20-30 s for a join. So the processor logs that it is joining, a hint after
:data:`HINT_AFTER` seconds without an assignment, and a warning when the assignment that
comes back is empty.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

__all__ = ["JoinWatch", "HINT_AFTER"]

log = logging.getLogger("goka.processor")

#: seconds without an assignment after which the hint is logged
HINT_AFTER = 15.0


class JoinWatch:
    """Logs the join of ``group`` (consuming ``topics`` with ``partitions`` partitions);
    call :meth:`assigned` from the rebalance callback. The hint is logged from a daemon
    thread that ends at the first assignment or when ``stop`` is set."""

    def __init__(self, group: str, topics: Sequence[str], partitions: int, stop: threading.Event,
                 session_timeout_ms: object = None) -> None:
        self.group = group
        self.topics = list(topics)
        self.partitions = partitions
        self.session_timeout_ms = session_timeout_ms
        self._stop = stop
        self._done = threading.Event()
        log.info("group %s: joining, waiting for partitions of %s", group, ", ".join(self.topics))
        threading.Thread(target=self._hint, name=f"goka-join-{group}", daemon=True).start()

    def _hint(self) -> None:
        after = HINT_AFTER
        deadline = time.monotonic() + after
        while time.monotonic() < deadline:  # wakes every 0.25 s to notice a stop
            if self._done.wait(min(0.25, max(0.0, deadline - time.monotonic()))) or self._stop.is_set():
                return
        session = f"{self.session_timeout_ms} ms"
        log.warning(
            "group %s: no partitions assigned after %g s. The join waits until every member of the group has "
            "rejoined: another process in group %s (another goka run, an old instance) or one that was killed "
            "is waited for until its session.timeout.ms (%s) expires; some brokers (Tansu) take 20-30 s for a "
            "join. Lower session.timeout.ms in consumer_config (goka run -C session.timeout.ms=...) to shorten "
            "the wait after a crash.", self.group, after, self.group, session)

    def assigned(self, partitions: Sequence[int]) -> None:
        """The group assigned ``partitions`` to this member (possibly none)."""
        self._done.set()
        if not partitions:
            log.warning(
                "group %s: the assignment is empty: this member gets no partition of %s. Either the group has more "
                "members than the %d partitions (this one stands by), or an input topic is missing or has no "
                "partitions.", self.group, ", ".join(self.topics), self.partitions)

    def close(self) -> None:
        self._done.set()
