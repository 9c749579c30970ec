"""The page frame shared by goka's web pages: style sheet, navigation, escaping.

Everything is inline (no CDN, no static files): a page is one HTML document plus the
JSON endpoints its script polls.
"""
from __future__ import annotations

from html import escape

__all__ = ["STYLE", "COMMON_JS", "page", "escape"]

STYLE = """
:root { --ink:#1d2330; --muted:#6b7385; --line:#e3e6ee; --bg:#f4f6fa; --card:#fff;
        --accent:#2f6fdf; --ok:#1f9d55; --warn:#c98a00; --bad:#d23c3c; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:0 24px; display:flex; align-items:center; gap:28px;
         height:52px; }
header .brand { font-weight:700; font-size:18px; letter-spacing:.5px; }
header .brand small { font-weight:400; color:#9aa3b8; margin-left:6px; font-size:12px; }
header nav a { color:#c9d2e6; text-decoration:none; margin-right:18px; padding:15px 0; }
header nav a.active, header nav a:hover { color:#fff; border-bottom:2px solid var(--accent); }
main { padding:20px 24px; max-width:1280px; }
h1 { font-size:20px; margin:0 0 14px; }
h2 { font-size:16px; margin:0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px 18px;
        margin-bottom:18px; box-shadow:0 1px 2px rgba(20,30,60,.04); }
.card-head { display:flex; align-items:center; gap:12px; margin-bottom:12px; flex-wrap:wrap; }
.badge { display:inline-block; padding:1px 9px; border-radius:10px; font-size:12px; font-weight:600;
         background:#e8ebf2; color:var(--muted); }
.badge.running, .badge.finished, .badge.recovered { background:#e2f5ea; color:var(--ok); }
.badge.recovering, .badge.starting, .badge.stopping { background:#fff3d6; color:var(--warn); }
.badge.failed { background:#fde4e4; color:var(--bad); }
.kpis { display:flex; gap:26px; flex-wrap:wrap; margin:4px 0 12px; }
.kpi .v { font-size:20px; font-weight:600; font-variant-numeric:tabular-nums; }
.kpi .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:right; padding:5px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; font-size:12px; }
th:first-child, td:first-child, td.l, th.l { text-align:left; }
.muted { color:var(--muted); }
.bar { background:#e8ebf2; border-radius:4px; height:8px; width:120px; display:inline-block; }
.bar span { display:block; height:8px; border-radius:4px; background:var(--accent); }
.chartbox { position:relative; }
.chartbox .ymax { position:absolute; left:8px; top:3px; font-size:11px; color:var(--muted); }
svg.chart { display:block; width:100%; height:150px; background:#fafbfd; border:1px solid var(--line);
            border-radius:6px; }
.legend span { margin-right:16px; font-size:12px; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; }
form.inline { display:flex; gap:8px; align-items:center; flex-wrap:wrap; }
input, select, button { font:inherit; padding:5px 9px; border:1px solid #cfd5e2; border-radius:5px; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--ink); border-color:#cfd5e2; }
pre { background:#fafbfd; border:1px solid var(--line); border-radius:6px; padding:10px; overflow:auto; }
.warn { color:var(--warn); } .error { color:var(--bad); }
"""

#: helpers the page scripts share
COMMON_JS = """
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;',
  '"':'&quot;',"'":'&#39;'}[c])); }
function num(n) { return (n === null || n === undefined || n < 0) ? '–' : Number(n).toLocaleString('en'); }
function rate(r) { return r === null || r === undefined ? '–'
  : r >= 100 ? Math.round(r).toLocaleString('en') : r.toFixed(1); }
function badge(s) { return '<span class="badge ' + esc(s) + '">' + esc(s) + '</span>'; }
"""

_NAV = (("monitor", "/monitor", "Monitor"), ("query", "/query", "Query"),
        ("actions", "/actions", "Actions"), ("metrics", "/metrics", "Metrics"))


def page(title: str, active: str, body: str, script: str = "") -> bytes:
    """A complete HTML document: header with navigation, ``body`` (trusted HTML), ``script``."""
    nav = "".join(f'<a href="{href}" class="{"active" if key == active else ""}">{label}</a>'
                  for key, href, label in _NAV)
    js = f"<script>{COMMON_JS}{script}</script>" if script else ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<link rel=icon href='data:,'>"  # no favicon request (a 404 in the console)
            f"<title>{escape(title)} · goka</title><style>{STYLE}</style></head>"
            f"<body><header><div class=brand>goka<small>for Python</small></div><nav>{nav}</nav></header>"
            f"<main>{body}</main>{js}</body></html>").encode()
