"""The web server: monitor, query, actions and metrics for attached processors and views.

A standard-library ``ThreadingHTTPServer`` in a daemon thread; nothing to install but
``prometheus_client``. Routes:

=============================  ==========================================================
``/`` , ``/monitor``           monitor page (polls ``/api/stats`` every second)
``/api/stats``                 JSON snapshot of every processor and view
``/query?source=S&key=K``      query page; ``/api/query?source=S&key=K`` as JSON
``/actions``                   actions page; ``POST /actions/NAME/start`` (form ``value``),
                               ``POST /actions/NAME/stop``; ``/api/actions`` as JSON
``/metrics``                   Prometheus text format (:mod:`goka.web.metrics`)
=============================  ==========================================================
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from goka.web.actions import Action, ActionBusyError, actions_page
from goka.web.metrics import GokaCollector
from goka.web.monitor import monitor_page, snapshot
from goka.web.query import Locator, lookup, query_page, window_sources

__all__ = ["WebServer", "serve"]

log = logging.getLogger("goka.web")

MAX_BODY = 64 * 1024


class WebServer:
    """Serves the pages of ``processors``, ``views`` and ``actions`` on ``host:port``
    (``port=0``: any free port; see :attr:`url`). Attach more at any time.

    Parameters
    ----------
    port : int
        TCP port; ``0`` (default) picks a free one (see ``url``).
    host : str
        Interface to listen on (default ``127.0.0.1``, this machine only).
    processors : iterable of goka.Processor
        Processors shown on the monitor, query and metrics pages.
    views : iterable of goka.View
        Views shown on the monitor, query and metrics pages.
    actions : iterable of goka.web.Action
        Actions offered on the actions page.

    Set :attr:`locate` to ``locate(group, partition) -> url or None`` to have the query
    page name the instance holding a key's partition when this one does not (``goka
    run --web`` sets it to find its sibling workers).
    """

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", processors: Iterable[Any] = (),
                 views: Iterable[Any] = (), actions: Iterable[Action] = ()) -> None:
        self.host = host
        self.requested_port = port
        self.processors: dict[str, Any] = {}
        self.views: dict[str, Any] = {}
        self.actions: dict[str, Action] = {}
        self.locate: Locator | None = None
        self.collector = GokaCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        for proc in processors:
            self.attach_processor(proc)
        for view in views:
            self.attach_view(view)
        for action in actions:
            self.attach_action(action)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- attaching -------------------------------------------------------------------
    @staticmethod
    def _unique(name: str, taken: dict[str, Any]) -> str:
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}#{n}", n + 1
        return candidate

    def attach_processor(self, processor: Any, name: str | None = None) -> str:
        """Show ``processor`` (named after its group unless ``name``); returns the name.

        Parameters
        ----------
        processor : goka.Processor
            The processor.
        name : str, optional
            Its name on the pages (default its group; ``#2``, ... appended when taken).
        """
        name = self._unique(name or processor.group, self.processors)
        self.processors[name] = processor
        self.collector.processors.append(processor)
        return name

    def attach_view(self, view: Any, name: str | None = None) -> str:
        """Show ``view`` (named after its table unless ``name``); returns the name.

        Parameters
        ----------
        view : goka.View
            The view.
        name : str, optional
            Its name on the pages (default its table; ``#2``, ... appended when taken).
        """
        name = self._unique(name or view.table, self.views)
        self.views[name] = view
        self.collector.views.append(view)
        return name

    def attach_action(self, action: Action) -> None:
        """Offer ``action`` on the actions page (``ValueError`` if the name is taken).

        Parameters
        ----------
        action : goka.web.Action
            The action.
        """
        if action.name in self.actions:
            raise ValueError(f"an action named {action.name!r} is already attached")
        self.actions[action.name] = action

    def sources(self) -> dict[str, Any]:
        """Query sources: processors with a table (by group), their window tables (by
        topic, ``<group>-<window name>``), then views (by table)."""
        out = {name: p for name, p in self.processors.items()
               if getattr(getattr(p, "graph", None), "persist", None) is not None}
        for p in self.processors.values():
            for windows in window_sources(p):
                out[self._unique(windows.table, out)] = windows
        for name, view in self.views.items():
            out[self._unique(name, out)] = view
        return out

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> WebServer:
        if self._httpd is not None:
            return self
        handler = type("GokaHandler", (_Handler,), {"app": self})
        httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"goka-web-{self.port}", daemon=True)
        self._thread.start()
        log.info("goka web: %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (running actions are asked to stop)."""
        httpd, self._httpd = self._httpd, None
        for action in self.actions.values():
            action.stop()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self.requested_port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<goka.web.WebServer {self.url if self._httpd else 'stopped'}>"


def serve(port: int = 0, *, host: str = "127.0.0.1", processors: Iterable[Any] = (),
          views: Iterable[Any] = (), actions: Iterable[Action] = ()) -> WebServer:
    """Start a :class:`WebServer` for these processors, views and actions; returns it
    running (``.url``, ``.stop()``).

    Parameters
    ----------
    port : int
        TCP port; ``0`` (default) picks a free one (see ``url``).
    host : str
        Interface to listen on (default ``127.0.0.1``, this machine only).
    processors : iterable of goka.Processor
        Processors shown on the monitor, query and metrics pages.
    views : iterable of goka.View
        Views shown on the monitor, query and metrics pages.
    actions : iterable of goka.web.Action
        Actions offered on the actions page.
    """
    return WebServer(port, host=host, processors=processors, views=views, actions=actions).start()


class _Handler(BaseHTTPRequestHandler):
    app: WebServer
    server_version = "goka-web"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _redirect(self, location: str) -> None:
        self._send(HTTPStatus.SEE_OTHER, b"", headers={"Location": location})

    def _dispatch(self, routes: dict[str, Callable[[dict[str, str]], None]]) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            route = routes.get(url.path.rstrip("/") or "/")
            if route is not None:
                route(params)
            elif self.command == "POST" and url.path.startswith("/actions/"):
                self._action(url.path)
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.exception("goka web: %s %s failed", self.command, self.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}".encode(), "text/plain")

    def do_GET(self) -> None:
        app = self.app
        self._dispatch({
            "/": lambda q: self._redirect("/monitor"),
            "/monitor": lambda q: self._send(200, monitor_page()),
            "/api/stats": lambda q: self._json(snapshot(list(app.processors.items()), list(app.views.items()))),
            "/query": lambda q: self._send(200, query_page(app.sources(), q.get("source"), q.get("key"), app.locate)),
            "/api/query": lambda q: self._json(lookup(app.sources(), q.get("source", ""), q.get("key", ""), app.locate)),
            "/actions": lambda q: self._send(200, actions_page(app.actions.values())),
            "/api/actions": lambda q: self._json([a.status() for a in app.actions.values()]),
            "/metrics": lambda q: self._send(200, generate_latest(app.registry), CONTENT_TYPE_LATEST),
        })

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self._dispatch({})

    def _action(self, path: str) -> None:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[2] not in ("start", "stop"):
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            return
        name, verb = unquote(parts[1]), parts[2]
        action = self.app.actions.get(name)
        if action is None:
            self._send(HTTPStatus.NOT_FOUND, f"no action {name!r}".encode(), "text/plain")
            return
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
        if verb == "stop":
            action.stop()
        else:
            try:
                action.start(form.get("value", [""])[-1])
            except ActionBusyError as exc:
                self._send(HTTPStatus.CONFLICT, actions_page(self.app.actions.values(), str(exc)))
                return
        self._redirect("/actions")
