"""2-clicks: an emitter sends user clicks, a processor counts them per user in a
JSON-encoded group table, and a view of that table is served over HTTP.

    python examples/2-clicks/main.py             # then: curl localhost:9095/user-3
    python examples/2-clicks/main.py --brokers localhost:9092 --port 9095
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.clicks")

TOPIC = "user-click"
GROUP = "mini-group"
USERS = 10


class User(msgspec.Struct):
    """What the group table stores per user: ``{"Clicks": n}``, as Go's example."""

    Clicks: int = 0


def process(ctx: goka.Context, msg: str) -> None:
    user: User = ctx.value() or User()
    user.Clicks += 1
    ctx.set_value(user)
    log.info("[proc] key: %s clicks: %d, msg: %s", ctx.key, user.Clicks, msg)


def run_emitter(brokers: object, stop: threading.Event, interval: float, count: int | None) -> None:
    """Emit a click every ``interval`` seconds, for users ``user-0`` .. ``user-9`` in turn."""
    with goka.Emitter(brokers, TOPIC, codec.String()) as emitter:
        i = 0
        while not stop.is_set() and (count is None or i < count):
            emitter.emit_sync(f"user-{i % USERS}", time.strftime("%Y-%m-%d %H:%M:%S"))
            i += 1
            stop.wait(interval)
    log.info("emitter done after %d clicks", i)


def serve_view(view: goka.View, port: int) -> ThreadingHTTPServer:
    """``GET /<key>`` answers the view's value of ``key`` as JSON (``null`` if absent)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            value = view.get(unquote(self.path.lstrip("/")))
            body = msgspec.json.encode(value)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http: " + format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log.info("View opened at http://localhost:%d/", server.server_address[1])
    return server


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--port", type=int, default=9095, help="HTTP port of the view (0: any free port)")
    args = p.parse_args(argv)
    setup(args)
    clicks = 5 * USERS if args.smoke else None  # --smoke: five clicks per user, quickly
    interval = 0.005 if args.smoke else 0.1
    user_codec = codec.Json(type=User)
    group = goka.define_group(GROUP, goka.Input(TOPIC, codec.String(), process), goka.Persist(user_codec))

    with connect(args, streams={TOPIC: 8}, partitions=8) as brokers:
        # The processor creates its table topic "mini-group-table", so it comes before the view.
        processor = goka.Processor(brokers, group, path=local_path(args, "processor"))
        view = goka.View(brokers, goka.group_table(GROUP), user_codec, path=local_path(args, "view"))
        stop = threading.Event()
        emitter = threading.Thread(target=run_emitter, args=(brokers, stop, interval, clicks), name="emitter")
        with processor, view:
            server = serve_view(view, 0 if args.smoke else args.port)
            emitter.start()
            try:
                run_until(args, lambda: all(v.Clicks == 5 for _, v in view.items()) and
                          len(list(view.items())) == USERS, members=[processor, view])
                if args.smoke:  # ask the HTTP endpoint, as a browser would
                    url = f"http://127.0.0.1:{server.server_address[1]}/user-3"
                    with urllib.request.urlopen(url, timeout=5) as resp:
                        log.info("GET /user-3 -> %s", resp.read().decode())
            finally:
                stop.set()
                emitter.join()
                server.shutdown()
                server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
