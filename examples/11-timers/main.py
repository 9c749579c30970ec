"""11-timers: payment reminders with ``goka.Timer``: every order schedules a reminder for
its customer; a payment cancels it; reminders still due are emitted when their time comes,
even though no message arrives for that customer.

    python examples/11-timers/main.py                 # orders and payments for a while, reminders as they fall due
    python examples/11-timers/main.py --delay 5       # remind 5 s after an unpaid order

Pending timers live in local storage and in the compacted topic ``<group>-timers``: stop
the example and start it again with the same ``--path`` and ``--brokers`` and the
reminders still fire.
"""
from __future__ import annotations

import logging
import random
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_support.py

import goka  # noqa: E402
from _support import connect, local_path, parser, run_until, setup  # noqa: E402
from goka import codec  # noqa: E402

log = logging.getLogger("example.timers")

ORDERS = "example-timers-orders"
PAYMENTS = "example-timers-payments"
REMINDERS = "example-timers-reminders"
GROUP = "example-timers-checkout"


def build_group(delay: timedelta) -> goka.GroupGraph:
    def on_order(ctx: goka.Context, order: str) -> None:
        ctx.set_value(f"open {order}")
        ctx.schedule(order, delay=delay)

    def on_payment(ctx: goka.Context, order: str) -> None:
        ctx.set_value(f"paid {order}")
        ctx.cancel_timers()

    def remind(ctx: goka.Context, order: str) -> None:
        ctx.set_value(f"reminded {order}")
        ctx.emit(REMINDERS, ctx.key, f"order {order} is still unpaid")

    return goka.define_group(
        GROUP,
        goka.Input(ORDERS, codec.String(), on_order),
        goka.Input(PAYMENTS, codec.String(), on_payment),
        goka.Persist(codec.String()),
        goka.Output(REMINDERS, codec.String()),
        goka.Timer(codec.String(), remind),
    )


def print_reminders(brokers: Any, stop: threading.Event, seen: list[str]) -> None:
    """Follow the reminders topic through a view and log each new reminder."""
    with goka.View(brokers, REMINDERS, codec.String()) as view:
        while not stop.wait(0.1):
            if not view.recovered():
                continue
            for key, text in view.items():
                if key not in seen:
                    seen.append(key)
                    log.info("reminder for %s: %s", key, text)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--delay", type=float, default=2.0, help="seconds after an unpaid order to remind")
    args = p.parse_args(argv)
    setup(args)
    graph = build_group(timedelta(seconds=args.delay))
    streams = {ORDERS: 4, PAYMENTS: 4, REMINDERS: 4}
    with connect(args, streams=streams) as brokers, \
            goka.Processor(brokers, graph, path=local_path(args, "processor")) as proc:
        proc.wait_recovered(30)
        stop, seen = threading.Event(), []
        follower = threading.Thread(target=print_reminders, args=(brokers, stop, seen), name="reminders")
        follower.start()
        try:
            with goka.Emitter(brokers, ORDERS, codec.String()) as orders, \
                    goka.Emitter(brokers, PAYMENTS, codec.String()) as payments:
                customers = [f"customer-{i}" for i in range(6)]
                for i, customer in enumerate(customers):
                    orders.emit_sync(customer, f"A-{i}")
                if args.smoke:  # orders and payments are different topics: pay after the order is in
                    run_until(args, lambda: all(proc.get(c) == f"open A-{i}" for i, c in enumerate(customers)),
                              members=[proc])
                paid = customers[::2] if args.smoke else random.sample(customers, 3)
                for customer in paid:
                    payments.emit_sync(customer, f"A-{customers.index(customer)}")
                log.info("6 orders, paid: %s", ", ".join(paid))
            unpaid = sorted(set(customers) - set(paid))
            run_until(args, lambda: sorted(seen) == unpaid and all(
                proc.get(c) == f"reminded A-{customers.index(c)}" for c in unpaid), members=[proc])
            if args.smoke:
                log.info("reminded exactly the unpaid customers: %s", ", ".join(sorted(seen)))
                log.info("paid customers: %s", ", ".join(str(proc.get(c)) for c in paid))
        finally:
            stop.set()
            follower.join()
    log.info("done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
