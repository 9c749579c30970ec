"""The query page: look a key up in an attached processor's table or a view.

Sources are named after the processor's group or the view's table. Values are shown as
indented JSON (Go Goka's default humanizer); a key in a partition this instance does not
hold is reported as such, not as missing. A windowed view (``goka.View(..., window=spec)``)
and a processor's window table (:class:`ProcessorWindows`, a source named
``<group>-<window name>``) show the key's windows, oldest first: start, end and value of each.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from goka.errors import GokaError
from goka.web.html import escape, page

__all__ = ["humanize", "lookup", "query_page", "ProcessorWindows"]


def humanize(value: Any) -> str:
    """Indented JSON of a decoded table value (msgspec structs included), else ``repr``."""
    try:
        import msgspec

        return json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False)
    except Exception:
        return repr(value)


class ProcessorWindows:
    """A query source for one window edge of a processor: the windows of a key in the
    processor's local window storage (the partitions it holds, as for its group table).

    Parameters
    ----------
    processor : goka.Processor
        A processor on Kafka whose group has the window edge.
    edge : goka.Window
        The window edge.
    """

    def __init__(self, processor: Any, edge: Any) -> None:
        self.processor = processor
        self.group = processor.group
        self.edge = edge
        self.table = edge.topic_of(processor.group)
        self.window_spec = edge.spec

    def windows(self, key: str) -> list[tuple[Any, Any]]:
        """``(goka.TimeWindow, value)`` of every window of ``key``, oldest first.

        Parameters
        ----------
        key : str
            The message key.
        """
        from goka.errors import PartitionNotHeldError
        from goka.hash import goka as goka_hash
        from goka.runtime.window_view import scan_windows

        backend = self.processor._backend
        kbytes = key.encode("utf-8", "surrogateescape")
        partition = goka_hash(kbytes, backend.num_partitions)
        table = backend._tables.get((self.table, partition))
        held = partition in backend.partitions or (self.processor.hot_standby and table is not None
                                                   and table.state == "running")
        if table is None or not held:
            exc = PartitionNotHeldError(f"group {self.group!r}: key {key!r} is in partition {partition}, "
                                        f"which this instance does not hold")
            exc.partition = partition  # type: ignore[attr-defined]  # for the page's hint (Locator)
            raise exc
        found = sorted(scan_windows(table.storage, kbytes), key=lambda wd: (wd[0].start_ms, wd[0].end_ms))
        return [(w, self.edge.codec.decode(data)) for w, data in found]


def window_sources(processor: Any) -> list[ProcessorWindows]:
    """The query sources of ``processor``'s window edges (none for a processor not on Kafka)."""
    graph = getattr(processor, "graph", None)
    if graph is None or not getattr(graph, "windows", None):
        return []
    if getattr(getattr(processor, "_backend", None), "_tables", None) is None:
        return []
    return [ProcessorWindows(processor, edge) for edge in graph.windows.values()]


def _windows(source: Any, key: str) -> list[dict[str, Any]] | None:
    """The windows of ``key`` when ``source`` reads a window table, else ``None``."""
    if getattr(source, "window_spec", None) is None:
        return None
    return [{"start": w.start.isoformat(), "end": w.end.isoformat(), "start_ms": w.start_ms,
             "end_ms": w.end_ms, "value": humanize(v)} for w, v in source.windows(key)]


def _read(source: Any, key: str) -> Any:
    """``source.get(key)``; for a Kafka processor, read its table's storage instead.

    Workaround: ``Processor.get`` fills the processing thread's table cache from the
    calling thread, which can race a callback's write. Storage alone (LMDB, safe for
    concurrent readers) gives the last acknowledged value. Drop this once the runtime
    offers a thread-safe read.
    """
    backend = getattr(source, "_backend", None)
    tables = getattr(backend, "_tables", None)
    persist = getattr(getattr(source, "graph", None), "persist", None)
    if backend is None or tables is None or persist is None:
        return source.get(key)
    from goka.errors import PartitionNotHeldError
    from goka.hash import goka as goka_hash

    kbytes = key.encode("utf-8", "surrogateescape")
    partition = goka_hash(kbytes, backend.num_partitions)
    table = tables.get((source.graph.table_topic, partition))
    held = partition in backend.partitions or (source.hot_standby and table is not None and table.state == "running")
    if table is None or not held:
        exc = PartitionNotHeldError(f"group {source.group!r}: key {key!r} is in partition {partition}, "
                                    f"which this instance does not hold")
        exc.partition = partition  # type: ignore[attr-defined]  # for the page's hint (Locator)
        raise exc
    data = table.storage.get(kbytes)
    return None if data is None else persist.codec.decode(data)


#: ``locate(group, partition) -> url or None``: the base URL of the pages of the instance
#: holding ``partition`` of ``group`` (e.g. another worker of the same ``goka run``)
Locator = Callable[[str, int], "str | None"]


def lookup(sources: Mapping[str, Any], source: str, key: str, locate: Locator | None = None) -> dict[str, Any]:
    """``{"source", "key", "found", "value", "error", "held_by"}`` for ``key`` in source
    ``source`` (anything with ``get(key)``: a processor or a view); ``held_by`` is the
    query URL of the instance holding the key's partition when this one does not and
    ``locate`` knows it. For a windowed view, ``"windows"`` lists the key's windows
    (``start``, ``end`` as ISO 8601 UTC, ``start_ms``, ``end_ms``, ``value``), oldest first,
    and ``value`` stays ``None``."""
    result: dict[str, Any] = {"source": source, "key": key, "found": False, "value": None, "error": None,
                              "held_by": None}
    getter = sources.get(source)
    if getter is None:
        result["error"] = f"no source {source!r}; sources: {', '.join(sources) or 'none'}"
        return result
    try:
        windows = _windows(getter, key)
        if windows is not None:
            result["windows"] = windows
            result["found"] = bool(windows)
            return result
        value = _read(getter, key)
    except GokaError as exc:  # e.g. PartitionNotHeldError, NotRecoveredError
        result["error"] = f"{type(exc).__name__}: {exc}"
        partition = getattr(exc, "partition", None)
        if locate is not None and partition is not None:
            try:
                url = locate(getter.group, partition)
            except Exception:  # a hint only
                url = None
            if url:
                result["held_by"] = f"{url.rstrip('/')}/query?source={quote(source)}&key={quote(key)}"
                result["error"] += f"; it is held by {url}"
        return result
    except Exception as exc:  # e.g. storage closed by a concurrent stop, a decode failure
        result["error"] = f"{type(exc).__name__}: {exc}"
        return result
    if value is not None:
        result["found"] = True
        result["value"] = humanize(value)
    return result


def query_page(sources: Mapping[str, Any], source: str | None, key: str | None,
               locate: Locator | None = None) -> bytes:
    """The form, and the result of looking ``key`` up when one is given."""
    if source is None and sources:
        source = next(iter(sources))
    options = "".join(f'<option value="{escape(name)}"{" selected" if name == source else ""}>'
                      f'{escape(name)}</option>' for name in sources)
    form = ('<section class="card"><form class="inline" method="get" action="/query">'
            f'<label>source <select name="source" id="source">{options}</select></label>'
            f'<label>key <input name="key" id="key" size="40" value="{escape(key or "")}" autofocus></label>'
            '<button type="submit" id="lookup">Look up</button></form></section>')
    result = ""
    if key is not None and source is not None:
        found = lookup(sources, source, key, locate)
        link = f"/api/query?source={quote(source)}&key={quote(key)}"
        head = (f'<div class="card-head"><h2>{escape(source)} / {escape(key)}</h2>'
                f'<a class="muted" href="{escape(link)}">json</a></div>')
        if found["error"]:
            body = f'<p class="error" id="error">{escape(found["error"])}</p>'
            if found["held_by"]:
                body += (f'<p id="held-by">look it up there: <a href="{escape(found["held_by"])}">'
                         f'{escape(found["held_by"])}</a></p>')
        elif found["found"] and "windows" in found:
            rows = "".join(f'<tr class="window"><td class="l">{escape(w["start"])}</td>'
                           f'<td class="l">{escape(w["end"])}</td><td class="l"><pre>{escape(w["value"])}</pre></td></tr>'
                           for w in found["windows"])
            body = ('<table id="windows"><thead><tr><th class="l">start</th><th class="l">end</th>'
                    f'<th class="l">value</th></tr></thead><tbody>{rows}</tbody></table>')
        elif found["found"]:
            body = f'<pre id="result">{escape(found["value"])}</pre>'
        else:
            what = "has no windows" if "windows" in found else "not found"
            body = f'<p class="warn" id="not-found">key {escape(key)!s} {what} in {escape(source)}</p>'
        result = f'<section class="card">{head}{body}</section>'
    elif not sources:
        result = '<p class="muted">no sources: attach processors with a table, or views</p>'
    return page("Query", "query", f"<h1>Query</h1>{form}{result}")
