"""6-reconnecting-view: a view that rides out a broker outage, with a state observer
logging "View is in state: ..." on every change.

    python examples/6-reconnecting-view/main.py --brokers localhost:9092
        # then stop and restart Kafka: the view keeps serving reads and catches up

With the embedded cluster (the default), the example takes its broker down for a few
seconds itself, then brings it back and checks that the view sees what was emitted
after the outage.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.reconnecting-view")

TABLE = "restartable-view-test-table"


def observe_states(view: goka.View, stop: threading.Event, interval: float = 0.02) -> None:
    """Log every change of ``view.state`` (goka has no state-change subscription; poll)."""
    last = None
    while True:
        # ``stop`` is set once the view has stopped: read it before the state, so the turn
        # that sees it set also sees (and logs) the final state
        stopping = stop.is_set()
        state = view.state
        if state != last:
            log.info("View is in state: %s", state)
            last = state
        if state == "stopped" or stopping:
            return
        stop.wait(interval)


def outage(cluster: goka.EmbeddedCluster, view: goka.View, seconds: float) -> None:
    """Take the broker down while the view runs, bring it back, check the view catches up."""
    if not view.wait_recovered(30):
        raise TimeoutError("the view did not recover")
    with goka.Emitter(cluster, TABLE, codec.String()) as emitter:
        emitter.emit_sync("before", "emitted before the outage")
    wait_for(lambda: view.has("before"), "the view to see 'before'")
    cluster.set_broker_down(-1)
    log.info("broker down for %g s", seconds)
    time.sleep(seconds)  # the outage (the view keeps serving reads from local storage meanwhile)
    log.info("during the outage the view still serves: before = %r", view.get("before"))
    cluster.set_broker_up(-1)
    log.info("broker up again")
    with goka.Emitter(cluster, TABLE, codec.String()) as emitter:
        emitter.emit_sync("after", "emitted after the outage")
    wait_for(lambda: view.has("after"), "the view to see 'after'")
    log.info("view reconnected: after = %r", view.get("after"))


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--outage", type=float, default=3.0, help="seconds the embedded broker is down (--smoke)")
    args = p.parse_args(argv)
    setup(args)
    with connect(args, streams={TABLE: 8}, partitions=8) as brokers:
        # The table may be empty; any codec does. auto_reconnect=True is the default
        # (Go: goka.WithViewAutoReconnect()).
        view = goka.View(brokers, TABLE, codec.String(), path=local_path(args, "view"), auto_reconnect=True)
        stop = threading.Event()
        observer = threading.Thread(target=observe_states, args=(view, stop), name="observer")
        observer.start()
        done = threading.Event()
        try:
            with view:
                if args.smoke and isinstance(brokers, goka.EmbeddedCluster):
                    cluster = brokers

                    def scenario() -> None:
                        outage(cluster, view, args.outage)
                        done.set()

                    threading.Thread(target=scenario, name="outage", daemon=True).start()
                run_until(args, done.is_set, members=[view])
        finally:
            stop.set()
            observer.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
