"""librdkafka's own log lines, routed into Python logging and kept readable.

Every client goka builds passes :data:`rdkafka_log` as its ``logger``, so librdkafka's
lines reach the ``goka.kafka.rdkafka`` logger (confluent-kafka logs them as
``"%s [%s] %s"`` with the facility, the client name and the text) instead of stderr.

While a broker is unreachable, librdkafka retries every few dozen milliseconds and logs
each failure: ~20 lines a second per client. :class:`RepeatThrottle` passes the first
line of each kind, then -- as long as the same line keeps coming -- one line per
``period`` seconds saying how many were held back; any other line from the same client
and broker thread (the connection comes back, a different failure) is a state change and
passes at once.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

__all__ = ["RepeatThrottle", "rdkafka_log", "REPEAT_PERIOD"]

#: librdkafka's own log lines go through Python logging instead of stderr
rdkafka_log = logging.getLogger("goka.kafka.rdkafka")

#: seconds between two lines of the same kind while it repeats
REPEAT_PERIOD = 30.0

_THREAD = re.compile(r"^\[thrd:([^\]]*)\]:\s*")
_NUMBER = re.compile(r"\d+")
_MAX_SOURCES = 1024


class _Repeat:
    __slots__ = ("kind", "passed_at", "held")

    def __init__(self, kind: str, now: float) -> None:
        self.kind = kind
        self.passed_at = now
        self.held = 0


class RepeatThrottle(logging.Filter):
    """A logging filter that holds back repeats of the same line (see the module docstring).

    Parameters
    ----------
    period:
        Seconds between two lines of one kind while it keeps repeating.
    clock:
        A monotonic clock (tests pass their own).
    """

    def __init__(self, period: float = REPEAT_PERIOD, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.period = period
        self.clock = clock
        self._sources: dict[tuple[str, str], _Repeat] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _parts(record: logging.LogRecord) -> tuple[tuple[str, str], str]:
        args = record.args
        if isinstance(args, tuple) and len(args) == 3:  # confluent-kafka: facility, client, text
            facility, client, text = (str(a) for a in args)
        else:
            facility, client, text = "", "", record.getMessage()
        match = _THREAD.match(text)
        thread = match.group(1) if match else ""
        body = text[match.end():] if match else text
        # the same line with other timings ("after 12ms") is the same kind of line
        return (client, thread), f"{facility} {_NUMBER.sub('#', body)}"

    def filter(self, record: logging.LogRecord) -> bool:
        source, kind = self._parts(record)
        now = self.clock()
        with self._lock:
            last = self._sources.get(source)
            if last is None or last.kind != kind:  # a new kind of line: a state change
                if last is None and len(self._sources) >= _MAX_SOURCES:
                    self._sources.clear()
                self._sources[source] = _Repeat(kind, now)
                return True
            if now - last.passed_at < self.period:
                last.held += 1
                return False
            held, last.held, last.passed_at = last.held, 0, now
        if held:
            record.msg = f"{record.getMessage()} ({held} similar lines in the last {self.period:.0f} s)"
            record.args = None
        return True


class _QuietExperimental(logging.Filter):
    """librdkafka warns at every start that ``enable.gapless.guarantee`` is experimental;
    goka sets it on purpose (see :data:`goka._kafka.clients.ORDERED`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "enable.gapless.guarantee is experimental" not in record.getMessage()


rdkafka_log.addFilter(_QuietExperimental())
rdkafka_log.addFilter(RepeatThrottle())
