"""Named actions an operator starts and stops from the web (Go Goka's ``web/actions``).

An :class:`Action` wraps ``func(value, stop)``: ``value`` is the text typed on the page,
``stop`` a :class:`threading.Event` set when the operator presses *Stop* (or starts the
action again); a long-running action should return soon after it is set. Each run
happens in its own thread; the page shows state, start and finish times, and the result
or error of the last run. :func:`visitor_actions` turns a processor's visitors into
actions (``Processor.visit_all``)::

    goka.web.serve(9095, processors=[proc],
                   actions=[Action("reindex", reindex, "rebuild the search index"),
                            *visitor_actions(proc)])
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from goka.web.html import escape, page

__all__ = ["Action", "ActionBusyError", "actions_page", "parse_value", "visitor_actions"]

log = logging.getLogger("goka.web.actions")

#: how long ``start`` waits for a previous run to honour its stop request
RESTART_WAIT = 5.0


class ActionBusyError(RuntimeError):
    """The previous run did not stop within :data:`RESTART_WAIT` seconds."""


class Action:
    """A named, restartable piece of work, started and stopped from the actions page.

    Each :meth:`start` runs ``func(value, stop)`` in a new thread; the page shows the
    state (``idle``, ``running``, ``stopping``, ``finished``, ``stopped``, ``failed``),
    start and finish times, and the result or error of the last run::

        def reindex(value: str, stop: threading.Event) -> str:
            for n, key in enumerate(keys(value)):
                if stop.is_set():
                    return f"stopped after {n} keys"
                index(key)
            return "done"

        goka.web.serve(9095, actions=[goka.web.Action("reindex", reindex, "rebuild the index")])

    Parameters
    ----------
    name : str
        Shown on the page and used in its URLs (non-empty, no ``/``).
    func : callable
        ``func(value, stop) -> result``: ``value`` is the text typed on the page (``str``,
        ``""`` if none), ``stop`` a :class:`threading.Event` set when the operator
        presses *Stop* or starts the action again -- a long-running ``func`` should check
        it and return soon after it is set. The result (``str()`` of it, unless
        ``None``) is shown on the page; an exception marks the run ``failed`` with its
        message.
    description : str
        A line shown next to the name.
    """

    def __init__(self, name: str, func: Callable[[str, threading.Event], Any], description: str = "") -> None:
        if not name or "/" in name:
            raise ValueError(f"action name must be non-empty without '/', got {name!r}")
        self.name = name
        self.func = func
        self.description = description
        self.state = "idle"  # idle, running, stopping, finished, stopped, failed
        self.value: str | None = None
        self.started: float | None = None
        self.finished: float | None = None
        self.result: str | None = None
        self.error: str | None = None
        self.runs = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a run's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, value: str = "") -> None:
        """Run with ``value`` in a new thread; a running instance is stopped first.

        Parameters
        ----------
        value : str
            Passed to ``func`` as ``value``.
        """
        with self._lock:
            previous = self._thread
            if previous is not None and previous.is_alive():
                self._stop.set()
                previous.join(RESTART_WAIT)
                if previous.is_alive():
                    raise ActionBusyError(f"action {self.name!r} is still stopping; try again later")
            self._stop = threading.Event()
            self.state, self.value, self.result, self.error = "running", value, None, None
            self.started, self.finished = time.time(), None
            self.runs += 1
            self._thread = threading.Thread(target=self._run, args=(value, self._stop),
                                            name=f"goka-action-{self.name}", daemon=True)
            self._thread.start()
        log.info("action %s started (value %r)", self.name, value)

    def stop(self) -> None:
        """Ask the running instance to stop (returns at once)."""
        if self.running:
            self._stop.set()
            self.state = "stopping"
            log.info("action %s: stop requested", self.name)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run to end; ``False`` on timeout.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most; ``None`` waits until it ends.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, value: str, stop: threading.Event) -> None:
        try:
            result = self.func(value, stop)
        except Exception as exc:
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("action %s failed: %s", self.name, self.error)
        else:
            self.state = "stopped" if stop.is_set() else "finished"
            self.result = None if result is None else str(result)
            log.info("action %s %s: %s", self.name, self.state, self.result)
        finally:
            self.finished = time.time()

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "state": self.state,
                "value": self.value, "started": self.started, "finished": self.finished,
                "result": self.result, "error": self.error, "runs": self.runs}

    def __repr__(self) -> str:
        return f"<goka.web.Action {self.name!r} {self.state}>"


def parse_value(text: str) -> Any:
    """A form value as JSON when it parses (``42``, ``{"a": 1}``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def visitor_actions(processor: Any, parse: Callable[[str], Any] = parse_value) -> list[Action]:
    """One action ``visit-<name>`` per visitor of ``processor``'s group: runs
    ``processor.visit_all(name, parse(value))`` and reports how many keys it visited.

    Parameters
    ----------
    processor : goka.Processor
        A processor whose group has :class:`goka.Visitor` edges.
    parse : callable
        ``parse(text) -> value``: turns the text typed on the page into the visitor's
        value (default: JSON when it parses, else the text).
    """
    actions = []
    for name in getattr(processor.graph, "visitors", {}):
        def run(value: str, stop: threading.Event, visitor: str = name) -> str:
            # visit_all cannot be interrupted: a stop request takes effect when it returns
            return f"visited {processor.visit_all(visitor, parse(value))} keys"

        actions.append(Action(f"visit-{name}", run,
                              f"run visitor {name!r} of group {processor.group!r} over every held key"))
    return actions


def _when(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "–"


_SCRIPT = """
async function refresh() {
  try {
    const list = await (await fetch('/api/actions', {cache: 'no-store'})).json();
    for (const a of list) {
      const row = document.querySelector('tr[data-action="' + CSS.escape(a.name) + '"]');
      if (!row) continue;
      row.querySelector('[data-field=state]').innerHTML = badge(a.state);
      row.querySelector('[data-field=result]').textContent = a.error || a.result || '';
      row.querySelector('[data-field=runs]').textContent = a.runs;
    }
  } catch (e) {}
  setTimeout(refresh, 1000);
}
setTimeout(refresh, 1000);
"""


def actions_page(actions: Iterable[Action], message: str = "") -> bytes:
    rows = []
    for a in actions:
        name = escape(a.name)
        rows.append(
            f'<tr data-action="{name}"><td class="l"><b>{name}</b><div class="muted">{escape(a.description)}</div>'
            f'</td><td class="l" data-field="state"><span class="badge {escape(a.state)}">{escape(a.state)}</span>'
            f'</td><td data-field="runs">{a.runs}</td><td>{_when(a.started)}</td><td>{_when(a.finished)}</td>'
            f'<td class="l" data-field="result">{escape(a.error or a.result or "")}</td><td class="l">'
            f'<form class="inline" method="post" action="/actions/{name}/start">'
            f'<input name="value" placeholder="value" size="14" value="{escape(a.value or "")}">'
            f'<button type="submit" class="start">Start</button>'
            f'<button type="submit" class="secondary stop" formaction="/actions/{name}/stop">Stop</button>'
            f'</form></td></tr>')
    table = ('<table><thead><tr><th class="l">action</th><th class="l">state</th><th>runs</th><th>started</th>'
             '<th>finished</th><th class="l">result</th><th class="l"></th></tr></thead><tbody>'
             + ("".join(rows) or '<tr><td colspan="7" class="muted">no actions attached</td></tr>')
             + "</tbody></table>")
    note = f'<p class="warn" id="message">{escape(message)}</p>' if message else ""
    return page("Actions", "actions", f'<h1>Actions</h1>{note}<section class="card">{table}</section>', _SCRIPT)
