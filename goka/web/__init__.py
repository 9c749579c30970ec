"""Web pages for running processors and views (after Go Goka's ``web`` packages).

``goka.web.serve(port, processors=[...], views=[...], actions=[...])`` starts one HTTP
server in a background thread with:

- **monitor** (``/monitor``): each processor's state, active/standby partitions and per
  partition input offset, high watermark, lag, consumed/committed/produced counts and
  table offset; input/output rates and a live chart; each view's partitions with
  offset, high watermark and recovery progress;
- **query** (``/query``): look a key up in a processor's table or a view;
- **actions** (``/actions``): start and stop named :class:`Action` objects, e.g.
  :func:`visitor_actions` (``Processor.visit_all``);
- **metrics** (``/metrics``): Prometheus text format, metric names prefixed ``goka_``
  (:class:`GokaCollector`, usable with any ``prometheus_client`` registry).

It binds 127.0.0.1 by default (pass ``host="0.0.0.0"`` to expose it) and has no
authentication: actions change state, so keep it behind your own access control.
"""
from __future__ import annotations

from goka.web.actions import Action, visitor_actions
from goka.web.metrics import GokaCollector
from goka.web.server import WebServer, serve

__all__ = ["Action", "GokaCollector", "WebServer", "serve", "visitor_actions"]
