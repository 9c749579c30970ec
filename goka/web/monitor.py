"""The monitor: processors and views with their state, partitions, offsets, lag and rates.

:func:`snapshot` turns ``Processor.stats()`` and the views' table partitions into plain
JSON (served at ``/api/stats``); the page polls it every second, derives input and
output rates from the counters and draws them as a live SVG chart.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from goka.runtime.progress import table_progress, view_tables
from goka.web.html import page

__all__ = ["at_least", "latency_summary", "monitor_page", "processor_snapshot", "snapshot", "view_snapshot"]


def _finite(value: Any) -> Any:
    """JSON-safe: infinities and NaN become strings (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "+Inf" if value > 0 else ("-Inf" if value < 0 else "NaN")
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def at_least(hwm: int | None, offset: int | None) -> int | None:
    """A high watermark as last reported, raised to ``offset + 1`` when that is higher:
    the runtime refreshes watermarks periodically, so a read offset can be ahead of it."""
    if offset is None or offset < 0:
        return hwm
    return offset + 1 if hwm is None or hwm < offset + 1 else hwm


def latency_summary(latency: dict[str, Any]) -> dict[str, Any]:
    """Mean and bucket upper bounds of the 50th/99th percentile of a latency snapshot."""
    count = int(latency.get("count", 0))
    out: dict[str, Any] = {"count": count, "mean": (latency.get("sum", 0.0) / count) if count else None}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        bound = None
        for le, cumulative in latency.get("buckets", ()):
            if count and cumulative >= q * count:
                bound = le
                break
        out[name] = bound
    return out


def processor_snapshot(name: str, proc: Any) -> dict[str, Any]:
    """One processor: state, partitions (one row per partition and input topic), totals."""
    stats = proc.stats()
    rows = []
    totals = {"consumed": 0, "produced": 0, "lag": 0, "skipped": 0, "dead_lettered": 0}
    for p, entry in sorted(stats.get("partitions", {}).items()):
        table = entry.get("table") or {}
        produced = sum(entry.get("produced", {}).values())
        totals["produced"] += produced
        for topic in sorted(entry.get("consumed", {})):
            consumed = entry["consumed"][topic]
            lag = entry.get("lag", {}).get(topic)
            totals["consumed"] += consumed
            totals["lag"] += lag or 0
            offset = entry.get("last_offset", {}).get(topic)
            skipped = entry.get("skipped", {}).get(topic, 0)
            dead_lettered = entry.get("dead_lettered", {}).get(topic, 0)
            totals["skipped"] += skipped
            totals["dead_lettered"] += dead_lettered
            rows.append({"partition": int(p), "topic": topic, "offset": offset,
                         "hwm": at_least(entry.get("hwm", {}).get(topic), offset), "lag": lag, "consumed": consumed,
                         "committed": entry.get("committed", {}).get(topic), "produced": produced,
                         "table_offset": table.get("offset"), "skipped": skipped,
                         "dead_lettered": dead_lettered})
    windows = [{"partition": int(p), "stream_time": w.get("stream_time"), "open": w.get("open", 0),
                "late": w.get("late", 0)}
               for p, entry in sorted(stats.get("partitions", {}).items())
               if (w := entry.get("windows")) is not None]
    return {"name": name, "group": stats.get("group", name), "state": stats.get("state", proc.state),
            "active": stats.get("active", []), "standby": stats.get("standby", []), "partitions": rows,
            "totals": totals, "latency": _finite(latency_summary(stats.get("latency", {}))),
            "lookups": stats.get("lookups", {}), "last_error": stats.get("last_error"),
            "tables": [{"topic": t.topic, "partition": t.partition, "state": t.state, "offset": t.offset,
                        "hwm": t.hwm, "records": t.records, "progress": t.fraction}
                       for t in table_progress([proc])],
            "windows": windows}


def view_snapshot(name: str, view: Any) -> dict[str, Any]:
    """One view: state and each table partition's offset, high watermark and progress."""
    parts = [{"partition": p.partition, "state": p.state, "offset": p.offset, "hwm": p.hwm,
              "records": p.records, "progress": p.fraction} for p in table_progress(views=[view])]
    return {"name": name, "table": getattr(view, "table", name), "state": view.state,
            "partitions": parts, "records": sum(p["records"] for p in parts),
            "recovered": bool(parts) and all(p["state"] == "running" for p in parts)}


def snapshot(processors: Iterable[tuple[str, Any]], views: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Everything the monitor page shows, as JSON-ready data."""
    data: dict[str, Any] = _finite({"time": time.time(),
                    "processors": [processor_snapshot(n, p) for n, p in processors],
                    "views": [view_snapshot(n, v) for n, v in views]})
    return data


_SCRIPT = """
const HISTORY = 90, hist = {};
function chart(samples) {
  const W = 600, H = 150, P = 4;
  samples = samples.filter(s => s.in !== null);
  const max = Math.max(1, ...samples.map(s => Math.max(s.in, s.out)));
  const x = i => P + (W - 2 * P) * i / (HISTORY - 1);
  const y = v => H - P - (H - 2 * P - 14) * v / max;
  const line = key => samples.map((s, i) => x(i + HISTORY - samples.length).toFixed(1) + ','
                                   + y(s[key]).toFixed(1)).join(' ');
  return '<div class="chartbox"><span class="ymax">' + rate(max) + ' msg/s</span>'
    + '<svg class="chart" viewBox="0 0 ' + W + ' ' + H + '" preserveAspectRatio="none">'
    + '<line x1="0" x2="' + W + '" y1="' + y(max) + '" y2="' + y(max) + '" stroke="#e3e6ee"/>'
    + '<polyline class="in" fill="none" stroke="#2f6fdf" stroke-width="2" vector-effect="non-scaling-stroke" '
    + 'points="' + line('in') + '"/><polyline class="out" fill="none" stroke="#1f9d55" stroke-width="2" '
    + 'stroke-dasharray="6 4" vector-effect="non-scaling-stroke" points="' + line('out') + '"/></svg></div>';
}
function kpi(field, value, label) {
  return '<div class="kpi"><div class="v" data-field="' + field + '">' + value + '</div><div class="l">'
    + label + '</div></div>';
}
function secs(s) { return s === null || s === undefined ? '–' : (typeof s === 'string' ? s
  : s < 1e-3 ? (s * 1e6).toFixed(1) + ' µs' : (s * 1e3).toFixed(2) + ' ms'); }
function processorCard(p, now) {
  const h = hist[p.name] = hist[p.name] || [];
  const prev = h.length ? h[h.length - 1] : null;
  let rin = null, rout = null;  // a rate needs two samples: none on the first render
  if (prev && now > prev.t) {
    rin = Math.max(0, (p.totals.consumed - prev.c) / (now - prev.t));
    rout = Math.max(0, (p.totals.produced - prev.p) / (now - prev.t));
  }
  h.push({t: now, c: p.totals.consumed, p: p.totals.produced, in: rin, out: rout});
  if (h.length > HISTORY) h.shift();
  const rows = p.partitions.map(r => '<tr data-partition="' + r.partition + '"><td>' + r.partition
    + '</td><td class="l">' + esc(r.topic) + '</td><td>' + num(r.offset) + '</td><td>' + num(r.hwm)
    + '</td><td data-field="lag">' + num(r.lag) + '</td><td data-field="consumed">' + num(r.consumed)
    + '</td><td>' + num(r.committed) + '</td><td>' + num(r.produced) + '</td><td>' + num(r.table_offset)
    + '</td><td data-field="skipped">' + num(r.skipped) + '</td><td data-field="dead-lettered">'
    + num(r.dead_lettered) + '</td></tr>').join('');
  return '<section class="card processor" id="processor-' + esc(p.name) + '" data-name="' + esc(p.name)
    + '"><div class="card-head"><h2>processor ' + esc(p.name) + '</h2>' + badge(p.state)
    + (p.last_error ? '<span class="muted" data-field="last-error">last error ' + esc(p.last_error.code)
      + ' ×' + p.last_error.count + ': ' + esc(p.last_error.message) + '</span>' : '')
    + '<span class="muted">active partitions <b data-field="active">' + (p.active.join(', ') || '–')
    + '</b> · standby ' + (p.standby.join(', ') || '–') + '</span></div><div class="kpis">'
    + kpi('consumed-total', num(p.totals.consumed), 'consumed') + kpi('produced-total', num(p.totals.produced),
      'produced') + kpi('lag-total', num(p.totals.lag), 'lag') + kpi('rate-in', rate(rin), 'in msg/s')
    + kpi('rate-out', rate(rout), 'out msg/s') + kpi('latency', secs(p.latency.mean), 'mean callback')
    + kpi('latency-p99', p.latency.p99 === null ? '–' : '≤ ' + secs(p.latency.p99), 'p99 callback')
    + kpi('skipped-total', num(p.totals.skipped), 'skipped')
    + kpi('dead-lettered-total', num(p.totals.dead_lettered), 'dead-lettered')
    + '</div>' + chart(h) + '<div class="legend"><span><i style="background:#2f6fdf"></i>input msg/s</span>'
    + '<span><i style="background:#1f9d55"></i>output msg/s</span></div>'
    + '<table><thead><tr><th>partition</th><th class="l">input topic</th><th>offset</th><th>high watermark</th>'
    + '<th>lag</th><th>consumed</th><th>committed</th><th>produced</th><th>table offset</th>'
    + '<th>skipped</th><th>dead-lettered</th>'
    + '</tr></thead><tbody>' + (rows || '<tr><td colspan="11" class="muted">'
    + 'no partitions assigned</td></tr>') + '</tbody></table>' + windowTable(p.windows || []) + '</section>';
}
function windowTable(ws) {  // windowed tables (goka.Window): stream time, open windows, late records
  if (!ws.length) return '';
  return '<table class="windows"><thead><tr><th>partition</th><th class="l">stream time</th><th>open windows</th>'
    + '<th>late records</th></tr></thead><tbody>' + ws.map(w => '<tr data-partition="' + w.partition
    + '"><td>' + w.partition + '</td><td class="l" data-field="stream-time">'
    + (w.stream_time === null ? '–' : esc(new Date(w.stream_time).toISOString())) + '</td><td data-field="open-windows">'
    + num(w.open) + '</td><td data-field="late">' + num(w.late) + '</td></tr>').join('') + '</tbody></table>';
}
function viewCard(v) {
  const rows = v.partitions.map(r => '<tr data-partition="' + r.partition + '"><td>' + r.partition
    + '</td><td class="l">' + badge(r.state) + '</td><td>' + num(r.offset) + '</td><td>' + num(r.hwm)
    + '</td><td data-field="records">' + num(r.records) + '</td><td><span class="bar"><span style="width:'
    + Math.round(100 * r.progress) + '%"></span></span> ' + Math.round(100 * r.progress) + '%</td></tr>').join('');
  return '<section class="card view" id="view-' + esc(v.name) + '" data-name="' + esc(v.name)
    + '"><div class="card-head"><h2>view ' + esc(v.table) + '</h2>' + badge(v.state)
    + '</div><div class="kpis">' + kpi('records-total', num(v.records), 'records applied')
    + kpi('partitions', v.partitions.length, 'partitions') + '</div><table><thead><tr><th>partition</th>'
    + '<th class="l">state</th><th>table offset</th><th>high watermark</th><th>records</th>'
    + '<th>recovery</th></tr></thead><tbody>' + rows + '</tbody></table></section>';
}
async function tick() {
  try {
    const d = await (await fetch('/api/stats', {cache: 'no-store'})).json();
    const html = d.processors.map(p => processorCard(p, d.time)).join('') + d.views.map(viewCard).join('');
    document.getElementById('components').innerHTML = html
      || '<p class="muted">nothing attached: pass processors=[...] or views=[...] to goka.web.serve()</p>';
    document.getElementById('updated').textContent = new Date(d.time * 1000).toLocaleTimeString();
  } catch (e) {
    document.getElementById('updated').textContent = 'unreachable: ' + e;
  }
  setTimeout(tick, 1000);
}
tick();
"""


def monitor_page() -> bytes:
    body = ('<h1>Monitor <span class="muted" style="font-size:13px;font-weight:400">updated '
            '<span id="updated">…</span></span></h1><div id="components"></div>')
    return page("Monitor", "monitor", body, _SCRIPT)
