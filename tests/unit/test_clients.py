"""Client configuration in ``goka._kafka.clients`` (no broker needed: librdkafka only
checks the configuration when a client is created)."""
from __future__ import annotations

import logging

import pytest

from goka._kafka.clients import ORDERED, delivers_in_order, producer, rdkafka_log


@pytest.mark.parametrize("overrides, ordered", [
    ({}, True),
    ({"linger.ms": 50}, True),
    ({"enable.idempotence": "true", "message.timeout.ms": "0"}, True),
    ({"enable.idempotence": False}, False),
    ({"enable.gapless.guarantee": "false"}, False),
    ({"message.timeout.ms": 30000}, False),
    ({"delivery.timeout.ms": 30000}, False),
])
def test_delivers_in_order(overrides: dict[str, object], ordered: bool) -> None:
    assert delivers_in_order(overrides) is ordered


def test_ordered_producer_builds_with_and_without_idempotence() -> None:
    """``ordered=True`` adds :data:`ORDERED`; turning idempotence off also drops the
    gapless guarantee (librdkafka refuses one without the other)."""
    assert ORDERED["enable.idempotence"] is True
    for overrides in ({}, {"enable.idempotence": False}, {"enable.idempotence": "false"}):
        producer("127.0.0.1:1", client_id="t", overrides=overrides, ordered=True)  # raises if refused


def test_gapless_warning_is_filtered() -> None:
    record = logging.LogRecord("goka.kafka.rdkafka", logging.WARNING, __file__, 1,
                               "CONFWARN [thrd:app]: Configuration property enable.gapless.guarantee "
                               "is experimental: ...", None, None)
    other = logging.LogRecord("goka.kafka.rdkafka", logging.WARNING, __file__, 1, "CONFWARN other", None, None)
    assert not all(f.filter(record) for f in rdkafka_log.filters)
    assert all(f.filter(other) for f in rdkafka_log.filters)
