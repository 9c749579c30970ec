"""The one timing rule every contender of ``bench_peers.py`` uses.

Each contender calls :meth:`Clock.tick` once per message, inside its per-message
callback, after the message's state update. The measured window runs from the first
tick to the N-th; the rate is the N - 1 messages after the first divided by that window.
Group join, state recovery, interpreter start-up and shutdown stay outside the window.

Standard library only: the peer workers import it from the throwaway venv, the goka
and raw-consume runs from the bench process.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

__all__ = ["Clock", "FETCH_TUNING"]

#: The fetch settings every consumer in the comparison gets (goka's processor defaults):
#: librdkafka's default fetch pacing caps a consumer near 150k msgs/s on this machine.
FETCH_TUNING: dict[str, Any] = {"fetch.queue.backoff.ms": 10, "queued.min.messages": 200000}


class Clock:
    """Counts processed messages and times the window from the first to the ``target``-th."""

    def __init__(self, target: int) -> None:
        if target < 2:
            raise ValueError("target must be >= 2 to time a window")
        self.target = target
        self.count = 0
        self.done = threading.Event()
        self._first_perf = self._last_perf = 0.0
        self._first_cpu = self._last_cpu = 0.0
        self._first_wall = self._last_wall = 0.0

    def tick(self) -> bool:
        """Record one processed message; True exactly once, when the target is reached."""
        self.count += 1
        if self.count == 1:
            self._first_perf, self._first_cpu, self._first_wall = time.perf_counter(), time.process_time(), time.time()
        elif self.count == self.target:
            self._last_perf, self._last_cpu, self._last_wall = time.perf_counter(), time.process_time(), time.time()
            self.done.set()
            return True
        return False

    def result(self) -> dict[str, Any]:
        """Window figures; ``rate`` is None until the target was reached."""
        if not self.done.is_set():
            return {"processed": self.count, "rate": None}
        window = self._last_perf - self._first_perf
        return {
            "processed": self.count,
            "window_s": window,
            "rate": (self.target - 1) / window,
            # process CPU seconds per wall second in the window (all threads of the process)
            "cpu_cores": (self._last_cpu - self._first_cpu) / window,
            "first_wall": self._first_wall,
            "last_wall": self._last_wall,
        }

    def print_result(self, **extra: Any) -> None:
        """Print the result as one JSON line prefixed ``RESULT`` (what the bench parses)."""
        print("RESULT " + json.dumps({**self.result(), **extra}), flush=True)
        sys.stdout.flush()
