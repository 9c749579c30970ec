"""The Kafka layer: the only package of goka that imports confluent_kafka.

Submodules:

- :mod:`goka._kafka.clients` -- consumers and producers configured as goka uses them;
- :mod:`goka._kafka.admin` -- ``TopicManager`` (partition look-ups, stream/table
  creation, co-partitioning checks) over an AdminClient or an EmbeddedCluster;
- :mod:`goka._kafka.mock` -- ctypes binding to librdkafka's mock cluster, the engine of
  :class:`goka.EmbeddedCluster`.

Importing this package imports no submodule (and not confluent_kafka).
"""
from __future__ import annotations

__all__: list[str] = []
