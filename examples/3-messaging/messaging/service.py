"""The HTTP service: ``POST /<user>/send`` emits a message from ``user``; ``GET
/<user>/feed`` shows the last messages ``user`` received, read from a view of the
collector's table.

Without the filter, the service emits straight to ``message_received`` (keyed by the
receiver); with ``sent=True`` it emits to ``message_sent`` (keyed by the sender), which the
filter and the detector consume.
"""
from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import msgspec

import goka
from messaging import MESSAGE_CODEC, MESSAGE_LIST_CODEC, RECEIVED_STREAM, SENT_STREAM, Message, collector

__all__ = ["Service"]

log = logging.getLogger("example.messaging.service")


class Service:
    """The send and feed endpoints on ``port`` (0: any free port); a context manager."""

    def __init__(self, brokers: Any, *, sent: bool, port: int = 8080, path: str | None = None) -> None:
        self.stream = SENT_STREAM if sent else RECEIVED_STREAM
        self.view = goka.View(brokers, collector.TABLE, MESSAGE_LIST_CODEC, path=path)
        # each request waits for its message's acknowledgement: don't linger for a batch
        self.emitter = goka.Emitter(brokers, self.stream, MESSAGE_CODEC, producer_config={"linger.ms": 0})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="service", daemon=True)

    def __enter__(self) -> Service:
        self.view.start()
        if not self.view.wait_recovered(60):  # until then its reads raise NotRecoveredError
            self.view.stop()
            self.server.server_close()
            self.emitter.finish()
            raise TimeoutError(f"the view of {self.view.table!r} did not recover within 60 s")
        self._thread.start()
        log.info("Listen port %d", self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.emitter.finish()
        self.view.stop()

    def send(self, user: str, body: bytes) -> str:
        m = msgspec.json.decode(body, type=Message)
        m.From = user
        self.emitter.emit_sync(m.To if self.stream == RECEIVED_STREAM else m.From, m)
        log.debug("Sent message: %s", m)
        return f"Sent message:\n {m}\n"

    def feed(self, user: str) -> str:
        messages: list[Message] | None = self.view.get(user)
        if messages is None:
            return f"{user} not found!"
        lines = [f"Latest messages for {user}"]
        lines += [f"{i} {m.From:>10}: {m.Content}" for i, m in enumerate(messages)]
        return "\n".join(lines) + "\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _route(self, method: str) -> None:
                parts = unquote(self.path).strip("/").split("/")
                try:
                    if method == "POST" and len(parts) == 2 and parts[1] == "send":
                        length = int(self.headers.get("Content-Length", 0))
                        text, status = service.send(parts[0], self.rfile.read(length)), 200
                    elif method == "GET" and len(parts) == 2 and parts[1] == "feed":
                        text, status = service.feed(parts[0]), 200
                    else:
                        text, status = "not found\n", 404
                except Exception as exc:  # a bad request body, a failed emit
                    text, status = f"error: {exc}\n", 400
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http: " + format, *args)

        return Handler
