"""``goka.tester``: run processors, views and emitters in memory for unit tests.

See :class:`Tester`. Every topic has one partition; ``consume`` is synchronous and
returns after all cascades finished.
"""
from __future__ import annotations

from goka.tester.queue import QueueTracker
from goka.tester.tester import Tester, TesterError

__all__ = ["Tester", "TesterError", "QueueTracker"]
