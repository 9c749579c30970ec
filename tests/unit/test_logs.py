"""The throttle on librdkafka's log lines (``goka._kafka.logs``)."""
from __future__ import annotations

import logging

from goka._kafka.logs import RepeatThrottle, rdkafka_log

REFUSED = "[thrd:127.0.0.1:9/bootstrap]: 127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: " \
          "Connection refused (after {ms}ms in state CONNECT)"


def record(text: str, client: str = "goka-processor-g#consumer-1", facility: str = "FAIL") -> logging.LogRecord:
    # as confluent-kafka logs: logger.log(level, "%s [%s] %s", facility, client name, text)
    return logging.LogRecord("goka.kafka.rdkafka", logging.ERROR, __file__, 1, "%s [%s] %s",
                             (facility, client, text), None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_repeats_are_held_back_and_summarised_once_a_period() -> None:
    clock = Clock()
    throttle = RepeatThrottle(period=30.0, clock=clock)
    assert throttle.filter(record(REFUSED.format(ms=0)))
    held = 0
    for i in range(1, 200):  # 20 a second for ~10 s, with varying timings in the text
        clock.now = i * 0.05
        held += not throttle.filter(record(REFUSED.format(ms=i % 7)))
    assert held == 199
    clock.now = 30.5
    summary = record(REFUSED.format(ms=3))
    assert throttle.filter(summary)
    assert summary.getMessage().endswith("(199 similar lines in the last 30 s)")
    clock.now = 31.0
    assert not throttle.filter(record(REFUSED.format(ms=1)))


def test_a_different_line_from_the_same_source_is_a_state_change() -> None:
    clock = Clock()
    throttle = RepeatThrottle(period=30.0, clock=clock)
    assert throttle.filter(record(REFUSED.format(ms=0)))
    assert not throttle.filter(record(REFUSED.format(ms=1)))
    assert throttle.filter(record("[thrd:127.0.0.1:9/bootstrap]: 127.0.0.1:9/1: Connected", facility="CONNECT"))
    assert throttle.filter(record(REFUSED.format(ms=0)))  # down again: shown again


def test_sources_are_kept_apart() -> None:
    throttle = RepeatThrottle(period=30.0, clock=Clock())
    assert throttle.filter(record(REFUSED.format(ms=0), client="goka-processor-g#consumer-1"))
    assert throttle.filter(record(REFUSED.format(ms=0), client="goka-processor-g#producer-2"))
    assert throttle.filter(record(REFUSED.replace("bootstrap", "GroupCoordinator").format(ms=0)))
    assert not throttle.filter(record(REFUSED.format(ms=0), client="goka-processor-g#producer-2"))


def test_plain_records_are_throttled_by_their_text() -> None:
    throttle = RepeatThrottle(period=30.0, clock=Clock())
    plain = logging.LogRecord("goka.kafka.rdkafka", logging.ERROR, __file__, 1, "broker %s is down", ("x",), None)
    assert throttle.filter(plain)
    again = logging.LogRecord("goka.kafka.rdkafka", logging.ERROR, __file__, 1, "broker %s is down", ("x",), None)
    assert not throttle.filter(again)


def test_the_library_logger_carries_the_throttle() -> None:
    assert any(isinstance(f, RepeatThrottle) for f in rdkafka_log.filters)
