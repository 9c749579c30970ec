"""A fixed-bucket latency histogram, cheap enough to feed from the processing loop."""
from __future__ import annotations

import bisect
import threading
from typing import Any

__all__ = ["LatencyHistogram", "BUCKETS"]

#: upper bounds in seconds (Prometheus-style cumulative buckets are derived from these)
BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1, 1.0)


class LatencyHistogram:
    """Counts observations per bucket; ``observe(seconds, n)`` adds ``n`` observations of
    ``seconds`` each (the processor records a batch's mean time per message)."""

    __slots__ = ("counts", "sum", "count", "_lock")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # last slot: above the largest bound
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, seconds: float, n: int = 1) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(BUCKETS, seconds)] += n
            self.sum += seconds * n
            self.count += n

    def snapshot(self) -> dict[str, Any]:
        """``{"buckets": [(upper_bound, cumulative_count), ...], "sum": s, "count": n}``;
        the last bound is ``inf``."""
        with self._lock:
            counts, total, n = list(self.counts), self.sum, self.count
        cumulative, running = [], 0
        for bound, c in zip((*BUCKETS, float("inf")), counts):
            running += c
            cumulative.append((bound, running))
        return {"buckets": cumulative, "sum": total, "count": n}
