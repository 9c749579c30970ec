"""Click-count on Bytewax 0.21, run by ``bench_peers.py`` with the throwaway venv's python.

Reads the topic with ``bytewax.connectors.kafka`` (``tail=False``: the flow ends at the
end of every partition), counts messages per key with ``stateful_flat_map`` on one
worker, and prints one ``RESULT {json}`` line (see clock.py).

Recovery is off by default (Bytewax snapshots state to SQLite files, not to a Kafka
changelog); ``--recovery-dir`` turns it on with one partition there, snapshots every
``--snapshot-s`` seconds.
"""
from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Optional

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
from bytewax._bytewax import cli_main
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from clock import FETCH_TUNING, Clock


class _NullPartition(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        pass


class NullSink(DynamicSink[Any]):
    """Discards everything (a flow needs an output; the counter emits nothing anyway)."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _NullPartition:
        return _NullPartition()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--recovery-dir", default=None)
    parser.add_argument("--snapshot-s", type=float, default=10.0)
    parser.add_argument("--consumer-config", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    clock = Clock(args.messages)

    def count(state: Optional[int], value: Optional[bytes]) -> tuple[int, Iterable[Any]]:
        clock.tick()
        return (state or 0) + 1, ()

    config = {**{k: str(v) for k, v in FETCH_TUNING.items()}, **dict(kv.split("=", 1) for kv in args.consumer_config)}
    flow = Dataflow("click_count")
    messages = kop.input("kafka_in", flow, brokers=[args.brokers], topics=[args.topic], tail=False, add_config=config)
    keyed = op.map("key", messages.oks, lambda m: ((m.key or b"").decode(), m.value))
    counted = op.stateful_flat_map("count", keyed, count)
    op.output("out", counted, NullSink())

    recovery = None
    if args.recovery_dir:
        Path(args.recovery_dir).mkdir(parents=True, exist_ok=True)
        # (Bytewax's Rust core ships without type annotations: hence the ignores)
        init_db_dir(Path(args.recovery_dir), 1)  # type: ignore[no-untyped-call]
        recovery = RecoveryConfig(Path(args.recovery_dir))  # type: ignore[no-untyped-call]
    epoch = timedelta(seconds=args.snapshot_s)
    cli_main(flow, workers_per_process=1, epoch_interval=epoch, recovery_config=recovery)  # type: ignore[no-untyped-call]
    clock.print_result(recovery=bool(recovery))


if __name__ == "__main__":
    main()
