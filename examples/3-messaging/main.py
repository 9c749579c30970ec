"""3-messaging: a chat built from five processors, an HTTP service and command-line tools.

    python examples/3-messaging/main.py                  # everything in one process
    python examples/3-messaging/main.py processor --collector --filter --blocker
    python examples/3-messaging/main.py service --brokers HOST:PORT [--sent]
    python examples/3-messaging/main.py loadgen [--url http://localhost:8080]
    python examples/3-messaging/main.py block-user --brokers HOST:PORT --user Bob [--unblock]
    python examples/3-messaging/main.py translate-word --brokers HOST:PORT --word lunch --with 1[_]n

Without ``--brokers``, ``all`` and ``processor`` start an embedded cluster and log its
address; pass that address as ``--brokers`` to the other commands.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
import messaging.filter  # noqa: E402
from _support import connect, local_path, options, run_until, setup  # noqa: E402
from messaging import PARTITIONS, Message, blocker, collector, detector, loadgen, translator  # noqa: E402
from messaging.service import Service  # noqa: E402

log = logging.getLogger("example.messaging")

PROCESSORS: dict[str, ModuleType] = {
    "collector": collector, "filter": messaging.filter, "blocker": blocker,
    "detector": detector, "translator": translator,
}


def parse(argv: list[str]) -> argparse.Namespace:
    common = options()
    description, _, rest = __doc__.strip().partition("\n\n")
    p = argparse.ArgumentParser(description=description, epilog=rest or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("all", parents=[common], help="processors, service and loadgen in one process (default)")
    proc = sub.add_parser("processor", parents=[common], help="run processors")
    for name in PROCESSORS:
        proc.add_argument(f"--{name}", action="store_true", help=f"run the {name} processor")
    svc = sub.add_parser("service", parents=[common], help="the HTTP service")
    svc.add_argument("--sent", action="store_true", help="emit to message_sent (for the filter) "
                                                         "instead of message_received")
    for p_ in (sub.choices["all"], svc):
        p_.add_argument("--port", type=int, default=8080, help="HTTP port")
    gen = sub.add_parser("loadgen", parents=[common], help="post random messages to the service")
    gen.add_argument("--url", default="http://localhost:8080", help="the service")
    blk = sub.add_parser("block-user", parents=[common], help="block or unblock a user")
    blk.add_argument("--user", required=True)
    blk.add_argument("--unblock", action="store_true", help="unblock the user instead of blocking")
    tr = sub.add_parser("translate-word", parents=[common], help="add a word translation")
    tr.add_argument("--word", required=True)
    tr.add_argument("--with", dest="translation", required=True, help="the translation")
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["all", *argv]
    return p.parse_args(argv)


def topics(names: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """The streams and tables that the processors ``names`` need (Go's PrepareTopics)."""
    streams = {t: PARTITIONS for n in names for t in PROCESSORS[n].STREAMS}
    tables = {t: PARTITIONS for n in names for t in PROCESSORS[n].TABLES}
    return streams, tables


def start_processors(brokers: Any, args: argparse.Namespace, names: list[str]) -> dict[str, goka.Processor]:
    procs = {}
    for name in names:
        log.info("starting %s", name)
        procs[name] = goka.Processor(brokers, PROCESSORS[name].define(), path=local_path(args, name))
        procs[name].start()
    return procs


def stop_all(procs: dict[str, goka.Processor]) -> None:
    errors = []
    for name, proc in procs.items():
        try:
            proc.stop()
        except Exception as exc:
            log.error("%s failed: %s", name, exc)
            errors.append(exc)
    if errors:
        raise errors[0]


def run_processors(args: argparse.Namespace) -> int:
    names = [n for n in PROCESSORS if getattr(args, n)]
    if not names:
        log.error("no processor selected: use --collector, --filter, --blocker, --detector, --translator")
        return 2
    streams, tables = topics(list(PROCESSORS))  # create all, so that other commands find them
    with connect(args, streams, tables, partitions=PARTITIONS) as brokers:
        procs = start_processors(brokers, args, names)
        try:
            run_until(args, members=procs.values())
        finally:
            stop_all(procs)
    log.info("done")
    return 0


def run_all(args: argparse.Namespace) -> int:
    """Everything at once; with ``--smoke``: run the load until Bob is caught as a spammer,
    blocked, his messages dropped, and a translated message arrived; then print the feeds."""
    streams, tables = topics(list(PROCESSORS))
    with connect(args, streams, tables, partitions=PARTITIONS) as brokers:
        translator.translate_word(brokers, "lunch", "1[_]n<)-(")
        procs = start_processors(brokers, args, list(PROCESSORS))
        blocked = goka.View(brokers, blocker.TABLE, blocker.VALUE_CODEC, path=local_path(args, "blocked-view"))
        stop = threading.Event()
        try:
            with Service(brokers, sent=True, port=0 if args.smoke else args.port,
                         path=local_path(args, "service-view")) as service, blocked:
                url = f"http://127.0.0.1:{service.port}"
                gen = threading.Thread(target=loadgen.run, args=(url, stop, 0.003 if args.smoke else 0.2, 7),
                                       name="loadgen")
                gen.start()

                translated: list[Message] = []

                def done() -> bool:
                    if not translated:
                        feeds = [service.view.get(u) or [] for u in loadgen.USERS]
                        translated.extend(m for feed in feeds for m in feed if "1[_]n<)-(" in m.Content)
                    bob = blocked.get("Bob")
                    return bool(translated) and bob is not None and bob.Blocked and messaging.filter.dropped["Bob"] > 0

                try:
                    run_until(args, done, members=[*procs.values(), blocked])
                finally:
                    stop.set()
                    gen.join()
                if args.smoke:
                    log.info("a translated message: %s", translated[0])
                    log.info("filter dropped %d messages of Bob", messaging.filter.dropped["Bob"])
                    for user in loadgen.USERS:
                        log.info("GET /%s/feed\n%s", user, service.feed(user))
        finally:
            stop_all(procs)
    log.info("done")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    setup(args)
    if args.command == "all":
        return run_all(args)
    if args.command == "processor":
        return run_processors(args)
    if args.command == "loadgen":
        stop = threading.Event()
        gen = threading.Thread(target=loadgen.run, args=(args.url, stop), name="loadgen")
        gen.start()
        try:
            run_until(args)
        finally:
            stop.set()
            gen.join()
        return 0
    if not args.brokers:
        log.error("%s needs --brokers (the address an 'all' or 'processor' command logged)", args.command)
        return 2
    if args.command == "service":
        # the view recovers quickly: keep it in a fresh directory unless --path says otherwise
        with tempfile.TemporaryDirectory(prefix="goka-service-") as tmp, \
                Service(args.brokers, sent=args.sent, port=args.port,
                        path=os.path.join(args.path or tmp, "service-view")):
            run_until(args)
    elif args.command == "block-user":
        blocker.block_user(args.brokers, args.user, args.unblock)
    elif args.command == "translate-word":
        translator.translate_word(args.brokers, args.word, args.translation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
