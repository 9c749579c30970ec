"""Fault injection shared by the tests: damaged store files, broker outages, failed requests.

Tests get this module from the ``faults`` fixture (tests/conftest.py); the tests run with
``--import-mode=importlib`` and ``tests`` is no package, so it is not imported by name.
A subprocess started by a test loads it by path: :func:`load` / ``FAULTS_PATH``.

Damaged LMDB stores (a store is the directory ``<path>/<topic>.<partition>/`` holding
``data.mdb`` and ``lock.mdb``; close the store -- stop the processor or view -- first):

- :func:`truncate` -- cut ``data.mdb`` (to half its size by default): LMDB itself would
  map the missing pages and die with SIGBUS;
- :func:`truncate_below_last_page` -- one page shorter than its meta page's last page;
- :func:`corrupt_meta` -- overwrite meta page 0 and/or 1 (LMDB: ``MDB_INVALID``);
- :func:`fill_garbage` -- overwrite the whole file, or a range, with random bytes;
- :func:`empty` -- a zero-length ``data.mdb``;
- :func:`damage_lock` -- garbage or a truncated ``lock.mdb``.

Broker faults on a :class:`goka.EmbeddedCluster` (librdkafka's mock cluster):

- ``cluster.set_broker_down(-1)`` / ``cluster.set_broker_up(-1)``: every broker (or one
  id, 1..n) drops its connections and refuses new ones until up again; clients see
  ``_TRANSPORT`` / ``_ALL_BROKERS_DOWN`` and retry. :func:`broker_outage` wraps the pair
  in a ``with`` block that always brings the brokers back.
- ``cluster.push_request_errors(api_key, [code, ...])``: the next ``len(codes)`` requests
  of Kafka API ``api_key`` fail with these error codes, in order. :data:`API` names the
  api keys and :data:`ERR` some error codes; retriable codes are retried by librdkafka
  (so push more of them than the client retries to make a request fail for good, or
  configure ``retries``/``message.send.max.retries`` low), non-retriable ones fail the
  request at once -- e.g. ``fail_requests(cluster, "Produce", ERR["INVALID_RECORD"])``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "API", "ERR", "FAULTS_PATH", "broker_outage", "corrupt_meta", "damage_lock", "data_file",
    "empty", "fail_requests", "fill_garbage", "load", "lock_file", "meta_of", "store_dir",
    "truncate", "truncate_below_last_page",
]

FAULTS_PATH = str(Path(__file__).resolve())

#: Kafka api keys (for ``push_request_errors``)
API = {"Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8,
       "OffsetFetch": 9, "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12,
       "SyncGroup": 14, "InitProducerId": 22}
#: some Kafka error codes
ERR = {"UNKNOWN_TOPIC_OR_PART": 3, "LEADER_NOT_AVAILABLE": 5, "NOT_LEADER_FOR_PARTITION": 6,
       "REQUEST_TIMED_OUT": 7, "MSG_SIZE_TOO_LARGE": 10, "NOT_COORDINATOR": 16,
       "NOT_ENOUGH_REPLICAS": 19, "REBALANCE_IN_PROGRESS": 27, "TOPIC_AUTHORIZATION_FAILED": 29,
       "INVALID_RECORD": 87}


def load() -> ModuleType:
    """This module, loaded by path (for subprocesses and tests that need it outside fixtures)."""
    spec = importlib.util.spec_from_file_location("goka_test_faults", FAULTS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- damaged store files -------------------------------------------------------------------

def store_dir(path: str | os.PathLike[str], topic: str, partition: int) -> Path:
    """The LMDB store directory of ``topic``/``partition`` under a processor's or view's
    ``path`` (``goka.storage.lmdb.LMDB`` layout)."""
    return Path(path) / f"{topic}.{partition}"


def data_file(store: str | os.PathLike[str]) -> Path:
    """``data.mdb`` of a store directory (which must exist: the store was opened before)."""
    f = Path(store) / "data.mdb"
    if not f.is_file():
        raise FileNotFoundError(f"no LMDB data file {f}")
    return f


def lock_file(store: str | os.PathLike[str]) -> Path:
    """``lock.mdb`` of a store directory."""
    return Path(store) / "lock.mdb"


def meta_of(store: str | os.PathLike[str]) -> dict[str, int]:
    """Page size, last page and txnid of the newer meta page, read with plain struct
    unpacking (64-bit layout: 16-byte page header, magic, version, address, map size, two
    48-byte tree records, last page, txnid)."""
    raw = data_file(store).read_bytes()

    def meta(offset: int) -> tuple[int, int, int]:
        page_size = struct.unpack_from("<I", raw, offset + 16 + 24)[0]
        last_pg, txnid = struct.unpack_from("<QQ", raw, offset + 16 + 120)
        return page_size, last_pg, txnid

    page_size, last0, txn0 = meta(0)
    _, last1, txn1 = meta(page_size)
    last = last1 if txn1 > txn0 else last0
    return {"page_size": page_size, "last_pg": last, "txnid": max(txn0, txn1),
            "size": len(raw)}


def truncate(store: str | os.PathLike[str], fraction: float = 0.5) -> int:
    """Cut ``data.mdb`` to ``fraction`` of its size (page-aligned down); returns the new size."""
    f = data_file(store)
    size = int(f.stat().st_size * fraction) // 4096 * 4096
    os.truncate(f, size)
    return size


def truncate_below_last_page(store: str | os.PathLike[str]) -> int:
    """Cut ``data.mdb`` to one page less than its meta page's last page needs."""
    m = meta_of(store)
    size = m["last_pg"] * m["page_size"]
    os.truncate(data_file(store), size)
    return size


def corrupt_meta(store: str | os.PathLike[str], pages: tuple[int, ...] = (0, 1),
                 fill: bytes = b"\xff") -> None:
    """Overwrite meta page(s) ``pages`` (0 and/or 1) of ``data.mdb`` with ``fill`` bytes."""
    f = data_file(store)
    page_size = meta_of(store)["page_size"]
    with open(f, "r+b") as fh:
        for page in pages:
            fh.seek(page * page_size)
            fh.write((fill * page_size)[:page_size])


def fill_garbage(store: str | os.PathLike[str], start: int = 0, length: int | None = None,
                 seed: int = 11) -> None:
    """Overwrite ``length`` bytes (default: to the end) of ``data.mdb`` from ``start`` with
    random bytes (deterministic for a ``seed``)."""
    f = data_file(store)
    size = f.stat().st_size
    length = size - start if length is None else length
    with open(f, "r+b") as fh:
        fh.seek(start)
        fh.write(random.Random(seed).randbytes(length))


def empty(store: str | os.PathLike[str]) -> None:
    """Make ``data.mdb`` zero bytes long."""
    os.truncate(data_file(store), 0)


def damage_lock(store: str | os.PathLike[str], how: str = "garbage") -> None:
    """Damage ``lock.mdb``: ``"garbage"`` (random bytes, same size), ``"truncate"``
    (zero bytes) or ``"remove"``."""
    f = lock_file(store)
    if how == "garbage":
        f.write_bytes(random.Random(7).randbytes(max(f.stat().st_size, 8192)))
    elif how == "truncate":
        os.truncate(f, 0)
    elif how == "remove":
        f.unlink()
    else:
        raise ValueError(f"unknown lock damage {how!r}")


# -- broker faults ----------------------------------------------------------------------------

@contextlib.contextmanager
def broker_outage(cluster: Any, broker_id: int = -1) -> Iterator[None]:
    """``with broker_outage(cluster): ...`` -- broker(s) down inside the block, up after it
    (also when the block raises)."""
    cluster.set_broker_down(broker_id)
    try:
        yield
    finally:
        cluster.set_broker_up(broker_id)


def fail_requests(cluster: Any, api: str | int, error: int, times: int = 1) -> None:
    """Fail the next ``times`` requests of ``api`` (a name in :data:`API` or a key) with
    Kafka error code ``error``."""
    key = API[api] if isinstance(api, str) else api
    cluster.push_request_errors(key, [error] * times)
