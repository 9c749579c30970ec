"""One ``goka run`` worker process: builds the processors and views of ``MODULE:ATTR``,
runs them until told to stop, and reports to the supervisor over a pipe.

``ATTR`` names (dots allowed) a :class:`goka.GroupGraph`, a :class:`goka.Processor` or
:class:`goka.View`, a list of these, or a factory returning any of them. A factory is
called with the keyword arguments it declares among ``brokers`` (the ``--brokers``
string, or a :class:`goka.Kafka` when ``-X``/``--config`` give settings), ``worker`` (this worker's index), ``path`` (this worker's state directory) and
``consumer_config`` (the ``--consumer-config`` pairs). A GroupGraph becomes
``goka.Processor(brokers, graph, path=<path>/<group>, ...)`` with the command's options.

Messages to the supervisor: ``("ready", names)``, ``("error", text)``.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = ["WorkerOptions", "build_components", "describe_error", "load_target", "user_traceback", "worker_main"]

log = logging.getLogger("goka.run")

JOIN_TIMEOUT = 90.0  # a stopping processor may flush for up to 60 s


@dataclass
class WorkerOptions:
    """Everything a worker needs (picklable: sent to a spawned process)."""

    target: str
    #: the bootstrap string, or a goka.Kafka with the -X/--config settings (repr masks secrets)
    brokers: Any
    index: int = 0
    path: str = ""
    cwd: str = field(default_factory=os.getcwd)
    consumer_config: dict[str, str] = field(default_factory=dict)
    producer_config: dict[str, str] = field(default_factory=dict)
    initial_offset: str = "oldest"
    hot_standby: bool = False
    web_port: int | None = None
    web_host: str = "127.0.0.1"
    log_level: str = "INFO"
    progress_tty: bool = False

    @property
    def worker_path(self) -> str:
        return os.path.join(self.path, f"worker-{self.index}")


def describe_error(exc: BaseException) -> str:
    """``Type: message`` plus the cause, on one line."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text.replace("\n", " ")


_GOKA_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def user_traceback(exc: BaseException) -> str | None:
    """The traceback of the user's code behind a processing error: the frames of
    ``exc.__cause__`` (the callback's exception) outside goka itself, or ``None`` when
    there are none (e.g. a codec error raised inside goka)."""
    cause = exc.__cause__
    if cause is None or cause.__traceback__ is None:
        return None
    frames = [f for f in traceback.extract_tb(cause.__traceback__)
              if not os.path.abspath(f.filename).startswith(_GOKA_DIR) and not f.filename.endswith(".pyx")]
    if not frames:
        return None
    lines = ["Traceback of the callback (most recent call last):\n",
             *traceback.format_list(frames), *traceback.format_exception_only(cause)]
    return "".join(lines).rstrip("\n")


def load_target(spec: str, cwd: str | None = None) -> Any:
    """The object ``MODULE:ATTR`` names; ``MODULE`` is a dotted module (importable from
    ``cwd`` too) or a ``.py`` file path."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"target must look like MODULE:ATTR (or path/to/file.py:ATTR), got {spec!r}")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(cwd or os.getcwd(), module_name)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, cwd or os.getcwd())
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def build_components(target: Any, options: WorkerOptions) -> tuple[list[Any], list[Any]]:
    """``(processors, views)`` from a target (see module docstring)."""
    import goka

    processors: list[Any] = []
    views: list[Any] = []

    def add(obj: Any, depth: int) -> None:
        if isinstance(obj, goka.GroupGraph):
            processors.append(goka.Processor(
                options.brokers, obj, path=os.path.join(options.worker_path, obj.group),
                initial_offset=goka.Offset[options.initial_offset.upper()], hot_standby=options.hot_standby,
                consumer_config=options.consumer_config or None, producer_config=options.producer_config or None))
        elif isinstance(obj, goka.Processor):
            processors.append(obj)
        elif isinstance(obj, goka.View):
            views.append(obj)
        elif callable(obj) and depth == 0:
            add(obj(**_factory_kwargs(obj, options)), depth + 1)
        elif isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
            for item in obj:
                add(item, depth)
        else:
            raise TypeError(f"{options.target}: expected a GroupGraph, Processor or View, a list of them, "
                            f"or a factory returning them; got {type(obj).__name__}")

    add(target, 0)
    if not processors and not views:
        raise ValueError(f"{options.target}: no processors or views to run")
    return processors, views


def _factory_kwargs(factory: Any, options: WorkerOptions) -> dict[str, Any]:
    offered = {"brokers": options.brokers, "worker": options.index, "path": options.worker_path,
               "consumer_config": dict(options.consumer_config)}
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return offered
    missing = [n for n, p in params.items() if n not in offered and p.default is inspect.Parameter.empty
               and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if missing:
        raise TypeError(f"{options.target}: factory parameters {missing} are not among {sorted(offered)}")
    return {n: v for n, v in offered.items() if n in params}


class _Runner(threading.Thread):
    """Runs ``component.run()`` and keeps the exception that ended it."""

    def __init__(self, component: Any, name: str) -> None:
        super().__init__(name=f"goka-run-{name}", daemon=True)
        self.component = component
        self.label = name
        self.error: BaseException | None = None
        self.reported = False
        #: set before the worker stops the component: stopped before it ran is no error
        self.stop_requested = False

    def run(self) -> None:
        from goka.errors import ProcessorStoppedError

        try:
            self.component.run()
        except ProcessorStoppedError as exc:
            if not self.stop_requested:  # stop() won the race with run(): nothing ran, as asked
                self.error = exc
        except BaseException as exc:
            self.error = exc


def worker_main(options: WorkerOptions, conn: Connection) -> None:
    """Entry point of a spawned worker process."""
    from goka.cli._common import WORKER_LOG_FORMAT, setup_logging

    if hasattr(os, "setpgid"):
        try:
            os.setpgid(0, 0)  # the supervisor forwards signals; a terminal's Ctrl-C reaches only it
        except OSError:
            pass
    setup_logging(options.log_level, WORKER_LOG_FORMAT)
    code = _Worker(options, conn).run()
    conn.close()
    sys.exit(code)


class _Worker:
    def __init__(self, options: WorkerOptions, conn: Connection) -> None:
        self.options = options
        self.conn = conn
        self.stop = threading.Event()
        self.holdings: Any = None  # goka.cli.holdings.Holdings with --web

    def send(self, *msg: Any) -> None:
        try:
            self.conn.send(msg)
        except OSError:  # supervisor gone
            pass

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self.stop.set())
        try:
            processors, views = build_components(load_target(self.options.target, self.options.cwd), self.options)
        except Exception as exc:  # a setup error: one line, the whole trace at DEBUG
            log.error("cannot build %s: %s", self.options.target, describe_error(exc))
            log.debug("cannot build %s", self.options.target, exc_info=exc)
            self.send("setup-error", describe_error(exc))
            return 1
        try:
            server = self._serve(processors, views)
        except Exception as exc:  # e.g. the port is taken: fail before anything runs
            port = self.options.web_port + self.options.index if self.options.web_port else 0
            text = f"cannot serve the web pages on {self.options.web_host}:{port}: {describe_error(exc)}"
            log.error("%s", text)
            log.debug("web server", exc_info=exc)
            self.send("setup-error", text)
            return 1
        runners = [_Runner(v, f"view {v.table}") for v in views] + \
                  [_Runner(p, f"processor {p.group}") for p in processors]
        self.send("ready", [r.label for r in runners])
        for runner in runners:
            runner.start()
        from goka.runtime.progress import RecoveryProgress

        progress = RecoveryProgress(processors, views, tty=self.options.progress_tty).start()
        try:
            self._watch(processors, runners)
        finally:
            progress.stop()
            if server is not None:
                server.stop()
            if self.holdings is not None:
                self.holdings.remove()
        for runner in runners:  # processors first: they may look tables up in the views
            if runner.error is None:
                runner.stop_requested = True
                try:
                    runner.component.stop()
                except BaseException as exc:
                    runner.error = runner.error or exc
        for runner in runners:
            runner.join(JOIN_TIMEOUT)
            if runner.is_alive() and runner.error is None:
                runner.error = TimeoutError(f"{runner.label} did not stop within {JOIN_TIMEOUT:g} s")
        errors = [f"{r.label}: {describe_error(r.error)}" for r in runners if r.error is not None]
        if errors:
            for runner in runners:
                if runner.error is not None and not runner.reported:
                    _report(runner)
            # a missing topic or a bad group definition fails every worker alike
            setup = all(isinstance(r.error, _SETUP_ERRORS) for r in runners if r.error is not None)
            self.send("setup-error" if setup else "error", "; ".join(errors))
            return 1
        log.info("stopped")
        return 0

    def _serve(self, processors: list[Any], views: list[Any]) -> Any:
        port = self.options.web_port
        if port is None:
            return None
        from goka.web import serve, visitor_actions

        actions = [a for p in processors for a in visitor_actions(p)]
        server = serve(port + self.options.index if port else 0, host=self.options.web_host,
                       processors=processors, views=views, actions=actions)
        log.info("web monitor at %s", server.url)
        self.send("web", server.url)
        from goka.cli.holdings import Holdings

        self.holdings = Holdings(self.options.path, self.options.index, server.url)
        server.locate = self.holdings.locate
        return server

    def _watch(self, processors: list[Any], runners: list[_Runner]) -> None:
        """Until stopped: log changes of held partitions; stop when a component ends."""
        parent = os.getppid()
        held: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {}
        while not self.stop.wait(0.1):
            if os.getppid() != parent:
                log.error("the supervisor (pid %d) is gone; stopping", parent)
                return
            for runner in runners:
                if not runner.is_alive():
                    if runner.error is None:
                        runner.error = RuntimeError(f"{runner.label} stopped by itself")
                    _report(runner)
                    return
            for proc in processors:
                try:
                    stats = proc.stats()
                except Exception:
                    continue
                now = (str(stats.get("state")), tuple(stats.get("active", ())), tuple(stats.get("standby", ())))
                if held.get(proc.group) != now and now[0] in ("running", "stopped", "idle"):
                    held[proc.group] = now
                    standby = f", standby {list(now[2])}" if now[2] else ""
                    log.info("group %s %s: holding partitions %s%s", proc.group, now[0], list(now[1]), standby)
                    if self.holdings is not None:
                        self.holdings.update(proc.group, list(now[1]))


def _setup_errors() -> tuple[type[BaseException], ...]:
    from goka._kafka.admin import TopicError
    from goka.errors import CopartitionError, GroupError

    return (TopicError, CopartitionError, GroupError)


_SETUP_ERRORS = _setup_errors()


def _report(runner: _Runner) -> None:
    """Log why ``runner`` failed, once: one line, then the user's traceback if the error
    came from a callback (the whole trace of goka's side at DEBUG)."""
    assert runner.error is not None
    runner.reported = True
    log.error("%s failed: %s", runner.label, describe_error(runner.error))
    user = user_traceback(runner.error)
    if user is not None:
        log.error("%s", user)
    log.debug("%s failed", runner.label, exc_info=runner.error)
