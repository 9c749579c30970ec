"""``goka run MODULE:ATTR --workers N``: run processors and views in N worker processes.

The supervisor spawns the workers (``multiprocessing``, start method ``spawn``); they
join one consumer group, so Kafka spreads the partitions over them. SIGINT/SIGTERM
(SIGHUP as SIGTERM) are forwarded to every worker, which stops cleanly; a second one kills
them. Nothing is restarted: a worker that dies is reported (which one and why) and its
partitions move to the survivors; with ``--fail-fast`` the others are stopped at once.
Exit status: 0 when every worker stopped cleanly after a signal, 1 when any failed, 2
when the target cannot be loaded.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import tempfile
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from goka.cli._common import WORKER_LOG_FORMAT, add_brokers, add_log_level, brokers_from_args, parse_pairs, setup_logging
from goka.cli.worker import WorkerOptions, build_components, describe_error, load_target, worker_main

__all__ = ["add_parser", "run"]

log = logging.getLogger("goka.run")

DESCRIPTION = """\
Run processors and views in N worker processes that join one consumer group, so Kafka
spreads the partitions over them. SIGINT/SIGTERM are forwarded to every worker, which
stops cleanly; a second signal kills them. Nothing is restarted: a worker that dies is
reported (which one and why) and its partitions move to the others; with --fail-fast
the others are stopped too. Exit status: 0 after a clean stop, 1 when a worker failed,
2 when MODULE:ATTR cannot be loaded.
"""

EXAMPLES = """\
MODULE:ATTR names a goka.GroupGraph, a Processor or View, a list of them, or a factory
returning them (called with the arguments it declares among brokers, worker, path,
consumer_config). brokers is the --brokers string, or a goka.Kafka carrying the -X/--config
settings, which every client of every worker uses. Each worker keeps its tables under
PATH/worker-<i>/<group>.

examples:
  goka run myapp.clicks:group --brokers kafka:9092 --workers 4
  goka run app.py:build --workers 2 --web 9095      # monitors on :9095 and :9096
  goka run myapp:group -C session.timeout.ms=6000 --fail-fast
  goka run myapp:group --config client.properties -X client.id=clicks
"""


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run processors/views in worker processes", description=DESCRIPTION,
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="MODULE:ATTR", help="what to run (see below)")
    add_brokers(p)
    p.add_argument("--workers", "-w", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument("--path", default=os.path.join(tempfile.gettempdir(), "goka-run"),
                   help="local state directory (default %(default)s)")
    p.add_argument("--consumer-config", "-C", action="append", metavar="KEY=VALUE",
                   help="librdkafka consumer setting for the processors (repeatable)")
    p.add_argument("--producer-config", "-P", action="append", metavar="KEY=VALUE",
                   help="librdkafka producer setting for the processors (repeatable)")
    p.add_argument("--initial-offset", choices=["oldest", "newest"], default="oldest",
                   help="where a new group starts reading its inputs (default oldest)")
    p.add_argument("--hot-standby", action="store_true", help="keep every table partition up to date locally")
    p.add_argument("--web", type=int, default=None, metavar="PORT",
                   help="serve monitor/query/actions/metrics; worker i on PORT+i (0: any free port)")
    p.add_argument("--web-host", default="127.0.0.1", metavar="HOST",
                   help="address the web pages bind (default %(default)s)")
    p.add_argument("--fail-fast", action="store_true", help="stop every worker as soon as one fails")
    p.add_argument("--stop-timeout", type=float, default=120.0, metavar="S",
                   help="kill workers still running this many seconds after the stop signal (default 120)")
    p.add_argument("--progress", choices=["auto", "bar", "log"], default="auto",
                   help="table recovery progress: a bar (terminal, one worker) or log lines (default auto)")
    add_log_level(p, "INFO")
    p.set_defaults(func=run)


_STOP_SIGNALS = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]


class _Handle:
    def __init__(self, index: int, process: Any, conn: Connection) -> None:
        self.index = index
        self.process = process
        self.conn: Connection | None = conn
        self.error: str | None = None
        self.failure: str | None = None
        self.exited = False
        self.setup_failed = False  # failed before running anything (bad target, busy port, ...)

    @property
    def name(self) -> str:
        return f"worker {self.index} (pid {self.process.pid})"

    def receive(self) -> None:
        """Read every message waiting on the pipe."""
        conn = self.conn
        if conn is None:
            return
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind in ("error", "setup-error"):
                    self.error = str(payload)
                    self.setup_failed = kind == "setup-error"
                elif kind == "ready":
                    log.info("%s runs %s", self.name, ", ".join(payload))
        except (EOFError, OSError):
            conn.close()
            self.conn = None


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Supervisor:
    def __init__(self, args: argparse.Namespace, options: list[WorkerOptions]) -> None:
        self.args = args
        self.options = options
        self.handles: list[_Handle] = []
        self.signals: list[int] = []
        self.stopping = False
        self.stop_deadline = float("inf")

    def run(self) -> int:
        ctx = multiprocessing.get_context("spawn")
        restore = {sig: signal.signal(sig, lambda signum, frame: self.signals.append(signum))
                   for sig in _STOP_SIGNALS}
        try:
            for opts in self.options:
                parent, child = ctx.Pipe(duplex=False)
                process = ctx.Process(target=worker_main, args=(opts, child), name=f"worker-{opts.index}")
                process.start()
                child.close()
                handle = _Handle(opts.index, process, parent)
                self.handles.append(handle)
                log.info("%s started", handle.name)
            self._loop()
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)
        failed = [h for h in self.handles if h.failure]
        if failed:  # one closing line: each failure was logged in full when it happened
            log.error("goka run: %d of %d workers failed: %s", len(failed), len(self.handles),
                      "; ".join(f"{h.name}: {h.failure}" for h in failed))
            return 1
        log.info("goka run: all %d workers stopped", len(self.handles))
        return 0

    def _alive(self) -> list[_Handle]:
        return [h for h in self.handles if not h.exited]

    def _loop(self) -> None:
        while self._alive():
            waitables: list[Any] = [h.conn for h in self.handles if h.conn is not None]
            waitables += [h.process.sentinel for h in self._alive()]
            wait(waitables, timeout=0.2)
            for h in self.handles:
                h.receive()
            for h in self._alive():
                if not h.process.is_alive():
                    self._exited(h)
            while self.signals:
                self._on_signal(self.signals.pop(0))
            if self.stopping and time.monotonic() > self.stop_deadline:
                for h in self._alive():
                    h.failure = f"did not stop within {self.args.stop_timeout:g} s; killed"
                    h.process.kill()
                self.stop_deadline = float("inf")

    def _exited(self, h: _Handle) -> None:
        h.process.join()
        h.receive()
        h.exited = True
        code = h.process.exitcode
        if self.stopping and not h.error and code in (0, -signal.SIGTERM, -signal.SIGINT):
            # stopped as asked (a worker still starting up ends by the signal itself)
            log.info("%s stopped", h.name)
            return
        reason = h.error or ("exited without being asked to stop" if code == 0 else _exit_reason(code))
        if h.error and code not in (0, 1) and not h.setup_failed:
            reason += f" ({_exit_reason(code)})"
        h.failure = h.failure or reason
        alive = self._alive()
        if h.setup_failed:  # the others run the same target: they fail the same way
            log.error("%s failed to start: %s%s", h.name, reason,
                      "; stopping the others" if alive and not self.stopping else "")
            if alive and not self.stopping:
                self._stop(signal.SIGTERM)
        elif self.stopping:
            log.error("%s failed while stopping: %s", h.name, reason)
        elif self.args.fail_fast or not alive:
            log.error("%s failed: %s; not restarted, stopping the others", h.name, reason)
            self._stop(signal.SIGTERM)
        else:
            log.error("%s failed: %s; not restarted: %d of %d workers keep running and take over its partitions",
                      h.name, reason, len(alive), len(self.handles))

    def _on_signal(self, sig: int) -> None:
        if not self.stopping:
            log.info("received %s: stopping %d workers", signal.Signals(sig).name, len(self._alive()))
            self._stop(signal.SIGTERM if sig not in (signal.SIGINT, signal.SIGTERM) else sig)
        else:
            log.warning("received %s again: killing the workers", signal.Signals(sig).name)
            for h in self._alive():
                h.failure = h.failure or "killed by a second stop signal"
                h.process.kill()

    def _stop(self, sig: int) -> None:
        self.stopping = True
        self.stop_deadline = time.monotonic() + self.args.stop_timeout
        for h in self._alive():
            try:
                os.kill(h.process.pid, sig)
            except ProcessLookupError:
                pass


def run(args: argparse.Namespace) -> int:
    multiprocessing.current_process().name = "goka-run"
    setup_logging(args.log_level, WORKER_LOG_FORMAT)
    if args.workers < 1:
        log.error("--workers must be at least 1")
        return 2
    tty = args.progress == "bar" or (args.progress == "auto" and args.workers == 1 and os.isatty(2))
    base = WorkerOptions(
        target=args.target, brokers=brokers_from_args(args), path=os.path.abspath(args.path), cwd=os.getcwd(),
        consumer_config=parse_pairs(args.consumer_config, "--consumer-config"),
        producer_config=parse_pairs(args.producer_config, "--producer-config"),
        initial_offset=args.initial_offset, hot_standby=args.hot_standby, web_port=args.web,
        web_host=args.web_host, log_level=args.log_level, progress_tty=tty)
    try:  # fail early, in one place, when the target cannot even be loaded
        target = load_target(args.target, base.cwd)
        if not callable(target):
            _check_target(target, base)
    except Exception as exc:
        log.error("goka run: cannot load %s: %s", args.target, describe_error(exc))
        return 2
    options = [WorkerOptions(**{**base.__dict__, "index": i}) for i in range(args.workers)]
    log.info("goka run %s: %d workers, brokers %s", args.target, args.workers, base.brokers)
    return _Supervisor(args, options).run()


def _check_target(target: Any, options: WorkerOptions) -> None:
    """Check that ``target`` is something ``goka run`` can run, without building it."""
    import goka

    items = target if isinstance(target, (list, tuple)) else [target]
    for item in items:
        if not isinstance(item, (goka.GroupGraph, goka.Processor, goka.View)):
            build_components(item, options)  # raises the TypeError that explains
