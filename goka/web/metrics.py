"""Prometheus metrics of processors and views, read from their stats at scrape time.

:class:`GokaCollector` is a ``prometheus_client`` collector: register it with any
registry (``goka.web.serve`` uses its own and serves it at ``/metrics``)::

    from prometheus_client import REGISTRY
    REGISTRY.register(GokaCollector(processors=[proc], views=[view]))

Metric names (all prefixed ``goka_``; partition labels are the processor's partitions):

========================================  =========  ====================================
``goka_processor_state``                  gauge      1 for the current ``state`` label
``goka_processor_partitions``             gauge      held partitions by ``role`` (active/standby)
``goka_consumed_messages_total``          counter    input messages per topic and partition
``goka_produced_messages_total``          counter    records produced (table, emits, loopback)
``goka_skipped_messages_total``           counter    input messages skipped (``goka.Skip``)
``goka_dead_lettered_messages_total``     counter    input messages dead-lettered (``goka.DeadLetter``)
``goka_consumer_lag``                     gauge      high watermark - next offset to process
``goka_input_offset``                     gauge      offset of the last processed message
``goka_committed_offset``                 gauge      last committed input offset
``goka_input_high_watermark``             gauge      input high watermark as last fetched
``goka_in_flight_messages``               gauge      processed, not yet acknowledged
``goka_late_messages_total``              counter    records late for a closed window (``goka.Window``)
``goka_open_windows``                     gauge      windows not yet closed (``goka.Window``)
``goka_stream_time_seconds``              gauge      a partition's stream time (``goka.Window``)
``goka_callback_latency_seconds``         histogram  callback time per message
``goka_table_offset``                     gauge      last applied table offset (``owner``: group or "view")
``goka_table_high_watermark``             gauge      table high watermark
``goka_table_records_total``              counter    table records applied since start
``goka_table_recovery_progress``          gauge      0..1 (1: recovered)
``goka_view_state``                       gauge      1 for the view's current ``state`` label
========================================  =========  ====================================

Counters restart from zero when a partition is assigned again (Prometheus ``rate()``
handles such resets).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from goka.runtime.progress import table_progress
from goka.web.monitor import at_least

__all__ = ["GokaCollector"]

log = logging.getLogger("goka.web.metrics")

def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it (``+Inf``, ``0.001``, ``1e-06``)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


_STATES = ("idle", "starting", "joining", "recovering", "running", "stopping", "stopped")


class GokaCollector(Collector):
    """Collects the metrics in the module docstring from ``processors`` and ``views``
    (lists read at every scrape, so attaching more later is fine).

    Parameters
    ----------
    processors : iterable of goka.Processor
        Processors whose ``stats()`` are exported.
    views : iterable of goka.View
        Views whose state is exported.
    """

    def __init__(self, processors: Iterable[Any] = (), views: Iterable[Any] = ()) -> None:
        self.processors = list(processors)
        self.views = list(views)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # the metric set depends on what is attached; skip registry checks

    def collect(self) -> Iterator[Metric]:
        g = self._families()
        for proc in list(self.processors):
            try:
                self._processor(g, proc)
            except Exception:
                log.exception("collecting metrics of %r failed", proc)
        for view in list(self.views):
            try:
                self._view(g, view)
            except Exception:
                log.exception("collecting metrics of %r failed", view)
        self._tables(g, table_progress(self.processors, self.views))
        yield from g.values()

    @staticmethod
    def _families() -> dict[str, Any]:
        pt = ["group", "topic", "partition"]
        tb = ["owner", "table", "partition"]
        return {
            "state": GaugeMetricFamily("goka_processor_state", "Processor state (1 for the current one)",
                                       labels=["group", "state"]),
            "parts": GaugeMetricFamily("goka_processor_partitions", "Partitions held, by role",
                                       labels=["group", "role"]),
            "consumed": CounterMetricFamily("goka_consumed_messages", "Input messages processed", labels=pt),
            "produced": CounterMetricFamily("goka_produced_messages",
                                            "Records produced (table, emits, loopback) by a partition",
                                            labels=pt),
            "skipped": CounterMetricFamily("goka_skipped_messages",
                                           "Input messages skipped by the error policy", labels=pt),
            "dead_lettered": CounterMetricFamily("goka_dead_lettered_messages",
                                                 "Input messages sent to a dead-letter topic", labels=pt),
            "lag": GaugeMetricFamily("goka_consumer_lag", "Input messages not yet processed", labels=pt),
            "offset": GaugeMetricFamily("goka_input_offset", "Offset of the last processed input message",
                                        labels=pt),
            "committed": GaugeMetricFamily("goka_committed_offset", "Last committed input offset", labels=pt),
            "hwm": GaugeMetricFamily("goka_input_high_watermark", "Input high watermark as last fetched",
                                     labels=pt),
            "timers": GaugeMetricFamily("goka_pending_timers", "Timers scheduled and not yet fired (goka.Timer)",
                                        labels=["group", "partition"]),
            "fired": CounterMetricFamily("goka_fired_timers", "Timers fired since the partition was assigned",
                                         labels=["group", "partition"]),
            "late": CounterMetricFamily("goka_late_messages", "Records late for a closed window (goka.Window), "
                                        "counted once per window edge", labels=["group", "partition"]),
            "open_windows": GaugeMetricFamily("goka_open_windows", "Windows not yet closed (goka.Window)",
                                              labels=["group", "partition"]),
            "stream_time": GaugeMetricFamily("goka_stream_time_seconds", "Largest record timestamp processed "
                                             "by a partition with windows (goka.Window)", labels=["group", "partition"]),
            "inflight": GaugeMetricFamily("goka_in_flight_messages",
                                          "Messages processed but not yet acknowledged",
                                          labels=["group", "partition"]),
            "latency": HistogramMetricFamily("goka_callback_latency_seconds", "Callback time per message",
                                             labels=["group"]),
            "t_offset": GaugeMetricFamily("goka_table_offset", "Last applied table offset", labels=tb),
            "t_hwm": GaugeMetricFamily("goka_table_high_watermark", "Table high watermark", labels=tb),
            "t_records": CounterMetricFamily("goka_table_records", "Table records applied since start",
                                             labels=tb),
            "t_progress": GaugeMetricFamily("goka_table_recovery_progress",
                                            "Table recovery progress, 0..1 (1: recovered)", labels=tb),
            "view_state": GaugeMetricFamily("goka_view_state", "View state (1 for the current one)",
                                            labels=["table", "state"]),
        }

    @staticmethod
    def _processor(g: dict[str, Any], proc: Any) -> None:
        stats = proc.stats()
        group = str(stats.get("group", getattr(proc, "group", "?")))
        current = str(stats.get("state", "idle"))
        for state in sorted({*_STATES, current}):
            g["state"].add_metric([group, state], 1.0 if state == current else 0.0)
        g["parts"].add_metric([group, "active"], len(stats.get("active", ())))
        g["parts"].add_metric([group, "standby"], len(stats.get("standby", ())))
        for p, entry in sorted(stats.get("partitions", {}).items()):
            part = str(p)
            for topic, count in sorted(entry.get("consumed", {}).items()):
                labels = [group, topic, part]
                g["consumed"].add_metric(labels, count)
                offset = entry.get("last_offset", {}).get(topic)
                values = {"lag": entry.get("lag", {}).get(topic), "offset": offset,
                          "committed": entry.get("committed", {}).get(topic),
                          "hwm": at_least(entry.get("hwm", {}).get(topic), offset)}
                for key, value in values.items():
                    if value is not None:
                        g[key].add_metric(labels, value)
            for topic, count in sorted(entry.get("produced", {}).items()):
                g["produced"].add_metric([group, topic, part], count)
            for name in ("skipped", "dead_lettered"):  # every input topic: 0 until a message is
                counts = entry.get(name, {})
                for topic in sorted({*entry.get("consumed", {}), *counts}):
                    g[name].add_metric([group, topic, part], counts.get(topic, 0))
            g["inflight"].add_metric([group, part], entry.get("in_flight", 0))
            timers = entry.get("timers")
            if timers is not None:
                g["timers"].add_metric([group, part], timers["pending"])
                g["fired"].add_metric([group, part], timers["fired"])
            windows = entry.get("windows")
            if windows is not None:
                g["late"].add_metric([group, part], windows["late"])
                g["open_windows"].add_metric([group, part], windows["open"])
                if windows["stream_time"] is not None:
                    g["stream_time"].add_metric([group, part], windows["stream_time"] / 1000.0)
        latency = stats.get("latency")
        if latency:
            buckets = [(_le(le), float(count)) for le, count in latency["buckets"]]
            g["latency"].add_metric([group], buckets, latency["sum"])

    @staticmethod
    def _view(g: dict[str, Any], view: Any) -> None:
        current = str(view.state)
        for state in ("idle", "recovering", "running", "stopped"):
            g["view_state"].add_metric([view.table, state], 1.0 if state == current else 0.0)

    @staticmethod
    def _tables(g: dict[str, Any], tables: Iterable[Any]) -> None:
        for t in tables:
            owner = t.owner.removeprefix("processor ")
            labels = [owner, t.topic, str(t.partition)]
            if t.offset is not None:
                g["t_offset"].add_metric(labels, t.offset)
            if t.hwm >= 0:
                g["t_hwm"].add_metric(labels, t.hwm)
            g["t_records"].add_metric(labels, t.records)
            g["t_progress"].add_metric(labels, t.fraction)
