"""The Kafka runtime: the machinery behind goka's public faces.

goka is built in layers; read from the top, each uses the ones below it:

1. **faces** -- ``goka.Processor``, ``goka.View``, ``goka.Emitter``, ``goka.Context``,
   ``goka.EmbeddedCluster``: thin public objects holding the options. Each hands its work
   to a backend: this package on Kafka, or :mod:`goka.tester` in memory.
2. **runtime** (this package) -- what runs on Kafka:

   - :mod:`goka.runtime.processor` -- ``KafkaProcessor``: the consumer-group loop,
     rebalances, recovery hand-off, changelog production, commits (its lookup tables are
     ordinary ``goka.View`` faces);
   - :mod:`goka.runtime.view` -- ``KafkaView``: every partition of a table, followed;
   - :mod:`goka.runtime.emitter` -- ``KafkaEmitter``: produce, delivery reports, futures;
   - :mod:`goka.runtime.table` -- ``PartitionTable`` / ``TableReader``: table partitions
     in local storage, recovered from and kept up to date with their topic;
   - :mod:`goka.runtime.futures` -- ``AckFuture``, the emitter's cheap future;
   - :mod:`goka.runtime.latency` -- the callback latency histogram;
   - :mod:`goka.runtime.progress` -- table recovery progress (CLI bar, web, metrics).

3. **below** -- ``goka._kafka`` (the only code importing confluent_kafka: clients, topic
   manager, the embedded mock cluster), ``goka._core`` (the per-message hot path,
   compiled with a pure-Python twin each: dispatch, partition bookkeeping, hashing,
   produce, messages) and ``goka.storage`` (LMDB and memory stores).
4. **contract** -- ``goka.graph`` (edges, ``define_group``), ``goka.codec``,
   ``goka.hash``, ``goka.errors``, ``goka.options``: what users declare, the wire formats
   and the errors; every layer above uses it.

Operator tools (``goka.cli``, ``goka.web``) and ``goka.tester`` sit on top of the faces.
Nothing in this package is public API; import the faces from ``goka``.
"""
from __future__ import annotations

__all__: list[str] = []
